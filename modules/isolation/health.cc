#include "modules/isolation/health.h"

#include <algorithm>

namespace pforte::modules::isolation {

HealthPolicy HealthPolicy::from_config(const config::HealthConfig& c) {
  HealthPolicy p;
  p.fall = c.fall;
  p.rise = c.rise;
  return p;
}

ServerHealth::ServerHealth(const HealthPolicy& policy) : policy_(policy) {}

HealthChange ServerHealth::record_check(bool ok) {
  std::lock_guard lock(mutex_);
  bool up = check_up_.load(std::memory_order_relaxed);
  if (ok == up) {
    check_streak_ = 0;
    return HealthChange::kNone;
  }
  ++check_streak_;
  if (check_streak_ < std::max<uint32_t>(up ? policy_.fall : policy_.rise, 1))
    return HealthChange::kNone;
  check_streak_ = 0;
  check_up_.store(ok, std::memory_order_relaxed);
  return ok ? HealthChange::kWentUp : HealthChange::kWentDown;
}

void ServerHealth::record_success() {
  std::lock_guard lock(mutex_);
  failure_streak_ = 0;
  ejections_ = 0;
}

HealthChange ServerHealth::record_failure(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto until = Clock::time_point(Clock::duration(ejected_until_.load(std::memory_order_relaxed)));
  if (now < until) return HealthChange::kNone;  // a request that started before the ejection
  ++failure_streak_;
  // On probation after an ejection, one failure is enough.
  if (ejections_ == 0 && failure_streak_ < std::max<uint32_t>(policy_.eject_after, 1))
    return HealthChange::kNone;
  auto period = policy_.eject_base;
  for (uint32_t i = 0; i < ejections_ && period < policy_.eject_max; ++i) period *= 2;
  period = std::min(period, policy_.eject_max);
  ejections_ = std::min<uint32_t>(ejections_ + 1, 64);
  failure_streak_ = 0;
  ejected_until_.store((now + period).time_since_epoch().count(), std::memory_order_relaxed);
  return HealthChange::kEjected;
}

bool ServerHealth::is_up(Clock::time_point now) const {
  return check_up_.load(std::memory_order_relaxed) &&
         now.time_since_epoch().count() >= ejected_until_.load(std::memory_order_relaxed);
}

Clock::time_point ServerHealth::ejected_until() const {
  return Clock::time_point(Clock::duration(ejected_until_.load(std::memory_order_relaxed)));
}

void ServerHealth::set_policy(const HealthPolicy& policy) {
  std::lock_guard lock(mutex_);
  policy_ = policy;
}

}  // namespace pforte::modules::isolation
