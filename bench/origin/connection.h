// One client connection of pforte-origin: reads requests in order (pipelining, keep-alive,
// Content-Length and chunked bodies) and answers each before starting the next.
//
// Worker thread only. A connection deletes itself when it closes; only the static libevent
// callbacks (and Worker shutdown) delete it, so member functions may mark it dead but never
// free `this` underneath their callers.
#pragma once

#include <event2/util.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "bench/origin/body_reader.h"
#include "bench/origin/handles.h"
#include "bench/origin/request.h"
#include "bench/origin/state.h"

struct bufferevent;
struct evbuffer;

namespace pforte::origin {

class Worker;

class Connection {
 public:
  Connection(Worker& worker, evutil_socket_t fd);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Construction failed (out of memory); the caller deletes the connection.
  bool closed() const { return dead_; }

  // The worker took a login slot for this queued request; start the simulated work.
  void login_slot_granted();

  // Links owned by Worker: all connections of the worker, and its login queue.
  Connection* prev = nullptr;
  Connection* next = nullptr;
  Connection* wait_prev = nullptr;
  Connection* wait_next = nullptr;
  bool queued = false;  // in the worker's login queue

 private:
  enum class State {
    kHead,     // waiting for the next request head
    kActive,   // a request is being read and/or answered
    kHung,     // never answer; discard input until the client closes
    kClosing,  // last response queued; close once it is written
    kLinger,   // our side shut down; wait briefly for the client's close
  };
  // Where request body bytes go.
  enum class Sink { kDiscard, kEcho, kHash };
  // What happens once the body has been read.
  enum class BodyEnd { kNothing, kEcho, kUpload, kLogin };
  // What the timer is for.
  enum class Pending { kNone, kSlow, kBlog, kCc, kLoginWork, kLoginQueue, kLinger };
  // How a response body is delimited.
  enum class Framing { kLength, kChunked, kNoBody, kUntilClose };

  static void on_read_cb(bufferevent* bev, void* arg);
  static void on_write_cb(bufferevent* bev, void* arg);
  static void on_event_cb(bufferevent* bev, short what, void* arg);
  static void on_timer_cb(evutil_socket_t fd, short what, void* arg);

  void on_write();
  void on_event(short what);
  void on_timer();

  // Writes queued output; at the end of every libevent callback.
  void flush();
  // flush(), and keep generating or echoing while the socket takes everything directly.
  void settle();
  // Advances as far as buffered input and pending work allow.
  void process();
  // Parses and dispatches the next head; false when there is none yet.
  bool read_head();
  // Resets the per-request state for a new head.
  void begin_request();
  // Answers an unusable head with `status` and closes.
  void reject_head(int status);
  bool consume_body(size_t n);
  void finish_request();
  void close_after_flush();
  void close_now() { dead_ = true; }
  void start_timer(uint64_t ms, Pending what);
  evbuffer* input();
  evbuffer* output();

  // Response writing. `fields` is preformatted "Name: value\r\n" lines.
  void write_head(int status, Framing framing, uint64_t length, std::string_view content_type = {},
                  std::string_view fields = {});
  void reply(int status, std::string_view content_type, std::string_view body,
             std::string_view fields = {});
  void reply_error(int status);
  // Streams `length` pattern bytes seeded by `seed` after a head written by the caller.
  void start_stream(uint64_t seed, uint64_t length, bool chunked, bool trailer);
  void fill_stream();

  // Endpoints (routes.cc).
  void dispatch();
  void on_body_end();
  bool get_or_head();
  void route_static(std::string_view name);
  void route_bytes(std::string_view count);
  void route_home(bool ssi);  // ssi: GET /ssi, the page with an SSI include
  void route_news();
  void reply_news();
  void route_news_fallback();
  void route_login();
  void begin_login();
  void finish_login();
  void route_echo();
  void route_upload();
  void route_headers();
  void route_status(std::string_view code);
  void route_slow();
  void route_cc();
  void reply_cc();
  void route_fail();
  void route_stats();
  void route_reset();
  void route_blog();
  void route_health_switch();

  Worker& worker_;
  Origin& origin_;
  BuffereventPtr bev_;  // the socket
  EventPtr timer_;      // created on first use
  State state_ = State::kHead;
  bool dead_ = false;         // close at the end of the current callback
  bool peer_closed_ = false;  // the client sent FIN
  bool paused_ = false;       // reading stopped until the output drains (echo)

  // The current request.
  std::string head_;  // copy of the head; req_ points into it
  Request req_;       // parsed head
  BodyReader body_;   // body framing state
  Sink sink_ = Sink::kDiscard;
  BodyEnd body_end_ = BodyEnd::kNothing;
  bool body_done_ = false;      // the body has been consumed
  bool response_done_ = false;  // the whole response has been queued
  bool keep_alive_ = true;      // read another request after this one
  Framing echo_framing_ = Framing::kLength;
  uint64_t body_hash_ = 0;   // FNV-1a over the body (Sink::kHash)
  uint64_t body_bytes_ = 0;  // body length so far (Sink::kHash)
  Pending pending_ = Pending::kNone;
  bool holds_login_slot_ = false;

  // The body being generated.
  bool streaming_ = false;
  bool stream_chunked_ = false;
  bool stream_trailer_ = false;
  uint64_t stream_seed_ = 0;
  uint64_t stream_offset_ = 0;
  uint64_t stream_left_ = 0;
  uint64_t stream_hash_ = 0;

  std::string out_;      // scratch for heads; capacity reused
  std::string scratch_;  // scratch for bodies and fields; capacity reused
};

}  // namespace pforte::origin
