// Bulkhead for one upstream: at most `max_connections` requests in flight to it and at most
// `max_pending` waiting for a turn; anything beyond is answered at once by the caller (stale copy
// or 503 with Retry-After), never queued without bound. Admission is an RAII guard, so every exit
// path of a request gives its place back.
//
// Only counters live here; the queue of waiting requests (and waking the first one when a guard
// is released) belongs to the core. Lock-free and shared by all workers: both counters are
// atomics updated by compare-and-swap, so a limit is never overshot, not even briefly.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace pforte::modules::isolation {

class Bulkhead {
 public:
  /// Holds one place of a counter; gives it back on destruction. Move-only. The bulkhead must
  /// outlive its guards.
  class Guard {
   public:
    Guard(Guard&& other) noexcept : counter_(other.counter_) { other.counter_ = nullptr; }
    Guard& operator=(Guard&& other) noexcept;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { release(); }
    /// Gives the place back early.
    void release();

   private:
    friend class Bulkhead;
    explicit Guard(std::atomic<uint32_t>* counter) : counter_(counter) {}
    std::atomic<uint32_t>* counter_;
  };

  Bulkhead(uint32_t max_connections, uint32_t max_pending);
  Bulkhead(const Bulkhead&) = delete;
  Bulkhead& operator=(const Bulkhead&) = delete;

  /// A place among the requests in flight, or nullopt when `max_connections` are in flight.
  std::optional<Guard> try_acquire();
  /// A place among the waiting requests, or nullopt when `max_pending` already wait: then the
  /// request must be answered at once. A waiting request keeps this guard until try_acquire()
  /// succeeds for it (or it gives up).
  std::optional<Guard> try_enqueue();

  uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  uint32_t pending() const { return pending_.load(std::memory_order_relaxed); }
  uint32_t max_connections() const { return max_connections_.load(std::memory_order_relaxed); }
  uint32_t max_pending() const { return max_pending_.load(std::memory_order_relaxed); }

  /// New limits (config reload). Places already taken beyond a lowered limit stay until released.
  void set_limits(uint32_t max_connections, uint32_t max_pending);

 private:
  static bool take(std::atomic<uint32_t>& counter, uint32_t limit);

  std::atomic<uint32_t> in_flight_{0};
  std::atomic<uint32_t> pending_{0};
  std::atomic<uint32_t> max_connections_;
  std::atomic<uint32_t> max_pending_;
};

}  // namespace pforte::modules::isolation
