// The module interface: what the waiting room, cache, fragments and isolation features (and the
// built-in request-id and admin modules) see of a request. It hides the downstream protocol
// (HTTP/1.1 or HTTP/2) and the upstream connection entirely.
//
// A module is a ModuleFactory (name, fixed order, a pure config parser, a `prepare` that builds
// its process-wide state for a config snapshot, a constructor of per-worker instances) and a
// per-worker Module instance with a few phase hooks. Modules run in ascending `order` in every
// phase:
//
//   request        after routing, before any upstream work. Returns proceed, reply locally, or
//                  suspend (and later resume through a ResumeHandle).
//   admin          instead of `request`, for requests that arrived on the admin listener (no
//                  route). The first module that does not proceed answers; else 404.
//   upstream_error the upstream failed (connect, timeout, bad response) before a response head was
//                  sent downstream; a module may reply instead (e.g. a stale cached copy).
//   response_head  a response head is about to go downstream (from the upstream or a local reply);
//                  headers may be changed, the body marked as rewritten, or the whole response
//                  replaced by a local reply (ExchangeContext::replace_response).
//   response_body  each piece of the response body on its way downstream (local replies too); may
//                  be inspected, rewritten in place, or taken out and sent later
//                  (ExchangeContext::hold_body_end / write_body / end_body).
//   log            once, when the exchange ends, to fill the access-log record.
//
// Process-wide state (the cache store, waiting-room counters, breaker and health state) lives in
// a ModuleShared built by ModuleFactory::prepare for each config generation; prepare gets the
// previous generation's object so long-lived state survives a reload when compatible.
//
// Thread affinity: every hook runs on the worker thread that owns the exchange. Hooks must not
// destroy the exchange; a local reply or a resume is carried out after the hook returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/handles.h"
#include "proxy/config/config.h"
#include "proxy/config/loader.h"
#include "proxy/http/headers.h"
#include "proxy/module/metrics.h"

struct event_base;

namespace pforte::module {

class WorkerServices;
struct Generation;

/// A request head, protocol-neutral. Pseudo-headers and hop-by-hop fields are not in `headers`.
struct Request {
  std::string method;     ///< "GET", "POST", ...
  std::string scheme;     ///< "http" or "https" (how the client reached us)
  std::string authority;  ///< Host / :authority, as sent (may include a port)
  std::string path;       ///< origin-form target: path and query
  http::Headers headers;  ///< end-to-end request fields
  int version = 11;       ///< downstream protocol: 10, 11 (HTTP/1.x) or 20 (HTTP/2)
};

/// A response head, protocol-neutral. No framing or hop-by-hop fields in `headers`.
struct Response {
  int status = 200;
  http::Headers headers;
};

/// A locally generated answer: head and complete body.
struct LocalReply {
  Response response;
  EvbufferPtr body;  ///< may be null for an empty body
};

/// What a request-phase hook decided.
class Decision {
 public:
  enum class Kind : uint8_t { kProceed, kReply, kSuspend };

  static Decision proceed() { return Decision(Kind::kProceed); }
  static Decision suspend() { return Decision(Kind::kSuspend); }
  static Decision reply(LocalReply reply) {
    Decision d(Kind::kReply);
    d.reply_ = std::make_unique<LocalReply>(std::move(reply));
    return d;
  }
  /// A small text reply (`content_type` defaults to text/plain).
  static Decision reply(int status, std::string_view body,
                        std::string_view content_type = "text/plain; charset=utf-8");

  Kind kind() const { return kind_; }
  /// The reply, for kReply; the caller takes it.
  std::unique_ptr<LocalReply> take_reply() { return std::move(reply_); }

 private:
  explicit Decision(Kind kind) : kind_(kind) {}
  Kind kind_;
  std::unique_ptr<LocalReply> reply_;
};

/// The access-log record of one exchange. Modules fill their own fields in the log phase.
struct LogRecord {
  /// Set by the request-id module: a view of the id it keeps in its state, which lives as long
  /// as the exchange (a copy would cost an allocation per request, access log on or off).
  std::string_view request_id;
  std::string cache_status;  ///< set by the cache module ("hit", "miss", ...)
  std::string waiting_room;  ///< set by the waiting-room module ("admitted", "queued", ...)
};

/// Per-exchange state a module keeps between phases; dies with the exchange.
struct ModuleState {
  virtual ~ModuleState() = default;
};

class ExchangeContext;

/// Resumes a suspended exchange later. Safe to hold after the exchange is gone: resume() is then
/// a no-op. Worker thread only.
class ResumeHandle {
 public:
  ResumeHandle() = default;
  explicit ResumeHandle(std::weak_ptr<ExchangeContext> target) : target_(std::move(target)) {}
  /// Continues the request phase with `decision` (proceed to the next module, or reply).
  /// Returns false if the exchange no longer exists.
  bool resume(Decision decision);
  bool alive() const { return !target_.expired(); }

