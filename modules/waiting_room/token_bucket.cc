#include "modules/waiting_room/token_bucket.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace pforte::modules::waiting_room {

namespace {

constexpr int64_t kNsPerUs = 1000;

}  // namespace

TokenBucket::TokenBucket(double rate, double burst, int64_t now_us)
    : rate_(rate), burst_(std::max(1.0, burst)) {
  assert(rate > 0);
  interval_ns_ = std::max<int64_t>(1, std::llround(1e9 / rate));
  span_ns_ = std::llround(burst_ * static_cast<double>(interval_ns_));
  tat_ns_.store(now_us * kNsPerUs, std::memory_order_relaxed);
}

bool TokenBucket::try_take(int64_t now_us) {
  const int64_t now = now_us * kNsPerUs;
  int64_t tat = tat_ns_.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t next = std::max(tat, now) + interval_ns_;
    if (next - now > span_ns_) return false;
    if (tat_ns_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return true;
  }
}

int64_t TokenBucket::book(int64_t now_us) {
  const int64_t now = now_us * kNsPerUs;
  int64_t tat = tat_ns_.load(std::memory_order_relaxed);
  int64_t next;
  do {
    next = std::max(tat, now) + interval_ns_;
  } while (!tat_ns_.compare_exchange_weak(tat, next, std::memory_order_relaxed));
  // The token is free once next - now <= span.
  const int64_t due_ns = std::max(now, next - span_ns_);
  return (due_ns + kNsPerUs - 1) / kNsPerUs;
}

int64_t TokenBucket::backlog_us(int64_t now_us) const {
  const int64_t now = now_us * kNsPerUs;
  return std::max<int64_t>(0, tat_ns_.load(std::memory_order_relaxed) - span_ns_ - now) / kNsPerUs;
}

double TokenBucket::available(int64_t now_us) const {
  const int64_t now = now_us * kNsPerUs;
  const int64_t tat = tat_ns_.load(std::memory_order_relaxed);
  const int64_t ahead = std::max<int64_t>(0, tat - now);
  return std::max(0.0, burst_ - static_cast<double>(ahead) / static_cast<double>(interval_ns_));
}

int64_t TokenBucket::full_ns_between(int64_t since_us, int64_t now_us) const {
  const int64_t tat = tat_ns_.load(std::memory_order_relaxed);
  const int64_t from = std::max(tat, since_us * kNsPerUs);
  return std::max<int64_t>(0, now_us * kNsPerUs - from);
}

void TokenBucket::set_available(double tokens, int64_t now_us, int64_t backlog_us) {
  tokens = std::clamp(tokens, 0.0, burst_);
  const int64_t ahead = std::llround((burst_ - tokens) * static_cast<double>(interval_ns_)) +
                        std::max<int64_t>(0, backlog_us) * kNsPerUs;
  tat_ns_.store(now_us * kNsPerUs + ahead, std::memory_order_relaxed);
}

}  // namespace pforte::modules::waiting_room
