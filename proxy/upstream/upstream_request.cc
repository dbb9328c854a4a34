#include "proxy/upstream/upstream_request.h"

#include <event2/buffer.h>

#include "proxy/common/log.h"
#include "proxy/http/head_buffer.h"

namespace pforte::upstream {

namespace {
constexpr size_t kMaxResponseHead = 64 * 1024;
constexpr size_t kWriteLowWatermark = 64 * 1024;

}  // namespace

UpstreamRequest::UpstreamRequest(UpstreamPool& pool, Handler& handler, std::string method,
                                 std::string head, BodyMode mode, bool expects_upgrade,
                                 bool retry_on_stale)
    : pool_(pool),
      handler_(&handler),
      method_(std::move(method)),
      head_(std::move(head)),
      mode_(mode),
      expects_upgrade_(expects_upgrade),
      retry_on_stale_(retry_on_stale),
      piece_(pool.scratch()) {}

UpstreamRequest::~UpstreamRequest() {
  if (counted_ && conn_) pool_.request_finished(conn_->server());
  if (conn_) {
    conn_->quiesce();
  }
}

void UpstreamRequest::detach() {
  handler_ = nullptr;
  if (conn_) {
    conn_->quiesce();
  }
}

void UpstreamRequest::start() {
  pool_.retry_budget().record_request(Clock::now());
  connect_next();
}

void UpstreamRequest::connect_next(std::optional<size_t> server) {
  if (!server) server = pool_.pick(tried_);
  if (!server) {
    fail(Failure::kConnect);
    return;
  }
  tried_.push_back(*server);
  server_text_ = pool_.address(*server).text;
  if (counted_ && conn_) {
    pool_.request_finished(conn_->server());
    counted_ = false;
  }
  if (conn_) pool_.reaper().defer(std::move(conn_));
  conn_ = pool_.take_idle(*server);
  bool reused = conn_ != nullptr;
  if (!conn_) conn_ = pool_.connect(*server);
  if (!conn_) {
    pool_.server_failed(*server);
    if (!retry_connect()) fail(Failure::kConnect);
    return;
  }
  pool_.request_started(*server);
  counted_ = true;
  bufferevent_setcb(conn_->bev(), &on_read, &on_write, &on_event, this);
  bufferevent_setwatermark(conn_->bev(), EV_WRITE, kWriteLowWatermark, 0);
  if (reused) {
    on_connected();
  } else {
    state_ = State::kConnecting;
    bufferevent_enable(conn_->bev(), EV_WRITE);
  }
}

void UpstreamRequest::on_connected() {
  state_ = State::kAwaitHead;
  if (!conn_->reused()) pool_.connect_succeeded(conn_->server());
  // Once per connection: from the connect timeout to the response timeout for writes (a kept
  // connection keeps it; bufferevent_set_timeouts re-adds both events).
  if (!conn_->reused()) bufferevent_set_timeouts(conn_->bev(), nullptr, pool_.response_timeout());
  read_timeout_on_ = !request_complete_;  // force the one change below
  set_read_timeout(request_complete_);
  // Pieces of the request go through the write event and a complete one straight to the socket
  // (write_now), so it starts disabled.
  if (bufferevent_get_enabled(conn_->bev()) & EV_WRITE) bufferevent_disable(conn_->bev(), EV_WRITE);
  if (reading_) {
    conn_->enable_read();
  } else {
    conn_->disable_read();
  }
  flush_pending();
  write_now();
}

bool UpstreamRequest::connected() const {
  return conn_ && state_ != State::kConnecting && state_ != State::kIdle;
}

void UpstreamRequest::write_now() {
  if (!connected()) return;
  evbuffer* out = bufferevent_get_output(conn_->bev());
  if (evbuffer_get_length(out) == 0) return;
  // A complete request (a GET's head, the end of a body) goes straight to the socket; parts of
  // a body still coming go through the write event, so that what one loop turn queues leaves in
  // one writev.
  if (request_complete_) {
    flush_socket_output(conn_->bev());
  } else {
    ensure_enabled(conn_->bev(), EV_WRITE);
  }
}

void UpstreamRequest::set_read_timeout(bool on) {
  if (!conn_ || read_timeout_on_ == on) return;
  read_timeout_on_ = on;
  conn_->set_read_timeout(on ? pool_.response_timeout() : nullptr);
}

void UpstreamRequest::flush_pending() {
  if (!conn_ || state_ == State::kConnecting || state_ == State::kIdle) return;
  // The head is kept in head_ so that a stale-connection retry can send it again.
  evbuffer* out = bufferevent_get_output(conn_->bev());
  evbuffer_add(out, head_.data(), head_.size());
  if (pending_) evbuffer_add_buffer(out, pending_.get());
}

evbuffer* UpstreamRequest::body_target() {
  if (connected()) {
    return bufferevent_get_output(conn_->bev());
  }
  if (!pending_) pending_ = make_evbuffer();
  return pending_.get();
}

void UpstreamRequest::send_body(evbuffer* data) {
  size_t len = evbuffer_get_length(data);
  if (len == 0) return;
  evbuffer* out = body_target();
  if (mode_ == BodyMode::kChunked) http::append_chunk_header(out, len);
  evbuffer_add_buffer(out, data);
  if (mode_ == BodyMode::kChunked) evbuffer_add(out, "\r\n", 2);
  write_now();
}

void UpstreamRequest::end_body(const http::Headers* trailers) {
  if (request_complete_) return;
  request_complete_ = true;
  if (mode_ != BodyMode::kChunked) {
    write_now();
    if (state_ == State::kAwaitHead) set_read_timeout(true);
    return;
  }
  http::append_last_chunk(body_target(), trailers);
  write_now();
  if (state_ == State::kAwaitHead) set_read_timeout(true);
}

size_t UpstreamRequest::pending_request_bytes() const {
  size_t n = pending_ ? evbuffer_get_length(pending_.get()) : 0;
  if (conn_) n += evbuffer_get_length(bufferevent_get_output(conn_->bev()));
  return n;
}

void UpstreamRequest::set_reading(bool enabled) {
  if (reading_ == enabled) return;
  reading_ = enabled;
  if (!conn_ || state_ == State::kConnecting || state_ == State::kIdle) return;
  if (state_ == State::kDone || state_ == State::kFailed) return;
  if (enabled) {
    conn_->enable_read();
    // Bytes may have arrived while paused.
    if (evbuffer_get_length(bufferevent_get_input(conn_->bev()))) process_input();
  } else {
    conn_->disable_read();
  }
}

std::unique_ptr<Connection> UpstreamRequest::take_connection() {
  if (conn_) {
    bufferevent_setcb(conn_->bev(), nullptr, nullptr, nullptr, nullptr);
    if (counted_) pool_.request_finished(conn_->server());
    counted_ = false;
  }
  handler_ = nullptr;
  return std::move(conn_);
}

void UpstreamRequest::on_read(bufferevent*, void* self) {
  static_cast<UpstreamRequest*>(self)->process_input();
}

void UpstreamRequest::on_write(bufferevent* bev, void* self) {
  auto* req = static_cast<UpstreamRequest*>(self);
  // Drained: back to direct writes.
  if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) bufferevent_disable(bev, EV_WRITE);
  if (req->handler_) req->handler_->on_upstream_writable();
}

