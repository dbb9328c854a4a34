// Retry budget of one upstream pool: retries may add at most `ratio` extra load (20% by default)
// over a sliding window, plus a small floor so that an upstream with little traffic can still
// retry a failed request. It bounds the retry storm a total outage would otherwise cause: with
// every attempt failing, each request could be retried on every server.
//
// Which requests may be retried at all (a failed connect: nothing was sent; a connection reset
// before any response byte: idempotent requests without a body only; always on another server,
// or on a fresh connection after a stale keep-alive one) is UpstreamRequest's rule; the budget
// only answers "may one more retry go now?".
//
// Thread affinity: one per UpstreamPool, i.e. per worker and upstream; not thread-safe. The ratio
// holds for the process as it holds for each worker; the floor is per worker.
#pragma once

#include <chrono>
#include <cstdint>

#include "proxy/common/sliding_window.h"

namespace pforte::upstream {

using common::Clock;

/// How much retrying is allowed.
struct RetryBudgetPolicy {
  double ratio = 0.2;           ///< retries per original request over the window
  double min_per_second = 3.0;  ///< retries allowed whatever the traffic
  Clock::duration window = std::chrono::seconds(10);  ///< 10 buckets of window / 10
};

class RetryBudget {
 public:
  explicit RetryBudget(const RetryBudgetPolicy& policy = {});
  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  /// Counts an original request (not a retry) at `now`.
  void record_request(Clock::time_point now);

  /// Takes one retry from the budget if there is room: retries in the window stay at or below
  /// ratio × requests in the window + min_per_second × window seconds. False: do not retry.
  bool try_retry(Clock::time_point now);

  /// Retries that would be allowed now.
  uint64_t available(Clock::time_point now) const;
  /// Retries refused since the start (this budget's; UpstreamPool::try_retry exports the
  /// process-wide count as pforte_upstream_retries_refused_total).
  uint64_t refused() const { return refused_; }
  /// Retries taken since the start.
  uint64_t taken() const { return taken_; }

 private:
  enum Counter : size_t { kRequests = 0, kRetries = 1 };

  RetryBudgetPolicy policy_;
  common::SlidingWindow<2> window_;
  uint64_t taken_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace pforte::upstream
