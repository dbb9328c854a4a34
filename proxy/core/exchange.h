// One request and its response, protocol-neutral: routing, the module phases in their fixed
// order, the upstream conversation, streaming of both bodies with back-pressure, local replies
// and the access-log line. Created by a session (HTTP/1.1 or HTTP/2) and owned by it through a
// shared_ptr; destroyed only through the worker's reaper, never inside its own callbacks.
// Worker thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/core/downstream.h"
#include "proxy/core/worker_context.h"
#include "proxy/module/module.h"
#include "proxy/upstream/upstream_request.h"

namespace pforte::core {

/// What a session knows about a new request.
struct RequestInfo {
  module::Request request;
  std::string client_address;
  bool tls = false;
  bool has_body = false;                   ///< a request body follows (or may follow)
  std::optional<uint64_t> content_length;  ///< declared body length
  bool expect_continue = false;            ///< HTTP/1.1 Expect: 100-continue
  bool upgrade = false;                    ///< HTTP/1.1 Connection: upgrade with Upgrade
  bool admin = false;                      ///< arrived on the admin listener
  int fetch_depth = 0;                     ///< >0: an internal fetch (no client connection)
  uint32_t fetch_flags = 0;                ///< module::FetchOptions::flags of a fetch
};

class Exchange final : public module::ExchangeContext,
                       public upstream::UpstreamRequest::Handler,
                       public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(WorkerContext& worker, std::shared_ptr<WorkerGeneration> generation,
           Downstream& downstream, RequestInfo info);
  ~Exchange() override;

  /// Routes the request and runs the request phase. May finish synchronously (local reply).
  void start();
  /// Sends an error reply for a request the session found invalid after its head (e.g. 413 for a
  /// body over the limit) if no response has started; otherwise aborts.
  void fail_request(int status, std::string_view reason);

  // From the downstream session.
  void on_request_body(evbuffer* data);
  void on_request_end(const http::Headers* trailers);
  void on_downstream_writable();
  /// The client went away or reset the stream. The downstream must not be used afterwards.
  void on_downstream_closed();
  /// The caller's deadline passed (an internal fetch's timeout); call on_downstream_closed()
  /// next. Modules see it in log as deadline_missed().
  void mark_deadline_missed() { deadline_missed_ = true; }

  bool response_started() const { return head_sent_; }
  bool finished() const { return finished_; }

  // module::ExchangeContext
  module::Request& request() override { return info_.request; }
  const config::RouteConfig& route() const override { return *route_; }
  const config::Config& config() const override { return gen_->config(); }
  std::string_view client_address() const override { return info_.client_address; }
  bool tls() const override { return info_.tls; }
  event_base* base() override { return worker_.base(); }
  module::LogRecord& log_record() override { return log_; }
  std::unique_ptr<module::ModuleState>& state(size_t module_index) override;
  module::ResumeHandle resume_handle() override;
  const module::Generation& generation() const override { return *gen_->generation; }
  bool admin() const override { return info_.admin; }
  int fetch_depth() const override { return info_.fetch_depth; }
  uint32_t fetch_flags() const override { return info_.fetch_flags; }
  module::WorkerServices& services() override { return worker_.services(); }
  std::string_view upstream_server() const override { return upstream_server_; }
  bool deadline_missed() const override { return deadline_missed_; }
  void replace_response(module::LocalReply reply) override;
  void set_body_rewritten() override { body_rewritten_ = true; }
  void hold_body_end() override { body_held_ = true; }
  void write_body(evbuffer* piece) override;
  void end_body() override;

  // upstream::UpstreamRequest::Handler
  void on_upstream_head(module::Response&& head, const upstream::ResponseInfo& info) override;
  void on_upstream_body(evbuffer* piece) override;
  void on_upstream_end(const http::Headers* trailers) override;
  void on_upstream_failure(upstream::Failure failure) override;
  void on_upstream_writable() override;

 protected:
  void resume(module::Decision decision) override;

 private:
  void run_request_phase(size_t from);
  void run_admin_phase(size_t from);
  /// Runs the body hooks on the last piece and ends the response unless a module holds it.
  void end_response(evbuffer* last_piece, const http::Headers* trailers);
  void apply(module::Decision decision, size_t module_index);
  void forward();
  std::string build_upstream_head(upstream::BodyMode mode) const;
  void send_local_reply(module::LocalReply reply);
  void send_error(int status, std::string_view message);
  /// Runs the response_head hooks and sends the head. False if a module replaced the response
  /// (then the replacement has been sent and the exchange may be finished).
  bool send_response_head(module::Response& head, BodyInfo body);
  std::vector<std::unique_ptr<module::Module>>& modules() { return gen_->modules; }
  void update_request_backpressure();
  void release_upstream();
  void finish();
  void write_log();
  void record_metrics();

  WorkerContext& worker_;
  std::shared_ptr<WorkerGeneration> gen_;  ///< the generation this exchange started with
  Downstream* downstream_;                 ///< null once the client is gone
  RequestInfo info_;
  const config::RouteConfig* route_ = nullptr;
  std::chrono::steady_clock::time_point started_;
  std::vector<std::unique_ptr<module::ModuleState>> states_;
  module::LogRecord log_;
  std::unique_ptr<upstream::UpstreamRequest> upstream_;
  EvbufferPtr early_body_;  ///< request body received before the upstream request exists
  bool request_ended_ = false;
  std::optional<http::Headers> request_trailers_;
  bool request_paused_ = false;
  bool suspended_ = false;
  size_t resume_from_ = 0;
  bool head_sent_ = false;
  bool end_sent_ = false;  ///< the downstream has been told the response is complete
  bool finished_ = false;
  bool logged_ = false;
  bool deadline_missed_ = false;  ///< given up at the caller's deadline (mark_deadline_missed)
  int status_ = 0;
  uint64_t bytes_sent_ = 0;
  std::string upstream_server_;
  std::string note_;                                 ///< why it failed, for the log
  std::unique_ptr<module::LocalReply> replacement_;  ///< set by replace_response()
  int replacements_ = 0;
  bool body_rewritten_ = false;  ///< a module changes the body: its length is unknown
  bool body_held_ = false;       ///< a module ends the response later (end_body)
};

}  // namespace pforte::core
