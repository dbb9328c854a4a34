// An internal request (module::WorkerServices::fetch): an exchange whose "client" is this object
// instead of a connection. It collects the response in memory, bounded by max_body_bytes, and
// hands it to the caller's callback. Used by fragments (ESI includes) and the cache (background
// refresh). Owned by the worker (shared_ptr in its fetch set); the caller holds a FetchHandle
// that can cancel it. Worker thread only.
#pragma once

#include <functional>
#include <memory>

#include "proxy/common/handles.h"
#include "proxy/core/downstream.h"
#include "proxy/core/worker_context.h"
#include "proxy/module/module.h"

namespace pforte::core {

class Exchange;

class InternalFetch final : public Downstream, public std::enable_shared_from_this<InternalFetch> {
 public:
  /// `on_done` is called once when the fetch is over (completed, failed or cancelled) so the
  /// owner can release it; never synchronously inside a call into this object.
  InternalFetch(WorkerContext& worker, module::Request request, module::FetchOptions options,
                std::function<void(module::FetchResult)> done,
                std::function<void(InternalFetch*)> on_done);
  ~InternalFetch() override;

  /// Starts the exchange on the next loop iteration (so `done` never runs inside fetch()).
  void start();
  /// The caller lost interest: `done` will not run.
  void cancel();

  // Downstream
  void send_head(module::Response&& head, const BodyInfo& body) override;
  void send_body(evbuffer* piece) override;
  void send_end(const http::Headers* trailers) override;
  size_t response_buffered() const override { return 0; }
  void abort_response() override;
  void pause_request_body(bool) override {}
  void start_tunnel(std::unique_ptr<upstream::Connection> upstream) override;
  void exchange_finished() override;

 private:
  static void on_start(evutil_socket_t, short, void* self);
  static void on_timeout(evutil_socket_t, short, void* self);
  /// Delivers `result` (unless cancelled), detaches the exchange and tells the owner.
  void complete(module::FetchResult result);

  WorkerContext& worker_;
  module::Request request_;
  module::FetchOptions options_;
  std::function<void(module::FetchResult)> done_;
  std::function<void(InternalFetch*)> on_done_;
  std::shared_ptr<Exchange> exchange_;
  module::FetchResult result_;
  EventPtr start_event_;
  EventPtr timer_;
  bool completed_ = false;
};

}  // namespace pforte::core
