// The ticket arithmetic of one waiting room: who may enter now, who waits, and for how long.
//
// Counters
//   issued    tickets handed out; ticket numbers are 1..issued (raw numbers, in arrival order).
//   called    the serving counter ("admitted_up_to"): tickets <= called have had their turn. It
//             moves with time at admit_rate whatever the number waiting, never past issued.
//   bucket    a token bucket of admit_rate/admit_burst. Every admission takes one token, so over
//             any span T at most admit_rate × T + admit_burst visitors get in. That bound is the
//             backend's protection; the serving counter only decides whose turn it is.
//
// Admission policy
//   - Arrival: if the room is open, not paused, nobody holds an uncalled ticket (issued <=
//     called) and the bucket has a token, the visitor goes straight through. Otherwise they get
//     ticket issued + 1: position = ticket - called, ETA = position / admit_rate (see below).
//   - Return with a ticket <= called: admitted if the bucket has a token (each ticket once; see
//     the redemption window). With none free, the next token is booked for them (TokenBucket::
//     book): they are admitted from its due time on, and told to come back then. Bookings are made
//     in the order the called come back, so the door is first come, first served, never a lottery
//     of whoever retries at the right instant; and the platform still sees no more than the
//     bucket allows.
//   - The counter stands still while bookings reach more than kHoldBacklogUs ahead (more called
//     visitors came back than the rate lets in), and ETAs include that backlog, so calling never
//     runs far ahead of what the door lets through.
//   - Abandoned tickets do not hold capacity: a called ticket whose holder never returns leaves
//     its token unused, so the counter calls more tickets to use it, in two ways. (1) It runs at
//     admit_rate / (1 - a), where a is the share of no-shows among the tickets called about
//     kNoShowLagUs ago (a <= 0.5): every ticket is looked at once, that long after its call (a
//     ring of (time, counter) checkpoints says which tickets were called then), and counts as a
//     no-show if its redemption bit is still clear. Visitors come back within about a second of
//     their turn, so 4 s later a clear bit means a closed tab. (2) Every token the burst cap would
//     throw away while people wait calls one more ticket at once. So with 30% never returning,
//     admissions still run close to admit_rate, and the bucket bound above still holds.
//     ETA = position / (admit_rate / (1 - a)) + booking backlog.
//   - Redemption window: a ticket may be redeemed while called - window/2 < ticket <= called. One
//     bit per ticket in a ring of `window` bits records redemptions, so a copied ticket gets in at
//     most once, and a ticket still unredeemed when it leaves the window is counted abandoned; its
//     holder, if they ever return, is a new arrival. The counter moves in steps of at most
//     window/2, so a bit is never shared by two tickets in the window.
//   - Given back: an admission the platform turned away at once (502/503/504 to the request
//     that was admitted) is taken back: the ticket's bit is cleared, so its holder, who keeps
//     their called ticket, needs a new token to get in. Their retries stay inside the bucket's
//     bound and they keep their place at the front. A visitor admitted on arrival gets a new
//     ticket instead (at the front too when nobody waits).
//   - Pause: nobody is admitted (neither directly nor by ticket), everyone gets a ticket, and the
//     serving counter stands still. Resuming starts from a full bucket at most.
//   - opens_at: before it nobody is admitted and nothing is called. Tickets issued before the
//     opening form the pre-open block 1..B (B = tickets issued when the room opens); at the
//     opening each raw number k <= B is mapped to place 1 + P(k - 1), where P is a keyed
//     pseudo-random permutation of [0, B) (a Feistel network with cycle walking, keyed by the
//     room's seed). So arriving at 6:00 or at 7:59 gives the same chance of any place, and the
//     block is still exactly a permutation of 1..B. Later arrivals queue behind the block.
//     Arrivals within microseconds of the opening, on different workers, may fall on either
//     side of it.
//
// Time: unix microseconds, passed in; nothing here reads a clock or does I/O. Restarts: the
// caller saves serialize() to a file now and then (and at shutdown) and restores it with
// restore(): tickets keep their places; the clock resumes at the restore time (downtime neither
// calls tickets nor counts against anyone). Redemption bits are not saved: a ticket redeemed just
// before a crash can be redeemed once more after it.
//
// Thread affinity: one RoomState per room is shared by all workers. All members are atomics;
// every method may be called from any thread concurrently and takes amortized O(1) time
// (advancing the counter clears one word of redemption bits per 64 called tickets).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "modules/waiting_room/token_bucket.h"

