// A bucketed sliding window of event counts: the upstream retry budget and the isolation module's
// circuit breaker and passive health count with it.
// Pure (the caller passes `now`) and not thread-safe: its owners lock around it.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace pforte::common {

using Clock = std::chrono::steady_clock;

/// Counts `kCounters` kinds of events (e.g. successes and failures) over the last `window`,
/// kept in `kBuckets` buckets of window / kBuckets each. The oldest bucket ages out as a whole,
/// so the counted span is between (kBuckets - 1) / kBuckets of the window and the whole window.
/// A sample older than the whole window (possible when threads report out of order) is dropped.
template <size_t kCounters, size_t kBuckets = 10>
class SlidingWindow {
 public:
  using Counts = std::array<uint64_t, kCounters>;

  explicit SlidingWindow(Clock::duration window)
      : width_(std::max<Clock::duration>(window / kBuckets, Clock::duration{1})) {}

  /// Adds `n` events of kind `counter` at `now`.
  void add(size_t counter, uint64_t n, Clock::time_point now) {
    int64_t index = bucket_index(now);
    Bucket& b = buckets_[slot(index)];
    if (b.index > index) return;  // the slot already holds a newer bucket: too old to count
    if (b.index < index) b = Bucket{index, {}};
    b.counts[counter] += n;
  }

  /// The counts of every bucket still inside the window at `now`.
  Counts totals(Clock::time_point now) const {
    int64_t oldest = bucket_index(now) - static_cast<int64_t>(kBuckets) + 1;
    Counts sum{};
    for (const Bucket& b : buckets_) {
      if (b.index < oldest) continue;
      for (size_t i = 0; i < kCounters; ++i) sum[i] += b.counts[i];
    }
    return sum;
  }

  /// Forgets every event.
  void clear() { buckets_ = {}; }

  /// The span of one bucket.
  Clock::duration bucket_width() const { return width_; }

 private:
  struct Bucket {
    int64_t index = std::numeric_limits<int64_t>::min();  ///< which bucket of time it counts
    Counts counts{};
  };

  int64_t bucket_index(Clock::time_point now) const {
    auto ticks = now.time_since_epoch().count();
    auto w = width_.count();
    // Floor division, so times before the clock's epoch still fall into distinct buckets.
    auto q = ticks / w;
    if (ticks % w != 0 && ticks < 0) --q;
    return static_cast<int64_t>(q);
  }
  static size_t slot(int64_t index) {
    auto m = index % static_cast<int64_t>(kBuckets);
    return static_cast<size_t>(m < 0 ? m + static_cast<int64_t>(kBuckets) : m);
  }

  Clock::duration width_;
  std::array<Bucket, kBuckets> buckets_{};
};

}  // namespace pforte::common
