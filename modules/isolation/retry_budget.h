// Retry budget for one upstream: retries may add at most `ratio` extra load (20% by default) over
// a sliding window, plus a small floor so that an upstream with little traffic can still retry a
// failed request. It bounds the retry storm a total outage would otherwise cause: with every
// attempt failing, each request could be retried on every server.
//
// Which requests may be retried at all (idempotent ones, on another server, before any response
// byte went downstream) is the caller's rule; the budget only answers "may one more retry go now?".
// Thread-safe (shared by the workers): a small mutex held for a few counter updates.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "modules/isolation/sliding_window.h"

namespace pforte::modules::isolation {

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

  /// Retries that would be allowed now (for the status page).
  uint64_t available(Clock::time_point now) const;

 private:
  enum Counter : size_t { kRequests = 0, kRetries = 1 };
  uint64_t allowed(Clock::time_point now) const;  // lock held

  mutable std::mutex mutex_;
  RetryBudgetPolicy policy_;
  SlidingWindow<2> window_;
};

}  // namespace pforte::modules::isolation