namespace pforte::modules::waiting_room {

struct RoomOptions {
  double admit_rate = 200;   ///< new visitors let in per second (> 0)
  double admit_burst = 400;  ///< bucket capacity (>= 1)
  int64_t opens_at_us = 0;   ///< unix µs; 0 = open from the start
  uint64_t window = 0;       ///< redemption window in tickets (a power of two
                             ///< >= 128); 0: default_window() for a 60 s grace
};

/// A redemption window that gives a called visitor at least `grace_s` seconds
/// to come back even while the counter runs at twice admit_rate: a power of two
/// >= 4 × (2 × rate × grace + burst).
uint64_t default_window(double admit_rate, double admit_burst, double grace_s);

/// Where a ticket stands.
struct Place {
  uint64_t position = 0;        ///< tickets ahead of it plus one; 0 = its turn has come
  double eta_s = 0;             ///< estimated seconds until its turn
  bool before_opening = false;  ///< the room has not opened; position is the expected place
  bool paused = false;          ///< the room is paused; the ETA does not count the pause
};

/// What an arrival (a visitor without a valid cookie) got.
struct Arrival {
  enum class Kind : uint8_t { kAdmitted, kTicket };
  Kind kind = Kind::kTicket;
  uint64_t admission_id = 0;  ///< kAdmitted: the new admission's id
  uint64_t ticket = 0;        ///< kTicket: the raw ticket number for the cookie
  Place place;                ///< kTicket: where it stands
};

/// What a returning ticket holder got.
struct Redemption {
  enum class Kind : uint8_t {
    kAdmitted,         ///< in; `admission_id` is set
    kWaiting,          ///< not their turn yet (or paused / before opening); see `place`
    kScheduled,        ///< in from `not_before_us` on: a token is booked for them
    kAlreadyRedeemed,  ///< this ticket got in before: a copy or a second tab;
                       ///< do not renew it, so it becomes a new arrival later
    kTooOld,           ///< its turn passed more than window/2 tickets ago: a new arrival
    kUnknown,          ///< a number this room never issued: a new arrival
  };
  Kind kind = Kind::kWaiting;
  uint64_t admission_id = 0;
  int64_t not_before_us = 0;  ///< kScheduled: when the booked token falls due
  Place place;
};

class RoomState {
 public:
  /// A fresh room. `seed` (from the kernel in production) keys the opening
  /// permutation and picks the epoch that cookies carry.
  RoomState(const RoomOptions& options, int64_t now_us, uint64_t seed);
  RoomState(const RoomState&) = delete;
  RoomState& operator=(const RoomState&) = delete;

  /// Restores a room saved by serialize(), with possibly changed
  /// rate/burst/opens_at. The clock resumes at `now_us`.
  static std::expected<std::unique_ptr<RoomState>, std::string> restore(const RoomOptions& options,
                                                                        std::string_view blob,
                                                                        int64_t now_us);

  /// A visitor without a valid cookie.
  Arrival arrive(int64_t now_us);
  /// A visitor returning with raw ticket `ticket` (the caller has checked
  /// signature, expiry, room and epoch).
  Redemption redeem(uint64_t ticket, int64_t now_us);
  /// Where raw ticket `ticket` stands, without trying to admit it.
  Place place(uint64_t ticket, int64_t now_us);

  /// Takes back the admission that redeemed raw ticket `ticket` (the platform turned the visitor
  /// away: 502/503/504): the ticket may be redeemed again, with a new token, while it is in the
  /// window. Its place is kept, at the front.
  void give_back(uint64_t ticket, int64_t now_us);
  /// A new ticket at the back of the line, never a direct admission: for a visitor let in on
  /// arrival whom the platform turned away.
  uint64_t take_ticket(int64_t now_us);

  void pause(int64_t now_us);
  void resume(int64_t now_us);
  bool paused() const { return paused_.load(); }

  /// The text blob to save (a few hundred bytes).
  std::string serialize(int64_t now_us);

  uint32_t epoch() const { return epoch_; }
  uint64_t issued() const { return issued_.load(); }
  /// The serving counter (admitted_up_to), whole tickets.
  uint64_t called() const { return called_fp_.load() >> kFracBits; }
  /// Tickets not yet called (waiting_room_queue_length).
  uint64_t waiting() const;
  /// Admissions so far, direct and by ticket (waiting_room_admitted_total).
  uint64_t admissions() const { return admissions_.load(); }
  uint64_t redeemed() const { return redeemed_.load(); }
  /// Admissions taken back by give_back() or take_ticket().
  uint64_t given_back() const { return given_back_.load(); }
  uint64_t abandoned() const { return abandoned_.load(); }
  /// Admissions by ticket that found no token free and got one booked.
  uint64_t booked() const { return booked_.load(); }
  /// How far ahead tokens are booked at `now_us` (0: none outstanding).
  int64_t backlog_us(int64_t now_us) const { return bucket_.backlog_us(now_us); }
  uint64_t window() const { return window_; }
  /// The place ticket `raw` holds after the opening draw (identity for later
  /// tickets).
  uint64_t effective(uint64_t raw) const;
  /// Moves the serving counter to `now_us`; every public method does this
  /// first.
  void advance(int64_t now_us);