 private:
  std::weak_ptr<ExchangeContext> target_;
};

/// What a module sees of one exchange. Worker thread only.
class ExchangeContext {
 public:
  virtual ~ExchangeContext() = default;
  /// The request head; request-phase hooks may change it before it goes upstream.
  virtual Request& request() = 0;
  /// The route this request matched.
  virtual const config::RouteConfig& route() const = 0;
  /// The config snapshot this exchange started with.
  virtual const config::Config& config() const = 0;
  /// The client's address as text ("192.0.2.1" or "2001:db8::1").
  virtual std::string_view client_address() const = 0;
  /// True if the client connection is TLS.
  virtual bool tls() const = 0;
  /// The worker's event loop, for timers of suspended work.
  virtual event_base* base() = 0;
  /// The access-log record.
  virtual LogRecord& log_record() = 0;
  /// The module's per-exchange state slot (index = the module's position in the chain).
  virtual std::unique_ptr<ModuleState>& state(size_t module_index) = 0;
  /// A handle to resume this exchange after a hook returned Decision::suspend().
  virtual ResumeHandle resume_handle() = 0;
  /// The config generation (snapshot + module states) this exchange started with.
  virtual const Generation& generation() const = 0;
  /// True if the request arrived on the admin listener (then route() is an empty route and only
  /// the admin phase runs).
  virtual bool admin() const = 0;
  /// 0 for a client's request; n for an internal fetch n levels deep (see WorkerServices::fetch).
  virtual int fetch_depth() const = 0;
  /// The FetchOptions::flags of an internal fetch; 0 for a client's request.
  virtual uint32_t fetch_flags() const = 0;
  /// The worker's services (internal fetches), for hooks that start work.
  virtual WorkerServices& services() = 0;
  /// The upstream server that answered or failed (its address as written in the config), once
  /// known: in response_head for an upstream's response, in upstream_error; else empty. For
  /// per-server passive health.
  virtual std::string_view upstream_server() const { return {}; }
  /// log: true if the exchange was given up because its caller's deadline passed before the
  /// response was complete (an internal fetch's timeout, e.g. an ESI include late for its page),
  /// as opposed to a client that left. Then upstream_server() names the server of the attempt
  /// under way, if any.
  virtual bool deadline_missed() const { return false; }

  // Response-phase tools. Only valid inside the hook named.
  /// response_head: discard the response (an upstream's head and body, or a local reply) and send
  /// `reply` instead. The response_head hooks run again for the replacement.
  virtual void replace_response(LocalReply reply) = 0;
  /// response_head: the body will be rewritten, so its length is unknown (Content-Length dropped;
  /// chunked on HTTP/1.1).
  virtual void set_body_rewritten() = 0;
  /// response_body with last = true: do not end the response yet; the module will write the rest
  /// with write_body() and then call end_body(). Bytes written this way skip later modules' body
  /// hooks. Any time after: safe while the exchange lives.
  virtual void hold_body_end() = 0;
  /// Sends bytes downstream now (drains `piece`), after a hold_body_end().
  virtual void write_body(evbuffer* piece) = 0;
  /// Ends a held response.
  virtual void end_body() = 0;

