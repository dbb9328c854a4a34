#include "bench/origin/connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>

#include "bench/origin/content.h"
#include "bench/origin/worker.h"

namespace pforte::origin {
namespace {

// Output sizes that drive back-pressure.
constexpr size_t kWriteLowWater = 256 * 1024;         // write callback once output drains to this
constexpr size_t kStreamHighWater = 512 * 1024;       // generate body pieces up to this
constexpr size_t kEchoHighWater = 1024 * 1024;        // stop reading an echoed body above this
constexpr size_t kMaxQueuedOutput = 4 * 1024 * 1024;  // stop parsing pipelined requests above
constexpr size_t kReadHighWater = 4 * 1024 * 1024;    // stop reading above this much input
constexpr size_t kMaxSingleRead = 128 * 1024;
constexpr size_t kMaxSingleWrite = 256 * 1024;
constexpr uint64_t kLingerMs = 2000;
// Pieces up to this size are copied; larger ones are referenced from the static pattern.
constexpr size_t kCopyLimit = 16 * 1024;

std::string_view reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

void append_u64(std::string& out, uint64_t value) {
  char buf[20];
  out.append(buf, format_decimal(buf, value));
}

}  // namespace

Connection::Connection(Worker& worker, evutil_socket_t fd)
    : worker_(worker),
      origin_(worker.origin()),
      bev_(bufferevent_socket_new(worker.base(), fd, BEV_OPT_CLOSE_ON_FREE)) {
  worker_.add(this);
  if (!bev_) {
    evutil_closesocket(fd);
    dead_ = true;
    return;
  }
  bufferevent_setcb(bev_.get(), on_read_cb, on_write_cb, on_event_cb, this);
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kWriteLowWater, 0);
  bufferevent_setwatermark(bev_.get(), EV_READ, 0, kReadHighWater);
  bufferevent_set_max_single_read(bev_.get(), kMaxSingleRead);
  bufferevent_set_max_single_write(bev_.get(), kMaxSingleWrite);
  // Writing starts disabled: flush() writes directly and enables EV_WRITE only for leftovers.
  bufferevent_enable(bev_.get(), EV_READ);
  head_.reserve(1024);
  req_.headers.reserve(32);
  out_.reserve(512);
}

Connection::~Connection() {
  if (queued) {
    worker_.unqueue_login(this);
    origin_.login_stats.waiting_delta(-1);
  }
  worker_.remove(this);
  timer_.reset();
  bev_.reset();
  if (holds_login_slot_) {
    holds_login_slot_ = false;
    origin_.login_gate.release();
    worker_.grant_login_slots();
  }
}

evbuffer* Connection::input() {
  return bufferevent_get_input(bev_.get());
}
evbuffer* Connection::output() {
  return bufferevent_get_output(bev_.get());
}

void Connection::on_read_cb(bufferevent*, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  self->process();
  self->settle();
  if (self->dead_) delete self;
}

void Connection::on_write_cb(bufferevent*, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  self->on_write();
  self->settle();
  if (self->dead_) delete self;
}

void Connection::on_event_cb(bufferevent*, short what, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  self->on_event(what);
  self->settle();
  if (self->dead_) delete self;
}

void Connection::on_timer_cb(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  self->on_timer();
  self->settle();
  if (self->dead_) delete self;
}

void Connection::flush() {
  if (dead_) return;
  evbuffer* out = output();
  if (evbuffer_get_length(out) == 0) {
    // Drained by the bufferevent: go back to writing directly.
    if (bufferevent_get_enabled(bev_.get()) & EV_WRITE) bufferevent_disable(bev_.get(), EV_WRITE);
    return;
  }
  if (bufferevent_get_enabled(bev_.get()) & EV_WRITE) return;  // the bufferevent is on it
  // Write what the socket takes now, saving a poll round trip and two epoll_ctl calls per
  // response; the bufferevent keeps its output's front frozen, so thaw it around the write.
  evbuffer_unfreeze(out, 1);
  int written = evbuffer_write(out, bufferevent_getfd(bev_.get()));
  evbuffer_freeze(out, 1);
  if (written < 0 && errno != EAGAIN && errno != EINTR) {
    close_now();
    return;
  }
  if (evbuffer_get_length(out) > 0) {
    bufferevent_enable(bev_.get(), EV_WRITE);
  } else if (state_ == State::kClosing) {
    close_after_flush();
  }
}

