#define BOOST_TEST_MODULE tls_output
#include "proxy/net/tls_output.h"

#include <event2/bufferevent_ssl.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <csignal>
#include <string>

#include "proxy/common/handles.h"

namespace {

using pforte::net::TlsOutput;

// As in pforte (server.cc): a write to a connection the peer closed is an error, not a signal.
struct IgnoreSigpipe {
  IgnoreSigpipe() { signal(SIGPIPE, SIG_IGN); }
};
BOOST_TEST_GLOBAL_FIXTURE(IgnoreSigpipe);

// A server context with a throw-away self-signed P-256 certificate made in memory.
SSL_CTX* server_context() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate(ctx, cert);
  SSL_CTX_use_PrivateKey(ctx, key);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  X509_free(cert);
  EVP_PKEY_free(key);
  return ctx;
}

bool fd_open(int fd) {
  return fcntl(fd, F_GETFD) != -1;
}

// The server end as the worker builds it (bufferevent_openssl over a TlsOutput BIO) on one end
// of a socketpair; a plain non-blocking OpenSSL client on the other end, driven by the test.
struct Conn {
  pforte::EventBasePtr base{event_base_new()};
  int idle_calls = 0;
  TlsOutput out{base.get(), [this] { ++idle_calls; }};
  SSL_CTX* server_ctx = server_context();
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  int fds[2] = {-1, -1};
  pforte::BuffereventPtr bev;
  SSL* server = nullptr;
  SSL* client = nullptr;
  bool connected = false;
  bool server_error = false;

  Conn() {
    BOOST_REQUIRE_EQUAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    evutil_make_socket_nonblocking(fds[0]);
    evutil_make_socket_nonblocking(fds[1]);
    server = SSL_new(server_ctx);
    BIO* bio = out.new_bio(fds[0]);
    SSL_set_bio(server, bio, bio);
    bev.reset(bufferevent_openssl_socket_new(base.get(), fds[0], server, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE));
    BOOST_REQUIRE(bev);
    bufferevent_setcb(bev.get(), nullptr, nullptr, &Conn::on_event, this);
    bufferevent_enable(bev.get(), EV_READ | EV_WRITE);
    client = SSL_new(client_ctx);
    SSL_set_fd(client, fds[1]);
    SSL_set_connect_state(client);
    for (int i = 0; i < 100 && !(connected && SSL_is_init_finished(client)); ++i) {
      SSL_do_handshake(client);
      turn();
    }
    BOOST_REQUIRE(connected);
    BOOST_REQUIRE(SSL_is_init_finished(client));
  }
  ~Conn() {
    bev.reset();
    SSL_free(client);
    if (fd_open(fds[1])) close(fds[1]);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
  }

  static void on_event(bufferevent*, short what, void* self) {
    auto* c = static_cast<Conn*>(self);
    if (what & BEV_EVENT_CONNECTED) c->connected = true;
    if (what & BEV_EVENT_ERROR) c->server_error = true;
  }

  void turn() { event_base_loop(base.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK); }

  int client_readable() {
    int n = 0;
    ioctl(fds[1], FIONREAD, &n);
    return n;
  }

  /// Reads what the client can without blocking; false once the connection is closed.
  bool client_read(std::string& into) {
    char buf[16384];
    for (;;) {
      int n = SSL_read(client, buf, sizeof buf);
      if (n > 0) {
        into.append(buf, static_cast<size_t>(n));
        continue;
      }
      int err = SSL_get_error(client, n);
      ERR_clear_error();
      return err == SSL_ERROR_WANT_READ;
    }
  }
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(records_of_one_loop_turn_leave_together_at_its_end) {
  Conn c;
  std::string received;
  c.client_read(received);  // the session tickets
  c.turn();
  BOOST_REQUIRE_EQUAL(c.client_readable(), 0);
  const std::string data = pattern(3 * 16384);
  // Three full records, as bufferevent_openssl writes them within one callback.
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE_EQUAL(SSL_write(c.server, data.data() + i * 16384, 16384), 16384);
  }
  BOOST_TEST(TlsOutput::collected(c.server) > data.size());
  BOOST_TEST(c.client_readable() == 0);  // nothing written during the turn
  c.turn();
  BOOST_TEST(TlsOutput::collected(c.server) == 0u);
  BOOST_TEST(static_cast<size_t>(c.client_readable()) > data.size());
  BOOST_REQUIRE(c.client_read(received));
  BOOST_TEST(received == data);
}

