#include "proxy/upstream/retry_budget.h"

#include <algorithm>
#include <cmath>

namespace pforte::upstream {

RetryBudget::RetryBudget(const RetryBudgetPolicy& policy)
    : policy_(policy), window_(policy.window) {}

void RetryBudget::record_request(Clock::time_point now) {
  window_.add(kRequests, 1, now);
}

uint64_t RetryBudget::available(Clock::time_point now) const {
  auto totals = window_.totals(now);
  double seconds = std::chrono::duration<double>(policy_.window).count();
  double limit =
      policy_.ratio * static_cast<double>(totals[kRequests]) + policy_.min_per_second * seconds;
  auto cap = static_cast<uint64_t>(std::floor(std::max(limit, 0.0)));
  return cap > totals[kRetries] ? cap - totals[kRetries] : 0;
}

bool RetryBudget::try_retry(Clock::time_point now) {
  if (available(now) == 0) {
    ++refused_;
    return false;
  }
  window_.add(kRetries, 1, now);
  ++taken_;
  return true;
}

}  // namespace pforte::upstream