void Connection::settle() {
  while (!dead_) {
    flush();
    if (dead_ || (bufferevent_get_enabled(bev_.get()) & EV_WRITE)) return;
    // Everything was written directly, so no write callback will come to continue: continue here.
    if (streaming_) {
      fill_stream();
    } else if (paused_) {
      paused_ = false;
      bufferevent_enable(bev_.get(), EV_READ);
    } else {
      return;
    }
    process();
  }
}

void Connection::process() {
  while (!dead_) {
    switch (state_) {
      case State::kHead:
        // A client that pipelines without reading gets no more answers until it reads.
        if (evbuffer_get_length(output()) > kMaxQueuedOutput) return;
        if (!read_head()) return;
        break;
      case State::kActive:
        if (!body_done_) {
          if (paused_) return;
          auto status = body_.read(input(), [this](size_t n) { return consume_body(n); });
          if (status == BodyReader::Status::kError) {
            close_now();
            return;
          }
          if (status == BodyReader::Status::kNeedMore) {
            if (peer_closed_) close_now();
            return;
          }
          if (status == BodyReader::Status::kPaused) {
            paused_ = true;
            bufferevent_disable(bev_.get(), EV_READ);
            return;
          }
          body_done_ = true;
          on_body_end();
          break;
        }
        if (!response_done_) return;
        finish_request();
        break;
      case State::kHung:
        evbuffer_drain(input(), evbuffer_get_length(input()));
        if (peer_closed_) close_now();
        return;
      case State::kClosing:
      case State::kLinger:
        evbuffer_drain(input(), evbuffer_get_length(input()));
        return;
    }
  }
}

void Connection::begin_request() {
  state_ = State::kActive;
  body_done_ = false;
  response_done_ = false;
  keep_alive_ = true;
  sink_ = Sink::kDiscard;
  body_end_ = BodyEnd::kNothing;
  pending_ = Pending::kNone;
  streaming_ = false;
  body_.start(BodyKind::kNone, 0);
}

void Connection::reject_head(int status) {
  // The head is unusable: answer without reading a body, then close.
  req_.method = {};
  req_.minor_version = 1;
  reply_error(status);
}

bool Connection::read_head() {
  evbuffer* in = input();
  size_t available = evbuffer_get_length(in);
  if (available == 0) {
    if (peer_closed_) close_after_flush();
    return false;
  }
  evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, nullptr);
  if (end.pos < 0) {
    if (available > kMaxHeadSize) {
      begin_request();
      reject_head(431);
      return true;
    }
    if (peer_closed_) close_after_flush();
    return false;
  }
  size_t length = static_cast<size_t>(end.pos) + 4;
  head_.resize(length);
  evbuffer_remove(in, head_.data(), length);
  std::string_view head = head_;
  // RFC 9112 2.2: ignore empty lines before the request line.
  while (head.starts_with("\r\n")) head.remove_prefix(2);
  if (head.empty()) return true;

  worker_.counters().requests.fetch_add(1, std::memory_order_relaxed);
  begin_request();
  if (length > kMaxHeadSize) {
    reject_head(431);
    return true;
  }
  if (auto error = parse_request_head(head, req_)) {
    reject_head(*error == ParseError::kTooManyFields    ? 431
                : *error == ParseError::kNotImplemented ? 501
                                                        : 400);
    return true;
  }
  keep_alive_ = req_.keep_alive;
  body_.start(req_.body_kind, req_.content_length);
  if (req_.expect_continue && req_.body_kind != BodyKind::kNone && req_.minor_version >= 1) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    evbuffer_add(output(), kContinue.data(), kContinue.size());
  }
  dispatch();
  return true;
}

