// State shared by every worker of pforte-origin: counters, the blog switch and the login gate.
// Every member is an atomic or immutable, so any worker thread may use it without a lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/origin/options.h"

namespace pforte::origin {

// Which counter of /_origin/stats a request path adds to.
enum class PathClass : int {
  kStatic,
  kBytes,
  kHome,
  kNews,
  kLogin,
  kEcho,
  kUpload,
  kHeaders,
  kOther,
};
inline constexpr int kPathClassCount = 9;

// Counters one worker bumps; on their own cache lines so workers never share a line.
struct alignas(64) WorkerCounters {
  std::atomic<uint64_t> requests{0};                           // request heads parsed
  std::atomic<uint64_t> connections{0};                        // connections accepted
  std::array<std::atomic<uint64_t>, kPathClassCount> paths{};  // requests by PathClass
};

// The /news/latest behaviour; POST /_origin/blog changes it from any thread.
class BlogControl {
 public:
  BlogControl(BlogMode mode, uint64_t delay_ms)
      : mode_(static_cast<int>(mode)), delay_ms_(delay_ms) {}
  BlogMode mode() const { return static_cast<BlogMode>(mode_.load(std::memory_order_relaxed)); }
  uint64_t delay_ms() const { return delay_ms_.load(std::memory_order_relaxed); }
  void set(BlogMode mode, uint64_t delay_ms) {
    delay_ms_.store(delay_ms, std::memory_order_relaxed);
    mode_.store(static_cast<int>(mode), std::memory_order_relaxed);
  }

 private:
  std::atomic<int> mode_;
  std::atomic<uint64_t> delay_ms_;
};

// Admission for POST /login: at most `capacity` logins in flight across all workers.
class LoginGate {
 public:
  explicit LoginGate(uint64_t capacity) : capacity_(capacity) {}
  // Takes a slot; false when all are taken. Any thread.
  bool try_acquire();
  // Gives back a slot taken by try_acquire(). Any thread.
  void release() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }
  uint64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  const uint64_t capacity_;  // 0 = unlimited
  std::atomic<uint64_t> in_flight_{0};
};

// Login outcomes, aggregated over all workers.
class LoginStats {
 public:
  // Records one login answered with 200 at wall-clock second `now`; returns its user number.
  uint64_t served(int64_t now);
  void rejected() { rejected_.fetch_add(1, std::memory_order_relaxed); }
  void waiting_delta(int64_t delta) { waiting_.fetch_add(delta, std::memory_order_relaxed); }
  void reset();

  uint64_t served_count() const { return served_.load(std::memory_order_relaxed); }
  uint64_t rejected_count() const { return rejected_.load(std::memory_order_relaxed); }
  uint64_t peak_per_second() const { return peak_.load(std::memory_order_relaxed); }
  int64_t waiting() const { return waiting_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kCountBits = 24;
  std::atomic<uint64_t> served_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> peak_{0};
  std::atomic<uint64_t> user_seq_{0};  // never reset, so user numbers stay unique
  std::atomic<int64_t> waiting_{0};    // requests queued for a slot (overload "slow")
  // (second << kCountBits) | logins completed in that second.
  std::atomic<uint64_t> window_{0};
};

// Everything the workers share; built before they start, destroyed after they stop.
struct Origin {
  explicit Origin(Options opts);

  const Options options;                                  // as parsed, immutable
  BlogControl blog;                                       // current /news/latest behaviour
  LoginGate login_gate;                                   // login admission
  LoginStats login_stats;                                 // login outcomes
  std::atomic<uint64_t> news_served{0};                   // counter shown in the news fragment
  std::atomic<int> health_status{200};                    // what GET /health answers
  std::vector<std::unique_ptr<WorkerCounters>> counters;  // one per worker, fixed size

  // /_origin/stats body.
  std::string stats_json() const;
  // POST /_origin/reset: zero every counter (not the blog mode, not logins in flight).
  void reset();
};

}  // namespace pforte::origin
