// Circuit breaker for one upstream: counts request outcomes over a sliding window and, once the
// failure ratio is reached (with enough requests to judge), fails fast for `open_for`; then lets a
// few probe requests through and closes again when they succeed. Pure: the caller passes `now` and
// decides what counts as a failure (connect error, timeout, 5xx).
//
// Shared by all workers (one breaker per upstream): every member function is thread-safe. State
// sits behind a small mutex held only for a few counter updates, never across I/O; `state()` and
// the fast path of a closed breaker's `allow()` still take it, which is cheap next to a request.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "proxy/common/sliding_window.h"
#include "proxy/config/config.h"

namespace pforte::modules::isolation {

using common::Clock;
using common::SlidingWindow;

/// How a breaker trips and recovers.
struct CircuitBreakerPolicy {
  double failure_ratio = 0.5;  ///< open when failures / results in the window reach this
  uint32_t min_requests = 20;  ///< ... and the window holds at least this many results
  Clock::duration window = std::chrono::seconds(10);   ///< 10 buckets of window / 10
  Clock::duration open_for = std::chrono::seconds(5);  ///< failing fast before probing
  uint32_t max_probes = 2;   ///< half-open: probe requests in flight at once
  uint32_t close_after = 3;  ///< half-open: successful probes that close the breaker

  /// The operator's `circuit_breaker` table; probe numbers keep their defaults.
  static CircuitBreakerPolicy from_config(const config::CircuitBreakerConfig& c);
};

class CircuitBreaker {
 public:
  enum class State : uint8_t {
    kClosed,    ///< requests pass; outcomes are counted
    kOpen,      ///< requests fail fast until `open_for` has passed
    kHalfOpen,  ///< only a few probes pass; their outcomes decide
  };

  /// The answer of allow(): whether the request may go upstream and, if so, the ticket to hand
  /// back to record(). Move-only. A probe permit that is dropped without record() (the request
  /// was abandoned) frees its probe slot without counting as success or failure, so the breaker
  /// must outlive its permits.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept;
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit();

    explicit operator bool() const { return allowed_; }
    /// True for a half-open probe.
    bool probe() const { return probe_; }

   private:
    friend class CircuitBreaker;
    Permit(CircuitBreaker* breaker, uint64_t generation, bool probe)
        : breaker_(breaker), generation_(generation), allowed_(true), probe_(probe) {}
    void release();

    CircuitBreaker* breaker_ = nullptr;  ///< set while an outcome is still owed
    uint64_t generation_ = 0;            ///< the breaker period it was issued in
    bool allowed_ = false;
    bool probe_ = false;
  };

  explicit CircuitBreaker(const CircuitBreakerPolicy& policy);
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// May a request go upstream now? An open breaker whose `open_for` has passed turns half-open
  /// here and hands out up to `max_probes` probe permits at a time.
  Permit allow(Clock::time_point now);

  /// Reports the outcome of a permitted request and consumes the permit. Outcomes of requests
  /// admitted in an earlier period (before the breaker last changed state) are ignored: they say
  /// nothing about the server as it is now.
  void record(Permit& permit, bool success, Clock::time_point now);

  /// The state at `now` (an expired open state reads as half-open).
  State state(Clock::time_point now) const;

  /// How long an open breaker will keep failing fast (for Retry-After); zero otherwise.
  Clock::duration retry_after(Clock::time_point now) const;

  /// Replaces the policy (config reload) keeping the state; the window restarts empty.
  void set_policy(const CircuitBreakerPolicy& policy);

 private:
  enum Counter : size_t { kSuccesses = 0, kFailures = 1 };

  void transition(State to, Clock::time_point now);  // lock held
  void release_probe(uint64_t generation);

  mutable std::mutex mutex_;
  CircuitBreakerPolicy policy_;
  State state_ = State::kClosed;
  uint64_t generation_ = 0;       ///< bumped on every state change; stamps permits
  Clock::time_point open_until_;  ///< while open: when probing may start
  uint32_t probes_in_flight_ = 0;
  uint32_t probe_successes_ = 0;
  SlidingWindow<2> window_;  ///< closed state only: successes and failures
};

}  // namespace pforte::modules::isolation
