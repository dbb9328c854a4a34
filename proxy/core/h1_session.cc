#include "proxy/core/h1_session.h"

#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <utility>

#include "proxy/common/evbuffer_util.h"
#include "proxy/common/http_date.h"
#include "proxy/common/log.h"
#include "proxy/common/timeouts.h"
#include "proxy/core/status_text.h"
#include "proxy/http/head_buffer.h"
#include "proxy/net/tls_output.h"

namespace pforte::core {

namespace {

constexpr size_t kWriteLowWatermark = 64 * 1024;
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr int kLingerSeconds = 5;
constexpr size_t kTunnelHigh = 1024 * 1024;
constexpr size_t kTunnelLow = 256 * 1024;
/// TLS: pieces up to this size are copied into the output's tail so a response becomes one record.
constexpr size_t kCoalesceLimit = 16 * 1024;

bool status_has_no_body(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace

H1Session::H1Session(WorkerContext& worker, BuffereventPtr bev, PeerInfo peer)
    : worker_(worker),
      bev_(std::move(bev)),
      peer_(std::move(peer)),
      timer_(evtimer_new(worker.base(), &H1Session::on_timer, this)),
      scratch_(make_evbuffer()) {
  if (!peer_.tls) {
    read_event_.reset(event_new(worker.base(), bufferevent_getfd(bev_.get()), EV_READ | EV_PERSIST,
                                &H1Session::on_socket_readable, this));
    flush_.reset(event_new(worker.base(), -1, 0, &H1Session::on_flush, this));
  }
}

H1Session::~H1Session() {
  if (exchange_) exchange_->on_downstream_closed();
  if (bev_) bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
}

void H1Session::start() {
  bufferevent_setcb(bev_.get(), &on_read, &on_write, &on_event, this);
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kWriteLowWatermark, 0);
  bufferevent_set_timeouts(bev_.get(), nullptr,
                           worker_.timeouts().get(worker_.config().limits.idle_timeout));
  // Responses are written through the write event (write_now) or at their end (write_end).
  if (peer_.tls) bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  set_reading(true);
  arm_timer();
  if (evbuffer_get_length(bufferevent_get_input(bev_.get()))) process_input();
}

void H1Session::begin_drain() {
  draining_ = true;
  keep_alive_ = false;
  // A connection that has not sent its first request yet (just accepted, or its head is on the
  // way) gets that one request answered with "Connection: close": closing it now would reset a
  // client that cannot know it should retry. The header timeout and drain_timeout bound the wait.
  // An idle keep-alive connection is closed: clients retry requests on reused connections.
  if (!exchange_ && !closing_ &&
      (requests_ == 0 || evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0)) {
    return;
  }
  if (!exchange_ && !closing_) {
    closing_ = true;
    if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) close();
  }
}

void H1Session::close_now() {
  close();
}

void H1Session::arm_timer() {
  if (closed_) return;
  const config::LimitsConfig& limits = worker_.config().limits;
  if (lingering_) {
    timeval tv{kLingerSeconds, 0};
    evtimer_add(timer_.get(), &tv);
    return;
  }
  if (exchange_ || tunnel_) {
    // Request body in progress: the client must keep sending; otherwise upstream timeouts rule.
    if (!request_done_ && !body_paused_) {
      evtimer_add(timer_.get(), worker_.timeouts().get(limits.idle_timeout));
    } else {
      evtimer_del(timer_.get());
    }
    return;
  }
  bool partial = evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0;
  evtimer_add(timer_.get(),
              worker_.timeouts().get(partial || requests_ == 0 ? limits.header_timeout
                                                               : limits.idle_timeout));
}

void H1Session::on_timer(evutil_socket_t, short, void* self) {
  auto* s = static_cast<H1Session*>(self);
  if (s->lingering_ || s->closing_) {
    s->close();
    return;
  }
  if (!s->exchange_ && evbuffer_get_length(bufferevent_get_input(s->bev_.get())) > 0) {
    s->reject(408, "request head not complete within header_timeout");
    return;
  }
  if (s->exchange_ && !s->request_done_) {
    PF_INFO("client %s: request body stalled", s->peer_.address.c_str());
    s->exchange_->fail_request(408, "request body timeout");
    return;
  }
  s->close();
}

void H1Session::on_read(bufferevent*, void* self) {
  static_cast<H1Session*>(self)->process_input();
}

void H1Session::on_socket_readable(evutil_socket_t fd, short, void* self) {
  // A cleartext client is read here rather than by the bufferevent: libevent's read asks the
  // kernel how much is readable (ioctl FIONREAD) before every read and then takes at most 4 KiB.
  // Here: 4 KiB, and when that fills, what else is there (up to ReadRest::kMaxRead) at once.
  auto* s = static_cast<H1Session*>(self);
  evbuffer* in = bufferevent_get_input(s->bev_.get());
  ssize_t got = read_socket_chunk(in, fd, ReadRest::kLibeventMaxRead);
  if (got == static_cast<ssize_t>(ReadRest::kLibeventMaxRead)) {
    read_socket_chunk(in, fd, ReadRest::kMaxRead);  // an EOF or error here shows next time
  }
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
    on_event(s->bev_.get(),
             static_cast<short>(BEV_EVENT_READING | (got == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR)),
             s);
    return;
  }
  if (got > 0) s->process_input();
}

