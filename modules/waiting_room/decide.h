// The request-phase decision of one room, kept pure so that it can be tested with an injected
// clock: given the visitor's `pforte_wr` cookie (if any), the time and some random bits, decide
// whether the request passes to the upstream, and which cookie the answer carries.
//
//   admission cookie (right room and epoch, within its AdmissionLedger budget)   -> pass
//   ticket cookie (right room and epoch)  -> RoomState::redeem: admitted, scheduled (a token is
//                                           booked: a kScheduled cookie that passes from its due
//                                           time), or wait with the same ticket (renewed: expiry =
//                                           next poll + grace)
//   scheduled cookie (right room and epoch, within the ledger budget of its admission)
//                                         -> before its due time: wait until then (cookie kept);
//                                           from it: admitted, with an admission cookie
//   anything else (none, malformed, forged, expired, other room, old epoch, over budget,
//   superseded, too old, unknown)         -> RoomState::arrive: admitted or a new ticket
//
// An admission the platform turns away at once is given back (give_back below): the visitor holds
// their ticket again, at the front, and their retry waits for a token like everyone else's.
//
// A copied ticket that already got in (kAlreadyRedeemed) waits without a new cookie, so that it
// becomes a new arrival once it expires.
//
// Thread affinity: any thread; the RoomState, ledger and keys are shared and thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "modules/waiting_room/admission_ledger.h"
#include "modules/waiting_room/jitter.h"
#include "modules/waiting_room/room_state.h"
#include "modules/waiting_room/token.h"

namespace pforte::modules::waiting_room {

/// A booked token due within this long is waited for at the edge, the request held, instead of
/// sending the visitor away: a client that can only wait whole seconds (Retry-After, meta refresh)
/// would otherwise come back with everyone who arrived in the same instant, in a clump, and the
/// platform would see a second's logins all at once.
inline constexpr int64_t kHoldMs = 1000;

/// What a decision needs of a room. Borrowed; outlives the call.
struct Gate {
  std::string_view room;  ///< the room's name (carried in its cookies)
  RoomState& state;
  AdmissionLedger& ledger;
  const KeyRing& keys;
  int64_t session_ttl_s = 900;  ///< admission lifetime; renewed once half of it has passed
  int64_t grace_s = 60;         ///< a ticket stays valid this long after its next poll is due
  PollPolicy poll;
};

/// The outcome, also the access log's `waiting_room` field.
enum class Outcome : uint8_t {
  kPassed,           ///< a valid admission: passes
  kAdmitted,         ///< let in now (on arrival or by ticket): passes, gets an admission
  kQueued,           ///< waits with a (new or renewed) ticket
  kScheduled,        ///< their turn; a token is booked for them: comes back when it is due
  kAlreadyRedeemed,  ///< a copy of a ticket that got in: waits, cookie not renewed
  kGivenBack,        ///< admitted, but the platform turned the request away: holds a ticket again
};

std::string_view to_string(Outcome outcome);

struct Verdict {
  Outcome outcome = Outcome::kQueued;
  /// Why the visitor counted as a new arrival ("none", "expired", "bad signature", ...); empty if
  /// the cookie was honoured.
  std::string_view new_arrival_reason;
  /// The cookie value to set (a signed token), or empty for none.
  std::string cookie;
  int64_t cookie_max_age_s = 0;
  Place place;           ///< for a waiting visitor
  int64_t poll_ms = 0;   ///< when a waiting visitor should come back
  double waited_s = -1;  ///< for a ticket holder admitted now: seconds since the ticket was issued
  uint64_t ticket = 0;   ///< kAdmitted by ticket: its raw number (0: admitted on arrival)
  int64_t ticket_issued_at = 0;  ///< kAdmitted by ticket: when the ticket was issued (unix s)
  bool exact_poll = false;  ///< poll_ms is a due time: whole seconds round down, not to nearest

  bool passes() const { return outcome == Outcome::kPassed || outcome == Outcome::kAdmitted; }
  /// poll_ms as whole seconds for Retry-After and the meta refresh: a booked token's due time
  /// rounded down (the visitor comes back less than a second early and the edge holds the request
  /// until it is due), a jittered poll to nearest.
  int64_t retry_after_s() const {
    return exact_poll ? std::max<int64_t>(1, poll_ms / 1000) : whole_seconds(poll_ms);
  }
};

/// Decides one request. `cookie` is the `pforte_wr` value (empty if none), `now_us` unix µs,
/// `random_bits` feed the poll jitter.
Verdict decide(const Gate& gate, std::string_view cookie, int64_t now_us, uint64_t random_bits);

/// The platform turned away (502/503/504) the request that `admitted` let in (outcome
/// kAdmitted): takes the admission back (RoomState::give_back / take_ticket) and turns `admitted`
/// into the cookie of a ticket holder who comes back in about a second, so the retry needs a new
/// token. No-op for any other outcome.
void give_back(const Gate& gate, Verdict& admitted, int64_t now_us);

}  // namespace pforte::modules::waiting_room