void UpstreamRequest::on_event(bufferevent*, short what, void* self) {
  auto* req = static_cast<UpstreamRequest*>(self);
  if (what & BEV_EVENT_CONNECTED) {
    req->on_connected();
    return;
  }
  if (req->state_ == State::kConnecting) {
    size_t server = req->conn_->server();
    req->pool_.server_failed(server);
    PF_WARN("upstream %s: connect to %s failed (%s)", req->pool_.config().name.c_str(),
            req->server_text_.c_str(),
            (what & BEV_EVENT_TIMEOUT) ? "timeout" : "refused or unreachable");
    if (!req->retry_connect()) {
      req->fail((what & BEV_EVENT_TIMEOUT) ? Failure::kTimeout : Failure::kConnect);
    }
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    if (req->state_ == State::kAwaitHead &&
        req->try_other_server("did not answer within response_timeout")) {
      return;
    }
    PF_WARN("upstream %s: %s timed out", req->pool_.config().name.c_str(),
            req->server_text_.c_str());
    req->fail(Failure::kTimeout);
    return;
  }
  // EOF or error. Let buffered input be processed first.
  if (req->state_ == State::kAwaitHead || req->state_ == State::kBody) req->process_input();
  if (req->state_ == State::kDone || req->state_ == State::kFailed || !req->handler_) return;
  if (req->state_ == State::kBody && req->framing_ == http::BodyFraming::kUntilClose &&
      (what & BEV_EVENT_EOF)) {
    req->keep_alive_ = false;
    req->finish_response(nullptr);
    return;
  }
  if (req->state_ == State::kAwaitHead &&
      (req->try_stale_retry() || req->try_other_server("closed the connection before answering"))) {
    return;
  }
  req->fail(Failure::kReset);
}

