// When a waiting visitor should come back: the base refresh interval stretched or shrunk at
// random, so that a crowd that arrived in the same second does not return in the same second; but
// never much after the visitor's turn: one whose turn comes before that comes back just after it,
// spread over at most a second (the spread of their tickets' turns keeps them apart). Never below
// a floor, so a visitor at the door does not hammer the edge.
//
//   far   = refresh × U(1 − jitter, 1 + jitter)
//   near  = eta + min(kNearSpreadS, jitter × eta) × U(0, 1)
//   delay = max(floor, min(far, near))
//
// Coming back late costs the visitor their place to those called after them (admission by ticket
// is first come, first served among the called), so lateness is what this bounds.
//
// Pure and deterministic: the caller passes 64 random bits (from any per-worker generator, e.g.
// SplitMix64 below). Thread affinity: none; SplitMix64 is per worker.
#pragma once

#include <cstdint>

namespace pforte::modules::waiting_room {

/// The most a visitor is told to come back after their turn.
inline constexpr double kNearSpreadS = 1.0;

struct PollPolicy {
  double refresh_s = 10;  ///< base poll interval of the waiting page (`refresh`)
  double jitter = 0.5;    ///< spread in [0, 1): refresh × U(1 − jitter, 1 + jitter)
  double floor_s = 1;     ///< no poll sooner than this
};

/// The next poll delay in milliseconds for a visitor whose turn is `eta_s`
/// seconds away.
int64_t next_poll_ms(const PollPolicy& policy, double eta_s, uint64_t random_bits);

/// A delay as whole seconds for Retry-After and meta refresh: rounded to
/// nearest (which keeps the mean of a continuous spread), at least 1.
int64_t whole_seconds(int64_t ms);

/// Maps 64 random bits to [0, 1) with 53 bits of precision.
double unit_interval(uint64_t bits);

/// A small, fast, seedable generator for jitter (not for secrets).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();

 private:
  uint64_t state_;
};

}  // namespace pforte::modules::waiting_room