bool Connection::consume_body(size_t n) {
  evbuffer* in = input();
  switch (sink_) {
    case Sink::kDiscard:
      evbuffer_drain(in, n);
      return true;
    case Sink::kHash: {
      body_bytes_ += n;
      while (n > 0) {
        evbuffer_iovec vec[16];
        int count = evbuffer_peek(in, static_cast<ev_ssize_t>(n), nullptr, vec, 16);
        if (count > 16) count = 16;
        size_t taken = 0;
        for (int i = 0; i < count && taken < n; ++i) {
          size_t part = vec[i].iov_len < n - taken ? vec[i].iov_len : n - taken;
          body_hash_ = fnv1a64_bytes(vec[i].iov_base, part, body_hash_);
          taken += part;
        }
        evbuffer_drain(in, taken);
        n -= taken;
      }
      return true;
    }
    case Sink::kEcho: {
      evbuffer* out = output();
      if (echo_framing_ == Framing::kChunked) {
        char line[24];
        size_t k = format_hex(line, n);
        line[k++] = '\r';
        line[k++] = '\n';
        evbuffer_add(out, line, k);
        evbuffer_remove_buffer(in, out, n);
        evbuffer_add(out, "\r\n", 2);
      } else {
        evbuffer_remove_buffer(in, out, n);
      }
      return evbuffer_get_length(out) < kEchoHighWater;
    }
  }
  return true;
}

void Connection::finish_request() {
  if (!keep_alive_) {
    close_after_flush();
    return;
  }
  state_ = State::kHead;
}

void Connection::close_after_flush() {
  if (state_ != State::kClosing && state_ != State::kLinger) state_ = State::kClosing;
  if (state_ == State::kLinger || evbuffer_get_length(output()) > 0) return;
  if (peer_closed_) {
    close_now();
    return;
  }
  // Half-close and wait for the client's FIN, so unread input cannot turn our close into a
  // reset that destroys the response in flight.
  shutdown(bufferevent_getfd(bev_.get()), SHUT_WR);
  state_ = State::kLinger;
  start_timer(kLingerMs, Pending::kLinger);
}

void Connection::start_timer(uint64_t ms, Pending what) {
  if (!timer_) timer_.reset(evtimer_new(worker_.base(), on_timer_cb, this));
  pending_ = what;
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  evtimer_add(timer_.get(), &tv);
}

void Connection::on_write() {
  if (state_ == State::kClosing) {
    if (evbuffer_get_length(output()) == 0) close_after_flush();
    return;
  }
  if (state_ == State::kActive) {
    if (streaming_) fill_stream();
    if (paused_ && evbuffer_get_length(output()) <= kWriteLowWater) {
      paused_ = false;
      bufferevent_enable(bev_.get(), EV_READ);
    }
  }
  process();
}

void Connection::on_event(short what) {
  if (what & BEV_EVENT_ERROR) {
    close_now();
    return;
  }
  if (!(what & BEV_EVENT_EOF)) return;
  peer_closed_ = true;
  switch (state_) {
    case State::kHead:
      process();
      break;
    case State::kActive:
      if (!body_done_ || pending_ != Pending::kNone) {
        // The client is gone before its answer: drop the work.
        close_now();
      } else {
        keep_alive_ = false;
      }
      break;
    case State::kHung:
    case State::kLinger:
      close_now();
      break;
    case State::kClosing:
      break;
  }
}

void Connection::on_timer() {
  Pending what = pending_;
  pending_ = Pending::kNone;
  switch (what) {
    case Pending::kNone:
    case Pending::kLoginQueue:
      return;
    case Pending::kLinger:
      close_now();
      return;
    case Pending::kSlow: {
      scratch_.assign("slow reply\n");
      reply(200, "text/plain", scratch_, "Cache-Control: no-store\r\n");
      break;
    }
    case Pending::kBlog:
      reply_news();
      break;
    case Pending::kCc:
      reply_cc();
      break;
    case Pending::kLoginWork:
      finish_login();
      break;
  }
  process();
}