void H1Session::set_reading(bool on) {
  if (closed_ || !bev_) return;
  if (!read_event_) {
    if (on) {
      ensure_enabled(bev_.get(), EV_READ);
    } else {
      bufferevent_disable(bev_.get(), EV_READ);
    }
    return;
  }
  if (on == reading_) return;
  reading_ = on;
  if (on) {
    event_add(read_event_.get(), nullptr);
  } else {
    event_del(read_event_.get());
  }
}

void H1Session::stop_own_reading() {
  if (!read_event_) return;
  event_del(read_event_.get());
  read_event_.reset();
  reading_ = false;
}

void H1Session::write_now() {
  if (closed_ || !bev_) return;
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) return;
  // Pieces go out at the end of the loop turn, so that everything queued in one turn leaves in
  // one writev. (Writing every piece straight to the socket made proxied responses slower in a
  // hand-run A/B: bench/RESULTS.md, cache Invocation E.)
  if (!flush_ || tunnel_ || (bufferevent_get_enabled(bev_.get()) & EV_WRITE)) {
    ensure_enabled(bev_.get(), EV_WRITE);
    return;
  }
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    event_active(flush_.get(), EV_WRITE, 0);
  }
}

void H1Session::on_flush(evutil_socket_t, short, void* self) {
  auto* s = static_cast<H1Session*>(self);
  s->flush_scheduled_ = false;
  if (s->closed_ || !s->bev_ || s->tunnel_) return;  // a tunnel writes through the write event
  evbuffer* out = bufferevent_get_output(s->bev_.get());
  if (evbuffer_get_length(out) == 0) return;
  flush_socket_output(s->bev_.get());  // enables the write event for what the socket left
  // What the write event's callback would have done once the output drained: an exchange held
  // back for a full buffer may read on.
  if (evbuffer_get_length(out) <= kWriteLowWatermark && s->exchange_) {
    s->exchange_->on_downstream_writable();
  }
}

void H1Session::write_end() {
  if (peer_.tls || tunnel_) {
    write_now();
    if (peer_.tls && !closed_ && bev_) net::write_tls_now(bev_.get());
    return;
  }
  if (closed_ || !bev_ || evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) return;
  // The response is complete. It goes straight to the socket from exchange_finished(), which the
  // exchange calls next, after appending its access-log line: a client that sends its next
  // request once it has this answer then never finds that request logged before this one (the
  // other may reach another worker). The end-of-turn flush covers an exchange that does not finish
  // now.
  write_now();
  direct_end_pending_ = true;
}

void H1Session::flush_end() {
  if (!std::exchange(direct_end_pending_, false) || closed_ || !bev_) return;
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) return;
  // What write_end() scheduled goes now; the write event is enabled only if the socket leaves
  // some of it.
  if (flush_scheduled_) {
    event_del(flush_.get());
    flush_scheduled_ = false;
  }
  flush_socket_output(bev_.get());
}

void H1Session::on_write(bufferevent* bev, void* self) {
  auto* s = static_cast<H1Session*>(self);
  if (!s->peer_.tls && !s->tunnel_ && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
    bufferevent_disable(bev, EV_WRITE);  // drained: back to direct writes
  }
  if (s->exchange_) s->exchange_->on_downstream_writable();
  if (s->closed_) return;
  if (s->closing_ && evbuffer_get_length(bufferevent_get_output(s->bev_.get())) == 0) {
    if (s->lingering_) return;
    if (evbuffer_get_length(bufferevent_get_input(s->bev_.get())) > 0 || !s->request_done_) {
      s->linger();
    } else {
      s->close();
    }
  }
}

