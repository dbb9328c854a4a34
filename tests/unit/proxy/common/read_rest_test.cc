#define BOOST_TEST_MODULE read_rest
#include <sys/socket.h>
#include <unistd.h>
#include <boost/test/unit_test.hpp>
#include <cerrno>

#include <string>
#include <vector>

#include "proxy/common/handles.h"
#include "proxy/common/read_rest.h"

namespace {

// A socket bufferevent on one end of a socketpair; the test writes to the other end and counts
// what each read callback finds in the input.
struct Pair {
  pforte::EventBasePtr base{event_base_new()};
  int fds[2] = {-1, -1};
  pforte::BuffereventPtr bev;
  pforte::ReadRest rest;
  bool use_rest = true;
  std::vector<size_t> seen;  // input length in each read callback, after take()
  bool eof = false;

  Pair() {
    BOOST_REQUIRE_EQUAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    evutil_make_socket_nonblocking(fds[0]);
    bev.reset(bufferevent_socket_new(base.get(), fds[0], BEV_OPT_CLOSE_ON_FREE));
    pforte::allow_large_io(bev.get());
    rest.watch(bev.get());
    bufferevent_setcb(bev.get(), &Pair::on_read, nullptr, &Pair::on_event, this);
    bufferevent_enable(bev.get(), EV_READ);
  }
  ~Pair() {
    rest.stop();
    bev.reset();
    close(fds[1]);
  }

  static void on_read(bufferevent* b, void* self) {
    auto* p = static_cast<Pair*>(self);
    if (p->use_rest) p->rest.take();
    evbuffer* in = bufferevent_get_input(b);
    p->seen.push_back(evbuffer_get_length(in));
    evbuffer_drain(in, evbuffer_get_length(in));
  }

  static void on_event(bufferevent*, short what, void* self) {
    if (what & BEV_EVENT_EOF) static_cast<Pair*>(self)->eof = true;
  }

  void send(size_t n) {
    std::string data(n, 'x');
    BOOST_REQUIRE_EQUAL(write(fds[1], data.data(), data.size()), static_cast<ssize_t>(n));
  }
  void turn() { event_base_loop(base.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(without_take_libevent_reads_4_kib_per_event) {
  // The premise: what the class works around.
  Pair p;
  p.use_rest = false;
  p.send(10'000);
  p.turn();
  BOOST_REQUIRE_EQUAL(p.seen.size(), 1u);
  BOOST_TEST(p.seen[0] == 4096u);
}

BOOST_AUTO_TEST_CASE(a_capped_read_is_completed_in_the_same_callback) {
  Pair p;
  p.send(10'000);
  p.turn();
  BOOST_REQUIRE_EQUAL(p.seen.size(), 1u);
  BOOST_TEST(p.seen[0] == 10'000u);
  p.turn();  // nothing left for a second callback
  BOOST_TEST(p.seen.size() == 1u);
}

BOOST_AUTO_TEST_CASE(at_most_the_cap_is_taken_and_the_rest_comes_with_the_next_event) {
  Pair p;
  const size_t total = 4096 + pforte::ReadRest::kMaxRead + 1000;
  int sndbuf = 1 << 20;
  setsockopt(p.fds[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  p.send(total);
  size_t got = 0;
  for (int i = 0; i < 10 && got < total; ++i) {
    p.turn();
    got = 0;
    for (size_t n : p.seen) got += n;
  }
  BOOST_TEST(got == total);
  BOOST_TEST(p.seen[0] <= 4096u + pforte::ReadRest::kMaxRead);
  BOOST_TEST(p.seen.size() >= 2u);
}

BOOST_AUTO_TEST_CASE(a_short_read_takes_nothing_more) {
  Pair p;
  p.send(100);
  p.turn();
  BOOST_REQUIRE_EQUAL(p.seen.size(), 1u);
  BOOST_TEST(p.seen[0] == 100u);
}

BOOST_AUTO_TEST_CASE(eof_after_the_data_still_reaches_the_bufferevent) {
  Pair p;
  p.send(6000);
  shutdown(p.fds[1], SHUT_WR);
  for (int i = 0; i < 5 && !p.eof; ++i) p.turn();
  size_t got = 0;
  for (size_t n : p.seen) got += n;
  BOOST_TEST(got == 6000u);
  BOOST_TEST(p.eof);
}

BOOST_AUTO_TEST_CASE(read_socket_chunk_reads_at_most_max_and_reports_eof) {
  // What a cleartext HTTP/1.1 session reads with, in place of the bufferevent's read.
  Pair p;
  bufferevent_disable(p.bev.get(), EV_READ);
  evbuffer* in = bufferevent_get_input(p.bev.get());
  p.send(5000);
  BOOST_TEST(pforte::read_socket_chunk(in, p.fds[0], 4096) == 4096);
  BOOST_TEST(pforte::read_socket_chunk(in, p.fds[0], 4096) == 904);
  BOOST_TEST(evbuffer_get_length(in) == 5000u);
  errno = 0;
  BOOST_TEST(pforte::read_socket_chunk(in, p.fds[0], 4096) == -1);
  BOOST_TEST(errno == EAGAIN);
  shutdown(p.fds[1], SHUT_WR);
  BOOST_TEST(pforte::read_socket_chunk(in, p.fds[0], 4096) == 0);
  BOOST_TEST(evbuffer_get_length(in) == 5000u);
  // The input's end is frozen again afterwards, as bufferevent_socket keeps it.
  BOOST_TEST(evbuffer_add(in, "x", 1) == -1);
}