std::optional<size_t> UpstreamRequest::take_retry(UpstreamPool::RetryReason reason, bool& used) {
  // Once, and only if there is a server left to try: a retry with nowhere to go would spend the
  // budget for nothing.
  if (used) return std::nullopt;
  std::optional<size_t> next = pool_.pick(tried_);
  if (!next || !pool_.try_retry(reason)) return std::nullopt;
  used = true;
  return next;
}

bool UpstreamRequest::retry_connect() {
  std::optional<size_t> next = take_retry(UpstreamPool::RetryReason::kConnect, connect_retried_);
  if (!next) return false;
  connect_next(next);
  return true;
}

bool UpstreamRequest::try_other_server(const char* what) {
  // A server killed or hung under load: an idempotent request without a body goes once more, to
  // another server; nothing of the first answer reached the client.
  if (!conn_ || !retry_on_stale_ || answer_retried_ || response_bytes_ > 0) return false;
  if (evbuffer_get_length(bufferevent_get_input(conn_->bev())) > 0) return false;
  pool_.server_unanswered(conn_->server());
  std::optional<size_t> next = take_retry(UpstreamPool::RetryReason::kOtherServer, answer_retried_);
  if (!next) return false;
  PF_WARN("upstream %s: %s %s; retrying on another server", pool_.config().name.c_str(),
          server_text_.c_str(), what);
  connect_next(next);
  return true;
}

bool UpstreamRequest::try_stale_retry() {
  if (!conn_ || !conn_->reused() || !retry_on_stale_ || response_bytes_ > 0) return false;
  if (evbuffer_get_length(bufferevent_get_input(conn_->bev())) > 0) return false;
  if (!pool_.try_retry(UpstreamPool::RetryReason::kStaleConnection)) return false;
  // The server closed a kept-alive connection as we reused it: send again on a fresh connection
  // to the same server (this does not use the connect retry).
  size_t server = conn_->server();
  pool_.request_finished(server);
  counted_ = false;
  pool_.reaper().defer(std::move(conn_));
  conn_ = pool_.connect(server);
  if (!conn_) return false;
  pool_.request_started(server);
  counted_ = true;
  state_ = State::kConnecting;
  bufferevent_setcb(conn_->bev(), &on_read, &on_write, &on_event, this);
  bufferevent_setwatermark(conn_->bev(), EV_WRITE, kWriteLowWatermark, 0);
  bufferevent_enable(conn_->bev(), EV_WRITE);
  return true;
}