void H1Session::on_event(bufferevent*, short what, void* self) {
  auto* s = static_cast<H1Session*>(self);
  // EOF from the client ends the connection, like nginx without proxy_ignore_client_abort: the
  // upstream request in flight is abandoned.
  if (what & BEV_EVENT_TIMEOUT) {
    PF_DEBUG("client %s: write timeout", s->peer_.address.c_str());
  }
  s->close();
}

void H1Session::process_input() {
  if (closed_ || in_process_) return;
  in_process_ = true;
  evbuffer* in = bufferevent_get_input(bev_.get());
  while (!closed_) {
    if (lingering_) {
      evbuffer_drain(in, evbuffer_get_length(in));
      break;
    }
    if (tunnel_) break;
    if (!exchange_) {
      if (closing_) {
        evbuffer_drain(in, evbuffer_get_length(in));
        break;
      }
      if (!read_head(in)) break;
      continue;
    }
    if (!request_done_) {
      size_t before = evbuffer_get_length(in);
      if (body_paused_ || before == 0) break;
      feed_body(in);
      if (!closed_ && !request_done_ && evbuffer_get_length(in) == before) break;  // needs more
      continue;
    }
    // Waiting for the response; keep a bounded amount of pipelined input.
    if (evbuffer_get_length(in) > worker_.config().limits.max_header_bytes) {
      set_reading(false);
    }
    break;
  }
  in_process_ = false;
  if (!closed_) arm_timer();
}

bool H1Session::read_head(evbuffer* in) {
  size_t avail = evbuffer_get_length(in);
  if (avail == 0) return false;
  if (requests_ == 0 && !peer_.tls) {
    size_t n = std::min(avail, kH2Preface.size());
    unsigned char* p = evbuffer_pullup(in, static_cast<ssize_t>(n));
    if (std::memcmp(p, kH2Preface.data(), n) == 0) {
      if (n < kH2Preface.size()) return false;
      // h2c with prior knowledge: hand the connection to an HTTP/2 session.
      evtimer_del(timer_.get());
      bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
      closed_ = true;
      stop_own_reading();
      worker_.start_h2(this, std::move(bev_), peer_);
      return false;
    }
  }
  const config::LimitsConfig& limits = worker_.config().limits;
  http::HeadPeek peek = http::peek_head(in, limits.max_header_bytes);
  if (!peek.found) {
    if (peek.too_large) {
      reject(431, "request head too large");
      return false;
    }
    return false;
  }
  http::RequestHead1 head;
  http::ParseStatus st = http::parse_request_head(peek.bytes, limits.max_header_bytes, head);
  if (st == http::ParseStatus::kIncomplete) return false;
  if (st == http::ParseStatus::kError) {
    reject(head.error_status ? head.error_status : 400, head.error_reason);
    return false;
  }

  RequestInfo info;
  module::Request& req = info.request;
  req.method.assign(head.method);
  req.scheme = peer_.tls ? "https" : "http";
  req.version = head.version_minor == 0 ? 10 : 11;
  std::string_view target = head.target;
  if (target.starts_with("http://") || target.starts_with("https://")) {
    // absolute-form: the authority in the target wins over Host (RFC 9112 §3.2.2).
    size_t scheme_end = target.find("://") + 3;
    size_t path_start = target.find('/', scheme_end);
    req.authority.assign(target.substr(scheme_end, path_start - scheme_end));
    req.path.assign(path_start == std::string_view::npos ? "/" : target.substr(path_start));
  } else if (target.front() == '/' || target == "*") {
    req.authority.assign(head.host);
    req.path.assign(target);
  } else {
    reject(400, "unsupported request-target form");
    return false;
  }
  req.headers.reserve(head.fields.size() + 1);  // + the request id, if it comes
  for (const auto& [name, value] : head.fields) req.headers.add(name, value);
  info.client_address = peer_.address;
  info.tls = peer_.tls;
  info.admin = peer_.admin;
  info.expect_continue = head.expect_continue;
  info.upgrade = head.upgrade;
  client_minor_ = head.version_minor;
  head_request_ = head.method == "HEAD";
  keep_alive_ = head.keep_alive && !draining_ && !worker_.draining();
  body_received_ = 0;
  chunked_ = http::ChunkedDecoder();
  switch (head.framing) {
    case http::BodyFraming::kContentLength:
      body_ = head.content_length > 0 ? Body::kLength : Body::kNone;
      body_remaining_ = head.content_length;
      info.has_body = head.content_length > 0;
      info.content_length = head.content_length;
      break;
    case http::BodyFraming::kChunked:
      body_ = Body::kChunked;
      info.has_body = true;
      break;
    default:
      body_ = Body::kNone;
      break;
  }
  request_done_ = body_ == Body::kNone;
  body_paused_ = false;
  evbuffer_drain(in, head.head_length);
  ++requests_;
  bool too_large = head.framing == http::BodyFraming::kContentLength &&
                   head.content_length > limits.max_body_bytes;
  exchange_ = std::make_shared<Exchange>(worker_, worker_.generation(), *this, std::move(info));
  std::shared_ptr<Exchange> keep = exchange_;
  if (too_large) {
    PF_INFO("client %s: request body of %llu bytes over max_body_bytes", peer_.address.c_str(),
            static_cast<unsigned long long>(head.content_length));
    keep_alive_ = false;
    exchange_->fail_request(413, "request body too large");
    return !closed_;
  }
  if (request_done_) exchange_->on_request_end(nullptr);  // no body: complete already
  exchange_->start();
  return !closed_;
}

