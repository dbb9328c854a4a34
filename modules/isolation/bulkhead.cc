#include "modules/isolation/bulkhead.h"

namespace pforte::modules::isolation {

Bulkhead::Guard& Bulkhead::Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    release();
    counter_ = other.counter_;
    other.counter_ = nullptr;
  }
  return *this;
}

void Bulkhead::Guard::release() {
  if (counter_ != nullptr) counter_->fetch_sub(1, std::memory_order_release);
  counter_ = nullptr;
}

Bulkhead::Bulkhead(uint32_t max_connections, uint32_t max_pending)
    : max_connections_(max_connections), max_pending_(max_pending) {}

bool Bulkhead::take(std::atomic<uint32_t>& counter, uint32_t limit) {
  uint32_t current = counter.load(std::memory_order_relaxed);
  do {
    if (current >= limit) return false;
  } while (!counter.compare_exchange_weak(current, current + 1, std::memory_order_acquire,
                                          std::memory_order_relaxed));
  return true;
}

std::optional<Bulkhead::Guard> Bulkhead::try_acquire() {
  if (!take(in_flight_, max_connections())) return std::nullopt;
  return Guard(&in_flight_);
}

std::optional<Bulkhead::Guard> Bulkhead::try_enqueue() {
  if (!take(pending_, max_pending())) return std::nullopt;
  return Guard(&pending_);
}

void Bulkhead::set_limits(uint32_t max_connections, uint32_t max_pending) {
  max_connections_.store(max_connections, std::memory_order_relaxed);
  max_pending_.store(max_pending, std::memory_order_relaxed);
}

}  // namespace pforte::modules::isolation
