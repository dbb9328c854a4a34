// What keeps one admission from letting a crowd in: every request that shows an admission is
// charged to its admission id, and an admission may make at most `budget` requests per `window`
// (by default 300 a minute: far more than a person logging in needs, far less than a crowd
// sharing one cookie would). Over budget, the request is a new arrival. Not tied to the client
// address (thousands of pupils share one school NAT address).
//
// Storage: a ring of 2^k atomic 64-bit slots indexed by admission id (ids are sequential per
// room), each packing (id >> k: 32 bits, window number: 16 bits, count: 16 bits). Fixed memory,
// O(1), lock-free. A slot taken over by an id 2^k later means the older admission is superseded:
// an admission stays usable until 2^k newer admissions have been issued, which
// recommended_slots() makes at least twice session_ttl at full admit_rate.
//
// Pure: the clock is passed in (unix µs). Thread affinity: shared by all workers of a room; any
// thread. Not saved across restarts (counts start again from zero).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace pforte::modules::waiting_room {

struct LedgerOptions {
  uint32_t budget = 300;           ///< requests per admission per window (1..65535)
  int64_t window_us = 60'000'000;  ///< counting window
  uint64_t slots = 1 << 16;        ///< ring size; rounded up to a power of two
};

/// A ring size so that an admission is not superseded within 2 × session_ttl at
/// full rate.
uint64_t recommended_slots(double admit_rate, double admit_burst, double session_ttl_s);

class AdmissionLedger {
 public:
  enum class Use : uint8_t {
    kOk,          ///< within budget; counted
    kOverBudget,  ///< too many requests this window: treat as a new arrival
    kSuperseded,  ///< 2^k newer admissions exist: treat as a new arrival
  };

  explicit AdmissionLedger(const LedgerOptions& options);

  /// Charges one request to admission `id` at `now_us`.
  Use charge(uint64_t id, int64_t now_us);

  uint64_t slots() const { return slots_.size(); }

 private:
  const uint32_t budget_;
  const int64_t window_us_;
  const int shift_;  ///< log2(slots)
  std::vector<std::atomic<uint64_t>> slots_;
};

}  // namespace pforte::modules::waiting_room