void H1Session::feed_body(evbuffer* in) {
  std::shared_ptr<Exchange> ex = exchange_;
  const uint64_t max_body = worker_.config().limits.max_body_bytes;
  if (body_ == Body::kLength) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(evbuffer_get_length(in), body_remaining_));
    evbuffer_remove_buffer(in, scratch_.get(), n);
    body_remaining_ -= n;
    body_received_ += n;
    if (body_remaining_ == 0) request_done_ = true;
    ex->on_request_body(scratch_.get());
    if (request_done_) ex->on_request_end(nullptr);
    return;
  }
  http::ChunkedDecoder::Status st = chunked_.decode(in, scratch_.get());
  body_received_ += evbuffer_get_length(scratch_.get());
  if (st == http::ChunkedDecoder::Status::kError) {
    PF_INFO("client %s: invalid chunked body: %.*s", peer_.address.c_str(),
            static_cast<int>(chunked_.error_reason().size()), chunked_.error_reason().data());
    request_done_ = true;
    keep_alive_ = false;
    evbuffer_drain(scratch_.get(), evbuffer_get_length(scratch_.get()));
    ex->fail_request(400, "invalid chunked body");
    return;
  }
  if (body_received_ > max_body) {
    PF_INFO("client %s: chunked request body over max_body_bytes", peer_.address.c_str());
    request_done_ = true;
    keep_alive_ = false;
    evbuffer_drain(scratch_.get(), evbuffer_get_length(scratch_.get()));
    ex->fail_request(413, "request body too large");
    return;
  }
  if (evbuffer_get_length(scratch_.get())) ex->on_request_body(scratch_.get());
  if (st == http::ChunkedDecoder::Status::kDone) {
    request_done_ = true;
    ex->on_request_end(chunked_.trailers().empty() ? nullptr : &chunked_.trailers());
  }
}

void H1Session::reject(int status, std::string_view reason) {
  PF_INFO("client %s: %d %.*s", peer_.address.c_str(), status, static_cast<int>(reason.size()),
          reason.data());
  keep_alive_ = false;
  request_done_ = true;
  RequestInfo info;
  info.request.method = "-";
  info.request.scheme = peer_.tls ? "https" : "http";
  info.request.version = 11;
  info.client_address = peer_.address;
  info.tls = peer_.tls;
  info.admin = peer_.admin;
  evbuffer_drain(bufferevent_get_input(bev_.get()),
                 evbuffer_get_length(bufferevent_get_input(bev_.get())));
  exchange_ = std::make_shared<Exchange>(worker_, worker_.generation(), *this, std::move(info));
  std::shared_ptr<Exchange> keep = exchange_;
  exchange_->fail_request(status, reason);
}