void Connection::login_slot_granted() {
  origin_.login_stats.waiting_delta(-1);
  holds_login_slot_ = true;
  start_timer(origin_.options.login_service_ms, Pending::kLoginWork);
}

void Connection::write_head(int status, Framing framing, uint64_t length,
                            std::string_view content_type, std::string_view fields) {
  if (framing == Framing::kUntilClose) keep_alive_ = false;
  out_.clear();
  out_.append("HTTP/1.1 ");
  append_u64(out_, static_cast<uint64_t>(status));
  out_.push_back(' ');
  out_.append(reason(status));
  out_.append("\r\nServer: pforte-origin\r\n");
  out_.append(worker_.date_field());
  if (!content_type.empty()) out_.append("Content-Type: ").append(content_type).append("\r\n");
  out_.append(fields);
  switch (framing) {
    case Framing::kLength:
      out_.append("Content-Length: ");
      append_u64(out_, length);
      out_.append("\r\n");
      break;
    case Framing::kChunked:
      out_.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::kNoBody:
    case Framing::kUntilClose:
      break;
  }
  if (!keep_alive_) {
    out_.append("Connection: close\r\n");
  } else if (req_.minor_version == 0) {
    out_.append("Connection: keep-alive\r\n");
  }
  out_.append("\r\n");
  evbuffer_add(output(), out_.data(), out_.size());
}

void Connection::reply(int status, std::string_view content_type, std::string_view body,
                       std::string_view fields) {
  if (status == 204 || status == 304) {
    write_head(status, Framing::kNoBody, 0, {}, fields);
  } else {
    write_head(status, Framing::kLength, body.size(), content_type, fields);
    if (!req_.is_head() && !body.empty()) evbuffer_add(output(), body.data(), body.size());
  }
  response_done_ = true;
}

void Connection::reply_error(int status) {
  keep_alive_ = false;
  scratch_.clear();
  append_u64(scratch_, static_cast<uint64_t>(status));
  scratch_.push_back(' ');
  scratch_.append(reason(status));
  scratch_.push_back('\n');
  reply(status, "text/plain", scratch_);
}

void Connection::start_stream(uint64_t seed, uint64_t length, bool chunked, bool trailer) {
  streaming_ = true;
  stream_seed_ = seed;
  stream_offset_ = 0;
  stream_left_ = length;
  stream_chunked_ = chunked;
  stream_trailer_ = trailer && chunked;
  stream_hash_ = kFnvOffset;
  fill_stream();
}

void Connection::fill_stream() {
  evbuffer* out = output();
  while (stream_left_ > 0 && evbuffer_get_length(out) < kStreamHighWater) {
    size_t n = stream_left_ < kPieceSize ? static_cast<size_t>(stream_left_) : kPieceSize;
    const char* piece = pattern_at(stream_seed_, stream_offset_);
    if (stream_chunked_) {
      char line[24];
      size_t k = format_hex(line, n);
      line[k++] = '\r';
      line[k++] = '\n';
      evbuffer_add(out, line, k);
    }
    if (n <= kCopyLimit) {
      evbuffer_add(out, piece, n);
    } else {
      evbuffer_add_reference(out, piece, n, nullptr, nullptr);
    }
    if (stream_chunked_) evbuffer_add(out, "\r\n", 2);
    if (stream_trailer_) stream_hash_ = fnv1a64_bytes(piece, n, stream_hash_);
    stream_offset_ += n;
    stream_left_ -= n;
  }
  if (stream_left_ > 0) return;
  if (stream_chunked_) {
    if (stream_trailer_) {
      char trailer[64];
      int k = std::snprintf(trailer, sizeof trailer, "0\r\nx-checksum: %016llx\r\n\r\n",
                            static_cast<unsigned long long>(stream_hash_));
      evbuffer_add(out, trailer, static_cast<size_t>(k));
    } else {
      evbuffer_add(out, "0\r\n\r\n", 5);
    }
  }
  streaming_ = false;
  response_done_ = true;
}

}  // namespace pforte::origin