 protected:
  friend class ResumeHandle;
  /// Called through ResumeHandle.
  virtual void resume(Decision decision) = 0;
};

/// A module's per-worker instance. Worker thread only.
class Module {
 public:
  virtual ~Module() = default;
  virtual Decision on_request(ExchangeContext&) { return Decision::proceed(); }
  /// A request on the admin listener. Proceed if it is not for this module.
  virtual Decision on_admin(ExchangeContext&) { return Decision::proceed(); }
  /// Every module sees an upstream failure, in order; the first one that replies answers (later
  /// replies are dropped).
  virtual Decision on_upstream_error(ExchangeContext&, int /*status*/) {
    return Decision::proceed();
  }
  virtual void on_response_head(ExchangeContext&, Response&) {}
  virtual void on_response_body(ExchangeContext&, evbuffer* /*piece*/, bool /*last*/) {}
  virtual void on_log(ExchangeContext&, LogRecord&) {}
};

/// A module's process-wide state for one config generation (cache store, rooms, breakers), shared
/// by all workers. Built on the main thread by ModuleFactory::prepare; afterwards used from any
/// worker thread, so everything it offers must be thread-safe.
class ModuleShared {
 public:
  virtual ~ModuleShared() = default;
  /// Adds this module's computed values (gauges, state) to a metrics scrape. Any thread.
  virtual void write_metrics(MetricsWriter&) const {}
  /// Appends this module's part of /status.json: a JSON object (`{...}`), or nothing. Any thread.
  virtual void write_status_json(std::string&) const {}
  /// Appends this module's section of the HTML /status page (escaped HTML), or nothing.
  virtual void write_status_html(std::string&) const {}
  /// The process is stopping (after workers finished): persist what must survive a restart.
  /// Main thread.
  virtual void shutdown() {}
};

/// One config snapshot and the module states built for it. Requests start with the current
/// generation and keep it until they end; a reload makes a new one. Immutable.
struct Generation {
  std::shared_ptr<const config::Config> config;
  /// By module index (registry order); null for modules without process-wide state.
  std::vector<std::shared_ptr<ModuleShared>> shared;
  uint64_t number = 0;  ///< 1 for the config the process started with, +1 per reload
};

/// An internal request's result.
struct FetchResult {
  int status = 0;         ///< 0: no response (see `error`)
  http::Headers headers;  ///< response fields (no framing or hop-by-hop fields)
  EvbufferPtr body;       ///< complete body (never null when status != 0)
  std::string error;      ///< why there is no response ("timeout", "too large", ...)
};

/// Options of an internal request.
struct FetchOptions {
  Millis timeout{5'000};               ///< whole request; on expiry: status 0, error "timeout"
  uint64_t max_body_bytes = 1u << 20;  ///< larger bodies fail with error "too large"
  uint32_t flags = 0;                  ///< visible to modules as ExchangeContext::fetch_flags()
  int depth = 1;                       ///< nesting level (the caller's fetch_depth() + 1)
};

/// FetchOptions::flags bits.
inline constexpr uint32_t kFetchRefresh = 1;  ///< a cache refresh: the cache must not answer it

/// Cancels an internal request when destroyed or reset (the callback then never runs).
class FetchHandle {
 public:
  FetchHandle() = default;
  explicit FetchHandle(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  FetchHandle(FetchHandle&& o) noexcept : cancel_(std::move(o.cancel_)) { o.cancel_ = nullptr; }
  FetchHandle& operator=(FetchHandle&& o) noexcept {
    if (this != &o) {
      reset();
      cancel_ = std::move(o.cancel_);
      o.cancel_ = nullptr;
    }
    return *this;
  }
  ~FetchHandle() { reset(); }
  void reset() {
    if (cancel_) std::exchange(cancel_, nullptr)();
  }
  /// The callback will no longer be cancelled by this handle (the request runs to its end).
  void release() { cancel_ = nullptr; }

 private:
  std::function<void()> cancel_;
};

/// What a worker offers modules beyond one exchange. Worker thread only.
class WorkerServices {
 public:
  virtual ~WorkerServices() = default;
  virtual event_base* base() = 0;
  /// Sends `request` (method, authority, path, headers; scheme "http"/"https") through pforte's own
  /// routes and module chain as if a client had asked, on the current generation, without a
  /// client connection. `done` runs later on this worker thread, exactly once unless the handle
  /// cancels it first. Never calls `done` synchronously.
  virtual FetchHandle fetch(Request request, FetchOptions options,
                            std::function<void(FetchResult)> done) = 0;
  /// Runs `fn` on this worker's thread, soon. Any thread (e.g. to wake exchanges of this worker
  /// that wait for something another worker finished).
  virtual void post(std::function<void()> fn) = 0;
};

/// What a module offers the worker when it creates the instance.
struct WorkerInfo {
  size_t worker_index = 0;  ///< 0..workers-1
  event_base* base = nullptr;
  size_t module_index = 0;  ///< this module's position in the chain (for ExchangeContext::state)
  /// This module's state for the generation the instance serves (null if it has none).
  std::shared_ptr<ModuleShared> shared;
  /// The generation the instance serves.
  const Generation* generation = nullptr;
  WorkerServices* services = nullptr;
};

/// A module kind: its name, position, config parser, process-wide state and instance constructor.
/// Orders: request_id 0, admin 5, waiting_room 10, cache 20, fragments 30, isolation 40.
struct ModuleFactory {
  std::string name;  ///< also its config section / route key, if it has one
  int order = 0;     ///< lower runs first in every phase
  config::ModuleConfigParser parser;
  /// Builds the process-wide state for `config` (main thread, at start and on each reload).
  /// `previous` is this module's state of the running generation (null at start): keep what is
  /// compatible (nginx-style: same name and size). An error refuses the config (the message
  /// should start with "FILE:LINE:COL: " where known). Empty: the module has no shared state.
  std::function<std::expected<std::shared_ptr<ModuleShared>, std::string>(
      const config::Config& config, std::shared_ptr<ModuleShared> previous)>
      prepare;
  std::function<std::unique_ptr<Module>(const WorkerInfo&)> create;
};

/// All modules compiled in, sorted by order. Built once at startup.
const std::vector<ModuleFactory>& registry();

/// The config parsers of all modules, for config::load_config_file.
std::vector<config::ModuleConfigParser> config_parsers();

/// Runs every module's prepare for `config`. `previous` is the running generation (null at
/// start). Main thread. On error: the first module's message.
std::expected<std::shared_ptr<const Generation>, std::string> prepare_generation(
    std::shared_ptr<const config::Config> config, const Generation* previous);

/// Facts about the process for the status page and metrics. Thread-safe.
struct ServerInfo {
  int64_t started_unix = 0;  ///< when the process started (seconds since the epoch)
  size_t workers = 0;
  std::atomic<uint64_t> generation{0};  ///< number of the current generation
  /// The last reload's outcome; empty if none happened.
  void set_reload_result(bool ok, std::string message, int64_t when_unix);
  struct Reload {
    bool happened = false;
    bool ok = false;
    std::string message;  ///< the error for a refused reload
    int64_t when_unix = 0;
  };
  Reload reload() const;

 private:
  mutable std::mutex mutex_;
  Reload reload_;
};
ServerInfo& server_info();

}  // namespace pforte::module