void H1Session::send_continue() {
  if (client_minor_ >= 1 && !closed_) {
    evbuffer_add(bufferevent_get_output(bev_.get()), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    write_now();
  }
}

namespace {

/// Writes a response head into space reserved in an evbuffer, with no string in between.
class HeadWriter {
 public:
  explicit HeadWriter(char* at) : start_(at), at_(at) {}
  HeadWriter& put(std::string_view s) {
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
    return *this;
  }
  HeadWriter& put(uint64_t n) {
    at_ = std::to_chars(at_, at_ + 20, n).ptr;
    return *this;
  }
  size_t size() const { return static_cast<size_t>(at_ - start_); }

 private:
  char* start_;
  char* at_;
};

/// The most the parts of a head after its fields can take: a date field, a content-length or
/// transfer-encoding field, a connection field and the empty line.
constexpr size_t kHeadTailMax = 160;

}  // namespace

void H1Session::send_head(module::Response&& head, const BodyInfo& body) {
  if (closed_) return;
  evbuffer* out = bufferevent_get_output(bev_.get());
  std::string_view text = core::status_text(head.status);
  size_t need = 9 + 20 + 1 + text.size() + 2 + kHeadTailMax;
  for (const http::Field& f : head.headers) need += f.name.size() + f.value.size() + 4;
  evbuffer_iovec vec;
  if (evbuffer_reserve_space(out, static_cast<ev_ssize_t>(need), &vec, 1) != 1) {
    close();
    return;
  }
  HeadWriter w(static_cast<char*>(vec.iov_base));
  w.put("HTTP/1.1 ").put(static_cast<uint64_t>(head.status)).put(" ").put(text).put("\r\n");
  bool has_date = false;
  for (const http::Field& f : head.headers) {
    if (f.name == "date") has_date = true;
    w.put(f.name).put(": ").put(f.value).put("\r\n");
  }
  if (!has_date) w.put("date: ").put(http_date_now()).put("\r\n");
  response_chunked_ = false;
  response_head_only_ = head_request_ || status_has_no_body(head.status) || !body.has_body;
  auto commit = [&] {
    vec.iov_len = w.size();
    evbuffer_commit_space(out, &vec, 1);
  };
  if (head.status == 101) {
    w.put("connection: upgrade\r\n\r\n");
    commit();
    return;
  }
  if (!status_has_no_body(head.status)) {
    if (head_request_) {
      if (body.content_length) w.put("content-length: ").put(*body.content_length).put("\r\n");
    } else if (!body.has_body) {
      w.put("content-length: 0\r\n");
    } else if (body.content_length) {
      w.put("content-length: ").put(*body.content_length).put("\r\n");
    } else if (client_minor_ >= 1) {
      w.put("transfer-encoding: chunked\r\n");
      response_chunked_ = true;
    } else {
      keep_alive_ = false;  // close-delimited for HTTP/1.0 clients
    }
  }
  if (!request_done_) keep_alive_ = false;  // answered before the body was read
  if (worker_.draining()) keep_alive_ = false;
  if (!keep_alive_) {
    w.put("connection: close\r\n");
  } else if (client_minor_ == 0) {
    w.put("connection: keep-alive\r\n");
  }
  w.put("\r\n");
  commit();
}

void H1Session::send_body(evbuffer* piece) {
  size_t len = evbuffer_get_length(piece);
  if (closed_ || response_head_only_) {
    evbuffer_drain(piece, len);
    return;
  }
  if (len == 0) return;
  evbuffer* out = bufferevent_get_output(bev_.get());
  if (response_chunked_) http::append_chunk_header(out, len);
  move_bytes(out, piece, len, peer_.tls && len <= kCoalesceLimit);
  if (response_chunked_) evbuffer_add(out, "\r\n", 2);
  write_now();
}

void H1Session::send_end(const http::Headers* trailers) {
  if (closed_) return;
  if (!response_chunked_) {
    write_end();
    return;
  }
  http::append_last_chunk(bufferevent_get_output(bev_.get()), trailers);
  write_end();
}

size_t H1Session::response_buffered() const {
  return closed_ ? 0 : evbuffer_get_length(bufferevent_get_output(bev_.get()));
}

void H1Session::abort_response() {
  // The client must see a truncated response: close without the final chunk.
  keep_alive_ = false;
  response_chunked_ = false;
  closing_ = true;
  lingering_ = false;
}

void H1Session::pause_request_body(bool paused) {
  if (closed_ || body_paused_ == paused) return;
  body_paused_ = paused;
  if (paused) {
    set_reading(false);
  } else {
    set_reading(true);
    process_input();
  }
  arm_timer();
}

void H1Session::exchange_finished() {
  if (closed_) return;
  flush_end();
  if (exchange_) worker_.reaper().defer(std::shared_ptr<void>(std::move(exchange_)));
  exchange_.reset();
  if (tunnel_) return;
  after_response();
}

void H1Session::after_response() {
  if (!request_done_) keep_alive_ = false;
  if (!keep_alive_ || closing_) {
    closing_ = true;
    bufferevent_enable(bev_.get(), EV_WRITE);
    if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
      if (!request_done_ || evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) {
        linger();
      } else {
        close();
      }
    }
    return;
  }
  // Ready for the next (possibly already pipelined) request.
  request_done_ = true;
  set_reading(true);
  if (!in_process_) process_input();
}

