#include "bench/origin/state.h"

#include <cstdio>

namespace pforte::origin {

bool LoginGate::try_acquire() {
  if (capacity_ == 0) {
    in_flight_.fetch_add(1, std::memory_order_acq_rel);
    return true;
  }
  uint64_t current = in_flight_.load(std::memory_order_relaxed);
  while (current < capacity_) {
    if (in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel)) {
      return true;
    }
  }
  return false;
}

uint64_t LoginStats::served(int64_t now) {
  served_.fetch_add(1, std::memory_order_relaxed);
  constexpr uint64_t kMask = (uint64_t{1} << kCountBits) - 1;
  const uint64_t second = static_cast<uint64_t>(now);
  uint64_t current = window_.load(std::memory_order_relaxed);
  uint64_t next = 0;
  do {
    uint64_t count = (current >> kCountBits) == second ? (current & kMask) : 0;
    if (count < kMask) ++count;
    next = (second << kCountBits) | count;
  } while (!window_.compare_exchange_weak(current, next, std::memory_order_relaxed));
  const uint64_t count = next & kMask;
  uint64_t peak = peak_.load(std::memory_order_relaxed);
  while (count > peak && !peak_.compare_exchange_weak(peak, count, std::memory_order_relaxed)) {
  }
  return user_seq_.fetch_add(1, std::memory_order_relaxed) + 1;
}

void LoginStats::reset() {
  served_.store(0, std::memory_order_relaxed);
  rejected_.store(0, std::memory_order_relaxed);
  peak_.store(0, std::memory_order_relaxed);
  window_.store(0, std::memory_order_relaxed);
}

Origin::Origin(Options opts)
    : options(std::move(opts)),
      blog(options.blog_mode, options.blog_delay_ms),
      login_gate(options.login_capacity) {
  for (int i = 0; i < options.threads; ++i) counters.push_back(std::make_unique<WorkerCounters>());
}

std::string Origin::stats_json() const {
  static constexpr const char* kNames[kPathClassCount] = {
      "static", "bytes", "home", "news", "login", "echo", "upload", "headers", "cc", "other"};
  uint64_t requests = 0;
  uint64_t connections = 0;
  uint64_t paths[kPathClassCount] = {};
  for (const auto& c : counters) {
    requests += c->requests.load(std::memory_order_relaxed);
    connections += c->connections.load(std::memory_order_relaxed);
    for (int i = 0; i < kPathClassCount; ++i)
      paths[i] += c->paths[i].load(std::memory_order_relaxed);
  }
  char buf[256];
  std::string out;
  out.reserve(1024);
  std::snprintf(buf, sizeof buf, "{\"requests\":%llu,\"connections\":%llu,\"paths\":{",
                static_cast<unsigned long long>(requests),
                static_cast<unsigned long long>(connections));
  out += buf;
  for (int i = 0; i < kPathClassCount; ++i) {
    std::snprintf(buf, sizeof buf, "%s\"%s\":%llu", i ? "," : "", kNames[i],
                  static_cast<unsigned long long>(paths[i]));
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "},\"login\":{\"served\":%llu,\"rejected\":%llu,\"peak_per_second\":%llu,"
                "\"in_flight\":%llu,\"waiting\":%lld,\"capacity\":%llu},",
                static_cast<unsigned long long>(login_stats.served_count()),
                static_cast<unsigned long long>(login_stats.rejected_count()),
                static_cast<unsigned long long>(login_stats.peak_per_second()),
                static_cast<unsigned long long>(login_gate.in_flight()),
                static_cast<long long>(login_stats.waiting()),
                static_cast<unsigned long long>(options.login_capacity));
  out += buf;
  std::snprintf(buf, sizeof buf,
                "\"blog\":{\"mode\":\"%s\",\"delay_ms\":%llu},\"news_served\":%llu}\n",
                std::string(blog_mode_name(blog.mode())).c_str(),
                static_cast<unsigned long long>(blog.delay_ms()),
                static_cast<unsigned long long>(news_served.load(std::memory_order_relaxed)));
  out += buf;
  return out;
}

void Origin::reset() {
  for (auto& c : counters) {
    c->requests.store(0, std::memory_order_relaxed);
    c->connections.store(0, std::memory_order_relaxed);
    for (auto& p : c->paths) p.store(0, std::memory_order_relaxed);
  }
  login_stats.reset();
  news_served.store(0, std::memory_order_relaxed);
}

}  // namespace pforte::origin
