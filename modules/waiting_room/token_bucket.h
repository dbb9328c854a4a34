// A rate/burst token bucket, kept as one atomic "theoretical arrival time" (GCRA): the bucket is
// full when tat <= now, and taking a token moves tat one interval (1/rate) later. That is a
// fractional refill by time in one word: no timer, no refill loop, and lock-free, so one bucket
// can be shared by all workers of a room.
//
// Pure: the clock is passed in as microseconds (any epoch, as long as the caller keeps one; the
// waiting room uses unix time). Thread affinity: any thread; all members are atomic.
#pragma once

#include <atomic>
#include <cstdint>

namespace pforte::modules::waiting_room {

class TokenBucket {
 public:
  /// A full bucket of `burst` tokens (at least 1) refilled at `rate` tokens per
  /// second (> 0).
  TokenBucket(double rate, double burst, int64_t now_us);

  /// Takes one token if there is one at `now_us`.
  bool try_take(int64_t now_us);
  /// Takes the next token even if it is not there yet and returns the time (unix µs, >= now_us) at
  /// which it falls due: a booking. Bookings are served in the order they are made, one per 1/rate
  /// after the bucket runs dry, and try_take() fails until they are all due, so bookings and
  /// takes together never exceed rate × T + burst over any span T.
  int64_t book(int64_t now_us);
  /// Microseconds of booked tokens not yet due at `now_us` (how long the bookings hold the bucket
  /// empty): 0 unless bookings are outstanding.
  int64_t backlog_us(int64_t now_us) const;
  /// Tokens available at `now_us` (fractional), in [0, burst].
  double available(int64_t now_us) const;
  /// Nanoseconds at `now_us` during which the bucket has been full since
  /// `since_us`, i.e. the time whose refill was lost to the burst cap. The
  /// waiting room turns that lost capacity into calling more tickets.
  int64_t full_ns_between(int64_t since_us, int64_t now_us) const;
  /// Sets the fill level (for restoring saved state); `backlog_us` > 0 (with tokens 0) restores
  /// bookings not yet due, as backlog_us() reported them.
  void set_available(double tokens, int64_t now_us, int64_t backlog_us = 0);

  double rate() const { return rate_; }
  double burst() const { return burst_; }

 private:
  double rate_;
  double burst_;
  int64_t interval_ns_;  ///< 1/rate
  int64_t span_ns_;      ///< burst × interval: how far tat may run ahead of now
  /// Theoretical arrival time in ns: the bucket is full when tat <= now, empty
  /// when tat >= now + span.
  std::atomic<int64_t> tat_ns_;
};

}  // namespace pforte::modules::waiting_room