void H1Session::linger() {
  // Shut our side and read (and discard) for a while, so that the client gets the response
  // instead of a reset caused by unread request bytes.
  if (closed_) return;
  lingering_ = true;
  evutil_socket_t fd = bufferevent_getfd(bev_.get());
  if (!peer_.tls && fd >= 0)
    shutdown(fd, SHUT_WR);
  else if (peer_.tls) {
    close();
    return;
  }
  evbuffer_drain(bufferevent_get_input(bev_.get()),
                 evbuffer_get_length(bufferevent_get_input(bev_.get())));
  set_reading(true);
  arm_timer();
}

void H1Session::close() {
  if (closed_) return;
  closed_ = true;
  evtimer_del(timer_.get());
  if (read_event_) event_del(read_event_.get());
  if (flush_) event_del(flush_.get());
  flush_scheduled_ = false;
  if (bev_) {
    quiesce(bev_.get());
    if (peer_.tls) net::release_tls_output(bev_.get());
  }
  if (exchange_) {
    std::shared_ptr<Exchange> ex = std::move(exchange_);
    ex->on_downstream_closed();
    worker_.reaper().defer(std::shared_ptr<void>(std::move(ex)));
  }
  if (tunnel_) {
    tunnel_->quiesce();
  }
  worker_.session_closed(this);
}

void H1Session::start_tunnel(std::unique_ptr<upstream::Connection> upstream) {
  if (closed_ || !upstream) {
    close();
    return;
  }
  tunnel_ = std::move(upstream);
  stop_own_reading();
  evtimer_del(timer_.get());
  bufferevent_set_timeouts(bev_.get(), nullptr, nullptr);
  bufferevent_setcb(bev_.get(), &on_tunnel_read, &on_tunnel_write, &on_tunnel_event, this);
  bufferevent_setcb(tunnel_->bev(), &on_tunnel_read, &on_tunnel_write, &on_tunnel_event, this);
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kTunnelLow, 0);
  bufferevent_setwatermark(tunnel_->bev(), EV_WRITE, kTunnelLow, 0);
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  bufferevent_enable(tunnel_->bev(), EV_READ | EV_WRITE);
  // Bytes that arrived before the switch.
  relay(bev_.get(), tunnel_->bev());
  relay(tunnel_->bev(), bev_.get());
}

void H1Session::relay(bufferevent* from, bufferevent* to) {
  evbuffer_add_buffer(bufferevent_get_output(to), bufferevent_get_input(from));
  // Back-pressure: stop reading a side while the other cannot keep up.
  if (evbuffer_get_length(bufferevent_get_output(to)) > kTunnelHigh) {
    bufferevent_disable(from, EV_READ);
  }
}

void H1Session::on_tunnel_write(bufferevent* bev, void* self) {
  auto* s = static_cast<H1Session*>(self);
  if (s->closed_) return;
  bufferevent* other = bev == s->bev_.get() ? s->tunnel_->bev() : s->bev_.get();
  bufferevent_enable(other, EV_READ);
}

void H1Session::on_tunnel_read(bufferevent* bev, void* self) {
  auto* s = static_cast<H1Session*>(self);
  if (s->closed_) return;
  bufferevent* other = bev == s->bev_.get() ? s->tunnel_->bev() : s->bev_.get();
  s->relay(bev, other);
}

void H1Session::on_tunnel_event(bufferevent*, short, void* self) {
  auto* s = static_cast<H1Session*>(self);
  // Either side closed or failed: flush what we can and close both.
  if (!s->closed_) {
    s->relay(s->tunnel_->bev(), s->bev_.get());
  }
  s->close();
}

}  // namespace pforte::core