void UpstreamRequest::process_input() {
  if (!conn_ || !handler_) return;
  evbuffer* in = bufferevent_get_input(conn_->bev());
  while (handler_ && (state_ == State::kAwaitHead || state_ == State::kBody)) {
    if (state_ == State::kAwaitHead) {
      http::HeadPeek peek = http::peek_head(in, kMaxResponseHead);
      if (!peek.found) {
        if (peek.too_large) {
          PF_WARN("upstream %s: response head from %s too large", pool_.config().name.c_str(),
                  server_text_.c_str());
          fail(Failure::kBadResponse);
        }
        return;
      }
      http::ResponseHead1 head;
      http::ParseStatus st = http::parse_response_head(peek.bytes, kMaxResponseHead, method_, head);
      if (st != http::ParseStatus::kComplete) {
        PF_WARN("upstream %s: invalid response from %s: %.*s", pool_.config().name.c_str(),
                server_text_.c_str(), static_cast<int>(head.error_reason.size()),
                head.error_reason.data());
        fail(Failure::kBadResponse);
        return;
      }
      if (head.status >= 100 && head.status < 200 && head.status != 101) {
        evbuffer_drain(in, head.head_length);  // interim responses are not forwarded
        continue;
      }
      module::Response response;
      response.status = head.status;
      response.headers.reserve(head.fields.size());
      for (const auto& [name, value] : head.fields) response.headers.add(name, value);
      ResponseInfo info;
      if (head.status == 101) {
        if (!expects_upgrade_) {
          fail(Failure::kBadResponse);
          return;
        }
        info.upgraded = true;
        info.has_body = false;
        evbuffer_drain(in, head.head_length);
        state_ = State::kDone;
        conn_->disable_read();  // the tunnel reads through the bufferevent
        conn_->set_read_timeout(nullptr);
        bufferevent_set_timeouts(conn_->bev(), nullptr, nullptr);
        handler_->on_upstream_head(std::move(response), info);
        return;
      }
      framing_ = head.framing;
      keep_alive_ = head.keep_alive;
      remaining_ = head.content_length;
      info.has_body = framing_ != http::BodyFraming::kNone &&
                      !(framing_ == http::BodyFraming::kContentLength && remaining_ == 0);
      if (framing_ == http::BodyFraming::kContentLength) info.content_length = remaining_;
      if (framing_ == http::BodyFraming::kNone) info.content_length.reset();
      evbuffer_drain(in, head.head_length);
      state_ = State::kBody;
      pool_.server_answered(conn_->server());
      set_read_timeout(true);
      handler_->on_upstream_head(std::move(response), info);
      if (!handler_) return;
      if (!info.has_body) {
        finish_response(nullptr);
        return;
      }
      continue;
    }
    // Body.
    if (!reading_) return;
    size_t avail = evbuffer_get_length(in);
    switch (framing_) {
      case http::BodyFraming::kContentLength: {
        if (avail == 0) return;
        size_t n = static_cast<size_t>(std::min<uint64_t>(avail, remaining_));
        evbuffer_remove_buffer(in, piece_, n);
        remaining_ -= n;
        response_bytes_ += n;
        handler_->on_upstream_body(piece_);
        evbuffer_drain(piece_, evbuffer_get_length(piece_));
        if (handler_ && remaining_ == 0) finish_response(nullptr);
        break;
      }
      case http::BodyFraming::kChunked: {
        if (avail == 0) return;
        http::ChunkedDecoder::Status st = chunked_.decode(in, piece_);
        size_t got = evbuffer_get_length(piece_);
        response_bytes_ += got;
        if (st == http::ChunkedDecoder::Status::kError) {
          PF_WARN("upstream %s: bad chunked body from %s: %.*s", pool_.config().name.c_str(),
                  server_text_.c_str(), static_cast<int>(chunked_.error_reason().size()),
                  chunked_.error_reason().data());
          fail(Failure::kBadResponse);
          return;
        }
        if (got) handler_->on_upstream_body(piece_);
        evbuffer_drain(piece_, evbuffer_get_length(piece_));
        if (!handler_) return;
        if (st == http::ChunkedDecoder::Status::kDone) {
          finish_response(chunked_.trailers().empty() ? nullptr : &chunked_.trailers());
        } else if (got == 0) {
          return;
        }
        break;
      }
      case http::BodyFraming::kUntilClose: {
        if (avail == 0) return;
        evbuffer_remove_buffer(in, piece_, avail);
        response_bytes_ += avail;
        handler_->on_upstream_body(piece_);
        evbuffer_drain(piece_, evbuffer_get_length(piece_));
        return;
      }
      case http::BodyFraming::kNone:
        finish_response(nullptr);
        return;
    }
  }
}

void UpstreamRequest::finish_response(const http::Headers* trailers) {
  state_ = State::kDone;
  bool reusable = keep_alive_ && request_complete_ && conn_ &&
                  evbuffer_get_length(bufferevent_get_output(conn_->bev())) == 0 &&
                  (!pending_ || evbuffer_get_length(pending_.get()) == 0) &&
                  evbuffer_get_length(bufferevent_get_input(conn_->bev())) == 0;
  if (conn_) {
    if (counted_) pool_.request_finished(conn_->server());
    counted_ = false;
    bufferevent_setcb(conn_->bev(), nullptr, nullptr, nullptr, nullptr);
    if (reusable) {
      pool_.give_back(std::move(conn_));
    } else {
      conn_->quiesce();
      pool_.reaper().defer(std::move(conn_));
    }
  }
  if (handler_) handler_->on_upstream_end(trailers);
}

void UpstreamRequest::fail(Failure failure) {
  state_ = State::kFailed;
  if (conn_) {
    if (counted_) pool_.request_finished(conn_->server());
    counted_ = false;
    conn_->quiesce();
    pool_.reaper().defer(std::move(conn_));
  }
  if (handler_) handler_->on_upstream_failure(failure);
}

}  // namespace pforte::upstream
