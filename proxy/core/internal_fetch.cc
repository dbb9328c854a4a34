#include "proxy/core/internal_fetch.h"

#include "proxy/core/exchange.h"

namespace pforte::core {

InternalFetch::InternalFetch(WorkerContext& worker, module::Request request,
                             module::FetchOptions options,
                             std::function<void(module::FetchResult)> done,
                             std::function<void(InternalFetch*)> on_done)
    : worker_(worker),
      request_(std::move(request)),
      options_(options),
      done_(std::move(done)),
      on_done_(std::move(on_done)) {}

InternalFetch::~InternalFetch() {
  if (exchange_) exchange_->on_downstream_closed();
}

void InternalFetch::start() {
  start_event_.reset(evtimer_new(worker_.base(), &InternalFetch::on_start, this));
  timeval zero{0, 0};
  evtimer_add(start_event_.get(), &zero);
  timer_.reset(evtimer_new(worker_.base(), &InternalFetch::on_timeout, this));
  timeval tv = to_timeval(options_.timeout);
  evtimer_add(timer_.get(), &tv);
}

void InternalFetch::on_start(evutil_socket_t, short, void* self) {
  auto* f = static_cast<InternalFetch*>(self);
  if (f->completed_) return;
  std::shared_ptr<InternalFetch> keep = f->shared_from_this();
  RequestInfo info;
  info.request = std::move(f->request_);
  if (info.request.scheme.empty()) info.request.scheme = "http";
  info.request.version = 11;
  info.client_address = "127.0.0.1";
  info.tls = info.request.scheme == "https";
  info.fetch_depth = f->options_.depth;
  info.fetch_flags = f->options_.flags;
  f->exchange_ =
      std::make_shared<Exchange>(f->worker_, f->worker_.generation(), *f, std::move(info));
  // An internal request has no body: it is complete before it starts, so the upstream
  // connection can go back to the pool when the answer ends.
  f->exchange_->on_request_end(nullptr);
  f->exchange_->start();
}

void InternalFetch::on_timeout(evutil_socket_t, short, void* self) {
  auto* f = static_cast<InternalFetch*>(self);
  if (f->exchange_) f->exchange_->mark_deadline_missed();
  module::FetchResult r;
  r.error = "timeout";
  f->complete(std::move(r));
}

void InternalFetch::cancel() {
  done_ = nullptr;
  complete(module::FetchResult{});
}

void InternalFetch::send_head(module::Response&& head, const BodyInfo&) {
  result_.status = head.status;
  result_.headers = std::move(head.headers);
  result_.body = make_evbuffer();
}

void InternalFetch::send_body(evbuffer* piece) {
  if (completed_) {
    evbuffer_drain(piece, evbuffer_get_length(piece));
    return;
  }
  if (evbuffer_get_length(result_.body.get()) + evbuffer_get_length(piece) >
      options_.max_body_bytes) {
    evbuffer_drain(piece, evbuffer_get_length(piece));
    module::FetchResult r;
    r.error = "too large";
    complete(std::move(r));
    return;
  }
  evbuffer_add_buffer(result_.body.get(), piece);
}

void InternalFetch::send_end(const http::Headers*) {
  if (completed_) return;
  if (!result_.body) result_.body = make_evbuffer();
  complete(std::move(result_));
}

void InternalFetch::abort_response() {
  module::FetchResult r;
  r.error = "response aborted";
  complete(std::move(r));
}

void InternalFetch::start_tunnel(std::unique_ptr<upstream::Connection>) {
  module::FetchResult r;
  r.error = "upgrade not supported";
  complete(std::move(r));
}

void InternalFetch::exchange_finished() {
  if (exchange_) {
    worker_.reaper().defer(std::move(exchange_));
    exchange_.reset();
  }
  if (!completed_) {
    module::FetchResult r;
    r.error = "no response";
    complete(std::move(r));
  }
}

void InternalFetch::complete(module::FetchResult result) {
  if (completed_) return;
  completed_ = true;
  start_event_.reset();
  timer_.reset();
  if (exchange_) {
    // Still running (timeout, too large, cancel): it must not call us again.
    std::shared_ptr<Exchange> ex = std::move(exchange_);
    exchange_.reset();
    ex->on_downstream_closed();
    worker_.reaper().defer(std::move(ex));
  }
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(result));
  if (on_done_) std::exchange(on_done_, nullptr)(this);
}

}  // namespace pforte::core