 private:
  static constexpr int kFracBits = 16;
  /// Tickets that must have been looked at before their no-show share is trusted.
  static constexpr uint64_t kMinSeen = 64;
  /// How long after its call a ticket is looked at for the no-show share.
  static constexpr int64_t kNoShowLagUs = 4'000'000;
  /// Counter checkpoints: one per kCheckpointUs, kCheckpoints of them (> kNoShowLagUs in all).
  static constexpr int64_t kCheckpointUs = 250'000;
  static constexpr size_t kCheckpoints = 32;
  /// The counter runs at most 1 / (1 - this) times admit_rate on account of
  /// abandonment.
  static constexpr double kMaxLostShare = 0.5;
  /// The counter holds while bookings reach further ahead than this.
  static constexpr int64_t kHoldBacklogUs = 2'000'000;

  RoomState(const RoomOptions& options, int64_t now_us, uint64_t seed, uint32_t epoch);
  void open();
  Place place_of(uint64_t effective_ticket, int64_t now_us) const;
  void expire(uint64_t from, uint64_t to);
  /// Records a checkpoint now and then, and looks at the tickets called kNoShowLagUs ago.
  void look_back(int64_t now_us);
  /// Counts the tickets in (from, to] whose redemption bit is clear (no wrap: within the window).
  uint64_t unredeemed(uint64_t from, uint64_t to);
  /// Calls fn(word, mask, n) for the redemption bits of tickets (from, to], one word at a time:
  /// `mask` selects the n bits of that word in the range.
  template <class Fn>
  void for_bit_words(uint64_t from, uint64_t to, Fn&& fn) {
    for (uint64_t t = from + 1; t <= to;) {
      const uint64_t index = t & (window_ - 1);
      const uint64_t bit = index & 63;
      const uint64_t n = std::min<uint64_t>(64 - bit, to - t + 1);
      const uint64_t mask = (n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1)) << bit;
      fn(redeemed_bits_[index >> 6], mask, n);
      t += n;
    }
  }
  uint64_t next_admission() { return admissions_.fetch_add(1) + 1; }
  /// 1 / (1 - share of recently expired tickets that were never redeemed).
  double speedup() const;

  const double rate_;
  const int64_t opens_at_us_;
  const uint64_t window_;  ///< power of two
  const uint64_t seed_;    ///< keys the opening permutation
  const uint32_t epoch_;

  TokenBucket bucket_;
  std::atomic<int64_t> last_us_;  ///< time the counter has been advanced to
  std::atomic<uint64_t> issued_{0};
  std::atomic<uint64_t> called_fp_{0};  ///< fixed point, kFracBits fraction bits
  std::atomic<uint64_t> admissions_{0};
  std::atomic<uint64_t> redeemed_{0};
  std::atomic<uint64_t> abandoned_{0};
  std::atomic<uint64_t> given_back_{0};
  std::atomic<uint64_t> booked_{0};
  std::atomic<uint64_t> recent_seen_{0};  ///< tickets looked at lately (decaying)
  std::atomic<uint64_t> recent_lost_{0};  ///< of those, not redeemed kNoShowLagUs after their call
  const uint64_t recent_span_;            ///< both halve when recent_seen_ passes this
  std::atomic<int64_t> next_checkpoint_us_{0};
  std::atomic<uint64_t> checkpoint_seq_{0};
  std::array<std::atomic<int64_t>, kCheckpoints> checkpoint_us_{};
  std::array<std::atomic<uint64_t>, kCheckpoints> checkpoint_called_{};
  std::atomic<uint64_t> looked_up_to_{0};  ///< tickets <= this have been looked at
  std::atomic<bool> paused_{false};
  std::atomic<uint64_t> preopen_block_{0};
  std::atomic<bool> opened_{false};
  std::vector<std::atomic<uint64_t>> redeemed_bits_;  ///< window bits, ticket t at t % window
};

}  // namespace pforte::modules::waiting_room
