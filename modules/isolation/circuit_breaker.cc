#include "modules/isolation/circuit_breaker.h"

#include <utility>

namespace pforte::modules::isolation {

CircuitBreakerPolicy CircuitBreakerPolicy::from_config(const config::CircuitBreakerConfig& c) {
  CircuitBreakerPolicy p;
  p.failure_ratio = c.failure_ratio;
  p.min_requests = c.min_requests;
  p.window = c.window;
  p.open_for = c.open_for;
  return p;
}

CircuitBreaker::Permit::Permit(Permit&& other) noexcept
    : breaker_(std::exchange(other.breaker_, nullptr)),
      generation_(other.generation_),
      allowed_(other.allowed_),
      probe_(other.probe_) {}

CircuitBreaker::Permit& CircuitBreaker::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    release();
    breaker_ = std::exchange(other.breaker_, nullptr);
    generation_ = other.generation_;
    allowed_ = other.allowed_;
    probe_ = other.probe_;
  }
  return *this;
}

CircuitBreaker::Permit::~Permit() {
  release();
}

void CircuitBreaker::Permit::release() {
  if (breaker_ != nullptr && probe_) breaker_->release_probe(generation_);
  breaker_ = nullptr;
}

CircuitBreaker::CircuitBreaker(const CircuitBreakerPolicy& policy)
    : policy_(policy), window_(policy.window) {}

CircuitBreaker::Permit CircuitBreaker::allow(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (state_ == State::kOpen) {
    if (now < open_until_) return Permit{};
    transition(State::kHalfOpen, now);
  }
  if (state_ == State::kHalfOpen) {
    if (probes_in_flight_ >= policy_.max_probes) return Permit{};
    ++probes_in_flight_;
    return Permit{this, generation_, true};
  }
  return Permit{this, generation_, false};
}

void CircuitBreaker::record(Permit& permit, bool success, Clock::time_point now) {
  if (permit.breaker_ != this) return;  // denied, already recorded, or another breaker's
  permit.breaker_ = nullptr;
  std::lock_guard lock(mutex_);
  if (permit.generation_ != generation_) return;  // issued before the last state change
  if (permit.probe_) {
    // Same generation, so the breaker is still half-open.
    --probes_in_flight_;
    if (!success) {
      transition(State::kOpen, now);
    } else if (++probe_successes_ >= policy_.close_after) {
      transition(State::kClosed, now);
    }
    return;
  }
  window_.add(success ? kSuccesses : kFailures, 1, now);
  if (success) return;
  auto totals = window_.totals(now);
  uint64_t results = totals[kSuccesses] + totals[kFailures];
  if (results < policy_.min_requests) return;
  if (static_cast<double>(totals[kFailures]) >=
      policy_.failure_ratio * static_cast<double>(results))
    transition(State::kOpen, now);
}

void CircuitBreaker::release_probe(uint64_t generation) {
  std::lock_guard lock(mutex_);
  if (generation == generation_ && state_ == State::kHalfOpen && probes_in_flight_ > 0)
    --probes_in_flight_;
}

void CircuitBreaker::transition(State to, Clock::time_point now) {
  state_ = to;
  ++generation_;
  probes_in_flight_ = 0;
  probe_successes_ = 0;
  // Every period judges afresh: failures from before an opening must not reopen a breaker that
  // has just closed.
  window_.clear();
  if (to == State::kOpen) open_until_ = now + policy_.open_for;
}

CircuitBreaker::State CircuitBreaker::state(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  if (state_ == State::kOpen && now >= open_until_) return State::kHalfOpen;
  return state_;
}

Clock::duration CircuitBreaker::retry_after(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  if (state_ != State::kOpen || now >= open_until_) return Clock::duration::zero();
  return open_until_ - now;
}

void CircuitBreaker::set_policy(const CircuitBreakerPolicy& policy) {
  std::lock_guard lock(mutex_);
  policy_ = policy;
  window_ = SlidingWindow<2>(policy.window);
}

}  // namespace pforte::modules::isolation
