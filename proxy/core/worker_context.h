// What an exchange needs from the worker that owns it. Implemented by server::Worker; an
// interface so that the core is testable without threads. Worker thread only.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/common/reaper.h"
#include "proxy/common/timeouts.h"
#include "proxy/config/config.h"
#include "proxy/core/access_log.h"
#include "proxy/module/module.h"
#include "proxy/upstream/pool.h"

namespace pforte::core {

/// Who is on the other end of a client connection.
struct PeerInfo {
  std::string address;  ///< client IP as text
  bool tls = false;     ///< the connection is TLS
  bool admin = false;   ///< the connection came in on the admin listener
};

/// One config generation as a worker runs it: the snapshot with the module states, and this
/// worker's module instances and upstream pools for it. Exchanges hold it until they end, so a
/// reload never pulls anything from under them. Worker thread only (destroyed there too).
struct WorkerGeneration {
  std::shared_ptr<const module::Generation> generation;
  std::vector<std::unique_ptr<module::Module>> modules;  ///< chain order
  /// By upstream index. Shared with the next generation when the upstream is unchanged, so its
  /// keep-alive connections and down-marks survive a reload.
  std::vector<std::shared_ptr<upstream::UpstreamPool>> pools;
  /// pforte_requests_total{route,code} by (route << 16 | code), looked up once per pair.
  std::unordered_map<uint64_t, module::Counter*> request_counters;
  const config::Config& config() const { return *generation->config; }
};

/// A client connection speaking one protocol (HTTP/1.1 or HTTP/2). Owned by the worker.
class Session {
 public:
  virtual ~Session() = default;
  /// Begins serving; the session owns its bufferevent from here on.
  virtual void start() = 0;
  /// Graceful stop: finish what is in flight, accept no new requests, then close.
  virtual void begin_drain() = 0;
  /// Immediate stop.
  virtual void close_now() = 0;
};

class WorkerContext {
 public:
  virtual ~WorkerContext() = default;
  virtual event_base* base() = 0;
  virtual Reaper& reaper() = 0;
  /// Common-timeout timevals of this worker's event base.
  virtual CommonTimeouts& timeouts() = 0;
  /// The current generation (new exchanges start with it).
  virtual const std::shared_ptr<WorkerGeneration>& generation() = 0;
  /// The current config snapshot.
  const config::Config& config() { return generation()->config(); }
  /// Internal fetches and the event loop, for modules.
  virtual module::WorkerServices& services() = 0;
  virtual AccessLog& access_log() = 0;
  /// True once a graceful stop began (responses should ask clients to close).
  virtual bool draining() const = 0;
  /// The session is done: the worker releases it (deferred) and updates connection counts.
  virtual void session_closed(Session* session) = 0;
  /// A cleartext connection opened with the HTTP/2 preface: serve it as HTTP/2 from now on.
  /// `bev` still holds the preface in its input.
  virtual void start_h2(Session* replaced, BuffereventPtr bev, PeerInfo peer) = 0;
};

}  // namespace pforte::core
