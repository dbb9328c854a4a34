// Isolation: bulkheads, circuit breakers and server health per upstream, so that a slow or failing
// upstream is answered for at once instead of tying up the proxy (DESIGN.md, "Isolation").
//
// Phases (order 40, after the cache, which may answer first from a stale copy):
//   request        the breaker of the route's upstream must allow the request (else 503 with
//                  Retry-After = the rest of `open_for`); then the bulkhead: a place among
//                  `max_connections` in flight, else a place among `max_pending` waiting (the
//                  request is suspended until a place frees, at most the upstream's
//                  connect_timeout), else 503 with Retry-After at once.
//   upstream_error the attempt failed (connect, timeout, reset, bad response): a failure for the
//                  breaker and for the server's passive health.
//   response_head  the first head of an admitted request: a 5xx is a failure, anything else a
//                  success.
//   log            a request sent to a server and given up before its head: at the caller's
//                  deadline (an ESI include that missed its fragment timeout) a failure like a
//                  timeout, so a hung upstream reached only through fragments opens its breaker
//                  and is ejected; a client that left is counted but is no verdict. Then gives
//                  the bulkhead place back (exactly once per exchange) and wakes a waiter.
//
// Process-wide state (IsolationShared, one UpstreamState per upstream, kept across a reload when
// the upstream's name and servers match): the bulkhead counters and breaker, and per server a
// ServerHealth whose verdict is published to the core's health board
// (proxy/module/upstream_health.h), which the pools consult on every server choice. Worker 0's
// instance runs the active health checks of upstreams with a `health` table.
//
// Metrics: pforte_upstream_requests_total{upstream,outcome} (ok, 5xx, error, timeout, abandoned,
// client_left, bulkhead_full, queue_timeout, breaker_open), pforte_circuit_open{upstream},
// pforte_upstream_healthy{upstream,server}, pforte_upstream_in_flight{upstream},
// pforte_upstream_pending{upstream}. Status: per upstream the breaker, in-flight and pending
// counts and per server the health.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "modules/isolation/bulkhead.h"
#include "modules/isolation/circuit_breaker.h"
#include "modules/isolation/health.h"
#include "proxy/module/module.h"
#include "proxy/module/upstream_health.h"

namespace pforte::modules::isolation {

/// Why a request to an upstream ended as it did (the `outcome` label).
enum class Outcome : uint8_t {
  kOk,            ///< a response below 500
  k5xx,           ///< a 5xx response
  kError,         ///< connect failure, reset, invalid response
  kTimeout,       ///< no response head within response_timeout
  kBulkheadFull,  ///< answered 503: max_connections in flight and max_pending waiting
  kQueueTimeout,  ///< answered 503: waited for a place longer than connect_timeout
  kBreakerOpen,   ///< answered 503: the circuit breaker is open
  kAbandoned,     ///< given up before the head at the caller's deadline (an include too late)
  kClientLeft,    ///< the client left before the head (no verdict on the upstream)
};
inline constexpr size_t kOutcomes = 9;
std::string_view outcome_name(Outcome o);

/// One server of an upstream.
struct ServerState {
  std::string address;  ///< as written in the config
  bool backup = false;
  ServerHealth health;
  module::ServerHealthFlags* board = nullptr;  ///< where the pools read the verdict

  ServerState(std::string address, bool backup, const HealthPolicy& policy);
  /// Copies the health verdict to the board. Any thread.
  void publish() const;
};

class WaitList;

/// The process-wide state of one upstream. Thread-safe.
class UpstreamState {
 public:
  explicit UpstreamState(const config::UpstreamConfig& config);
  /// The same upstream as far as kept state goes: same name, servers and backups.
  bool matches(const config::UpstreamConfig& config) const;
  /// Takes the limits and policies of `config` (a reload), keeping the state.
  void configure(const config::UpstreamConfig& config);

  const std::string& name() const { return name_; }
  Bulkhead& bulkhead() { return bulkhead_; }
  const Bulkhead& bulkhead() const { return bulkhead_; }
  CircuitBreaker& breaker() { return breaker_; }
  const CircuitBreaker& breaker() const { return breaker_; }
  bool breaker_enabled() const { return breaker_enabled_.load(std::memory_order_relaxed); }
  Millis queue_timeout() const { return Millis(queue_timeout_ms_.load(std::memory_order_relaxed)); }
  /// Servers, then backups, in config order.
  const std::vector<std::unique_ptr<ServerState>>& servers() const { return servers_; }
  /// The server with this address, or null.
  ServerState* server(std::string_view address) const;
  void count(Outcome o) { outcomes_[static_cast<size_t>(o)]->add(); }

  /// A worker's list of requests waiting for this upstream's bulkhead.
  void add_wait_list(std::weak_ptr<WaitList> list);
  /// A place was given back: tells the workers with waiting requests (posted, never inline).
  void wake_waiters();

 private:
  std::string name_;
  std::vector<std::string> addresses_;
  Bulkhead bulkhead_;
  CircuitBreaker breaker_;
  std::atomic<bool> breaker_enabled_{false};
  std::atomic<int64_t> queue_timeout_ms_{1000};
  std::vector<std::unique_ptr<ServerState>> servers_;
  module::Counter* outcomes_[kOutcomes] = {};
  std::mutex wait_mutex_;
  std::vector<std::weak_ptr<WaitList>> wait_lists_;
};

/// All upstreams of one config generation, by upstream index.
class IsolationShared : public module::ModuleShared {
 public:
  /// Builds the state for `config`, keeping the upstreams of `previous` that match.
  IsolationShared(const config::Config& config, const IsolationShared* previous);
  const std::shared_ptr<UpstreamState>& upstream(size_t index) const { return upstreams_[index]; }
  size_t upstream_count() const { return upstreams_.size(); }

  void write_metrics(module::MetricsWriter& out) const override;
  void write_status_json(std::string& out) const override;
  void write_status_html(std::string& out) const override;

 private:
  std::vector<std::shared_ptr<UpstreamState>> upstreams_;
};

module::ModuleFactory isolation_factory();

}  // namespace pforte::modules::isolation
