// The socket BIO under every client TLS connection. OpenSSL hands a BIO one record at a time and
// bufferevent_openssl calls SSL_write once per chunk of its output, so with the plain socket BIO
// a flush of ten 4 KiB HTTP/2 responses became three 16 KiB write() calls, each pushed through
// TCP (and, on loopback, through the receiver) on its own. This BIO collects the records of one
// loop turn and writes them with one writev at the end of the turn (or at once, when OpenSSL
// flushes a handshake flight). Back-pressure is kept: past kHighWater collected bytes it reports
// "retry" to OpenSSL, so the bufferevent waits for the socket as before and its write timeout
// still catches a client that stops reading.
//
// Records still collected when a session lets its connection go are not lost: release() hands
// them, with the socket, to a lingering writer that finishes them (then closes the socket) or
// gives up after kLingerTimeout without progress. Worker thread only; one TlsOutput per worker,
// outliving its connections.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>

#include "proxy/common/handles.h"

namespace pforte::net {

class TlsOutput {
 public:
  /// Collected bytes above which the BIO asks OpenSSL to retry (the socket is then full).
  static constexpr size_t kHighWater = 64 * 1024;
  static constexpr std::chrono::seconds kLingerTimeout{10};

  /// `on_idle` runs when the last lingering connection is finished or given up.
  TlsOutput(event_base* base, std::function<void()> on_idle);
  ~TlsOutput();
  TlsOutput(const TlsOutput&) = delete;
  TlsOutput& operator=(const TlsOutput&) = delete;

  /// A new BIO reading and writing `fd` (not owned: whoever owns the socket closes it). Give it
  /// to SSL_set_bio(ssl, bio, bio) before bufferevent_openssl_socket_new(base, fd, ssl, ...).
  BIO* new_bio(int fd);

  /// Call before the bufferevent holding `ssl` is freed: what its BIO has not written yet goes
  /// on being written in the background; the socket is then closed by that writer, not by the
  /// bufferevent. No-op for other BIOs.
  void release(SSL* ssl);

  /// Whether the last read of the BIO of `ssl` got less than OpenSSL asked for, i.e. found the
  /// socket empty (true for other BIOs: the caller then reads until OpenSSL wants more).
  static bool drained(SSL* ssl);
  /// Bytes collected but not yet written by the BIO of `ssl` (0 for other BIOs).
  static size_t collected(SSL* ssl);
  /// Connections released with bytes still to write, not yet finished or given up.
  size_t lingering() const { return lingering_.size(); }

 private:
  struct Linger;
  void linger(int fd, EvbufferPtr data);
  static void on_linger(evutil_socket_t fd, short what, void* arg);

  event_base* base_;
  std::function<void()> on_idle_;
  std::list<std::unique_ptr<Linger>> lingering_;
};

/// Encrypts what the TLS bufferevent `bev` has in its output now, in this loop turn.
/// bufferevent_openssl only arms its write event when output arrives and encrypts at the next
/// EPOLLOUT: one more loop turn per response and two epoll_ctl (add EPOLLOUT, remove it). This
/// runs its write callback now instead; the write event it armed is removed again within the same
/// turn (unless the socket is full), which the epoll change list then never sends to the kernel.
void write_tls_now(bufferevent* bev);

/// TlsOutput::release() for the SSL of a TLS bufferevent whose BIO came from new_bio(); a no-op
/// for any other bufferevent. Sessions call it when they let their client connection go.
void release_tls_output(bufferevent* bev);

}  // namespace pforte::net