BOOST_AUTO_TEST_CASE(a_client_that_does_not_read_holds_output_at_the_high_water_mark) {
  Conn c;
  const std::string data = pattern(2 * 1024 * 1024);
  bufferevent_write(c.bev.get(), data.data(), data.size());
  size_t most_collected = 0;
  for (int i = 0; i < 50; ++i) {
    c.turn();
    most_collected = std::max(most_collected, TlsOutput::collected(c.server));
  }
  // The socket is full: the BIO stopped taking records near its mark, the rest waits in the
  // bufferevent.
  BOOST_TEST(most_collected >= TlsOutput::kHighWater);
  BOOST_TEST(most_collected < TlsOutput::kHighWater + 2 * 16384 + 1024);
  BOOST_TEST(evbuffer_get_length(bufferevent_get_output(c.bev.get())) > 0u);
  // Once the client reads, everything arrives, in order.
  std::string received;
  for (int i = 0; i < 2000 && received.size() < data.size(); ++i) {
    BOOST_REQUIRE(c.client_read(received));
    c.turn();
  }
  BOOST_TEST(received.size() == data.size());
  BOOST_TEST((received == data));
  BOOST_TEST(!c.server_error);
}

BOOST_AUTO_TEST_CASE(output_still_collected_at_release_is_written_before_the_socket_closes) {
  Conn c;
  const std::string data = pattern(1024 * 1024);
  bufferevent_write(c.bev.get(), data.data(), data.size());
  for (int i = 0; i < 50; ++i) c.turn();
  // OpenSSL has encrypted part of the body (SSL_write keeps its progress across retries): some
  // of it is in the socket, the rest collected in the BIO.
  const size_t in_socket = static_cast<size_t>(c.client_readable());
  const size_t collected = TlsOutput::collected(c.server);
  BOOST_REQUIRE(collected > 0u);

  // The session lets go: what OpenSSL encrypted goes on being written; the rest is dropped.
  pforte::quiesce(c.bev.get());
  pforte::net::release_tls_output(c.bev.get());
  c.bev.reset();
  BOOST_TEST(c.out.lingering() == 1u);
  BOOST_TEST(fd_open(c.fds[0]));  // the lingering writer owns it now

  std::string received;
  bool open = true;
  for (int i = 0; i < 2000 && open; ++i) {
    open = c.client_read(received);
    c.turn();
  }
  BOOST_TEST(!open);  // the connection closed after the last byte
  // Every full record that was in the socket or collected arrived (a record carries 16,384
  // bytes in 16,406), in order.
  constexpr size_t kRecord = 16384 + 22;
  BOOST_TEST(received.size() >= (in_socket + collected) / kRecord * 16384 - 16384);
  BOOST_TEST(received.size() > in_socket);
  BOOST_TEST(data.compare(0, received.size(), received) == 0);
  BOOST_TEST(c.out.lingering() == 0u);
  BOOST_TEST(c.idle_calls == 1);
  BOOST_TEST(!fd_open(c.fds[0]));
}

BOOST_AUTO_TEST_CASE(release_with_nothing_collected_leaves_closing_to_the_bufferevent) {
  Conn c;
  std::string received;
  c.client_read(received);
  c.turn();
  pforte::quiesce(c.bev.get());
  pforte::net::release_tls_output(c.bev.get());
  BOOST_TEST(c.out.lingering() == 0u);
  BOOST_TEST(fd_open(c.fds[0]));
  c.bev.reset();
  c.turn();  // libevent finalizes a freed bufferevent in the loop
  BOOST_TEST(!fd_open(c.fds[0]));
  BOOST_TEST(!c.client_read(received));  // end of stream
  BOOST_TEST(c.idle_calls == 0);
}

BOOST_AUTO_TEST_CASE(other_bufferevents_are_left_alone) {
  pforte::EventBasePtr base{event_base_new()};
  int fds[2];
  BOOST_REQUIRE_EQUAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  pforte::BuffereventPtr plain(bufferevent_socket_new(base.get(), fds[0], BEV_OPT_CLOSE_ON_FREE));
  pforte::net::release_tls_output(plain.get());  // not TLS: nothing happens
  BOOST_TEST(fd_open(fds[0]));
  plain.reset();
  event_base_loop(base.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
  BOOST_TEST(!fd_open(fds[0]));
  close(fds[1]);
}
