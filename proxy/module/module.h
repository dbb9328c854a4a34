// The module interface: what the waiting room, cache, fragments and isolation features (and the
// built-in request-id module) see of a request. It hides the downstream protocol (HTTP/1.1 or
// HTTP/2) and the upstream connection entirely.
//
// A module is a ModuleFactory (name, fixed order, a pure config parser, a constructor of per-worker
// instances) and a per-worker Module instance with a few phase hooks. Modules run in ascending
// `order` in every phase:
//
//   request        after routing, before any upstream work. Returns proceed, reply locally, or
//                  suspend (and later resume through a ResumeHandle).
//   upstream_error the upstream failed (connect, timeout, bad response) before a response head was
//                  sent downstream; a module may reply instead (e.g. a stale cached copy).
//   response_head  a response head is about to go downstream (from the upstream or a local reply);
//                  headers may be changed.
//   response_body  each piece of the response body on its way downstream; may be inspected or
//                  rewritten in place (never held: the exchange forwards what is left in it).
//   log            once, when the exchange ends, to fill the access-log record.
//
// Thread affinity: every hook runs on the worker thread that owns the exchange. Hooks must not
// destroy the exchange; a local reply or a resume is carried out after the hook returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/handles.h"
#include "proxy/config/config.h"
#include "proxy/config/loader.h"
#include "proxy/http/headers.h"

struct event_base;

namespace pforte::module {

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
  std::string request_id;    ///< set by the request-id module
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
  virtual Decision on_upstream_error(ExchangeContext&, int /*status*/) {
    return Decision::proceed();
  }
  virtual void on_response_head(ExchangeContext&, Response&) {}
  virtual void on_response_body(ExchangeContext&, evbuffer* /*piece*/, bool /*last*/) {}
  virtual void on_log(ExchangeContext&, LogRecord&) {}
};

/// What a module offers the worker when it creates the instance.
struct WorkerInfo {
  size_t worker_index = 0;  ///< 0..workers-1
  event_base* base = nullptr;
  size_t module_index = 0;  ///< this module's position in the chain (for ExchangeContext::state)
};

/// A module kind: its name, position, config parser and instance constructor.
struct ModuleFactory {
  std::string name;  ///< also its config section / route key, if it has one
  int order = 0;     ///< lower runs first in every phase
  config::ModuleConfigParser parser;
  std::function<std::unique_ptr<Module>(const WorkerInfo&)> create;
};

/// All modules compiled in, sorted by order. Built once at startup.
const std::vector<ModuleFactory>& registry();

/// The config parsers of all modules, for config::load_config_file.
std::vector<config::ModuleConfigParser> config_parsers();

}  // namespace pforte::module
