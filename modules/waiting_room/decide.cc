#include "modules/waiting_room/decide.h"

#include <algorithm>

namespace pforte::modules::waiting_room {

namespace {

constexpr int64_t kMicros = 1'000'000;

std::string sign(const Gate& gate, TokenKind kind, uint64_t number, int64_t issued_at,
                 int64_t expires_at) {
  Token t;
  t.kind = kind;
  t.room = std::string(gate.room);
  t.epoch = gate.state.epoch();
  t.number = number;
  t.issued_at = issued_at;
  t.expires_at = std::max(expires_at, issued_at);
  return encode(t, gate.keys);
}

void admit(const Gate& gate, uint64_t admission_id, int64_t now_s, Verdict& v) {
  v.outcome = Outcome::kAdmitted;
  v.cookie = sign(gate, TokenKind::kAdmission, admission_id, now_s, now_s + gate.session_ttl_s);
  v.cookie_max_age_s = gate.session_ttl_s;
}

/// A waiting visitor: when to come back, and the ticket renewed until then plus the grace time.
void wait(const Gate& gate, uint64_t ticket, int64_t issued_at, int64_t now_s, uint64_t random_bits,
          bool renew, Verdict& v) {
  v.poll_ms = next_poll_ms(gate.poll, v.place.eta_s, random_bits);
  if (!renew) return;
  const int64_t lifetime = (v.poll_ms + 999) / 1000 + gate.grace_s;
  v.cookie = sign(gate, TokenKind::kTicket, ticket, issued_at, now_s + lifetime);
  v.cookie_max_age_s = lifetime;
}

/// A visitor whose booked token falls due at `due_us`: told to come back exactly then.
void wait_until(int64_t due_us, int64_t now_us, Verdict& v) {
  v.outcome = Outcome::kScheduled;
  v.place.position = 0;
  v.place.eta_s = static_cast<double>(due_us - now_us) * 1e-6;
  v.poll_ms = std::max<int64_t>(1, (due_us - now_us + 999) / 1000);
  v.exact_poll = true;
}

/// A called visitor with a booked token: comes back when it is due, with a cookie that passes
/// from then on (expiry: due time + grace).
void schedule(const Gate& gate, uint64_t ticket, int64_t issued_at, uint64_t admission,
              int64_t not_before_us, int64_t now_us, Verdict& v) {
  wait_until(not_before_us, now_us, v);
  Token t;
  t.kind = TokenKind::kScheduled;
  t.room = std::string(gate.room);
  t.epoch = gate.state.epoch();
  t.number = ticket;
  t.issued_at = issued_at;
  t.expires_at = (not_before_us + kMicros - 1) / kMicros + gate.grace_s;
  t.admission = admission;
  t.not_before_ms = (not_before_us + 999) / 1000;
  v.cookie = encode(t, gate.keys);
  v.cookie_max_age_s = std::max<int64_t>(1, t.expires_at - now_us / kMicros);
}

void arrive(const Gate& gate, int64_t now_us, uint64_t random_bits, Verdict& v) {
  const int64_t now_s = now_us / kMicros;
  Arrival a = gate.state.arrive(now_us);
  if (a.kind == Arrival::Kind::kAdmitted) {
    admit(gate, a.admission_id, now_s, v);
    return;
  }
  v.outcome = Outcome::kQueued;
  v.place = a.place;
  wait(gate, a.ticket, now_s, now_s, random_bits, /*renew=*/true, v);
}

}  // namespace

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPassed:
      return "passed";
    case Outcome::kAdmitted:
      return "admitted";
    case Outcome::kQueued:
      return "queued";
    case Outcome::kScheduled:
      return "scheduled";
    case Outcome::kAlreadyRedeemed:
      return "already_redeemed";
    case Outcome::kGivenBack:
      return "given_back";
  }
  return "queued";
}

Verdict decide(const Gate& gate, std::string_view cookie, int64_t now_us, uint64_t random_bits) {
  Verdict v;
  const int64_t now_s = now_us / kMicros;
  if (cookie.empty()) {
    v.new_arrival_reason = "none";
    arrive(gate, now_us, random_bits, v);
    return v;
  }
  std::expected<Token, DecodeError> token = decode(cookie, gate.room, now_s, gate.keys);
  if (!token) {
    v.new_arrival_reason = to_string(token.error());
    arrive(gate, now_us, random_bits, v);
    return v;
  }
  if (token->epoch != gate.state.epoch()) {
    // Signed by us for an earlier life of this room (restarted without its state file).
    v.new_arrival_reason = "old_epoch";
    arrive(gate, now_us, random_bits, v);
    return v;
  }
  if (token->kind == TokenKind::kAdmission) {
    switch (gate.ledger.charge(token->number, now_us)) {
      case AdmissionLedger::Use::kOk:
        v.outcome = Outcome::kPassed;
        // Renewed while active: once half its lifetime has passed it gets a full one again.
        if (token->expires_at - now_s <= gate.session_ttl_s / 2) {
          v.cookie = sign(gate, TokenKind::kAdmission, token->number, token->issued_at,
                          now_s + gate.session_ttl_s);
          v.cookie_max_age_s = gate.session_ttl_s;
        }
        return v;
      case AdmissionLedger::Use::kOverBudget:
        v.new_arrival_reason = "over_budget";
        break;
      case AdmissionLedger::Use::kSuperseded:
        v.new_arrival_reason = "superseded";
        break;
    }
    arrive(gate, now_us, random_bits, v);
    return v;
  }
  if (token->kind == TokenKind::kScheduled) {
    if (now_us < token->not_before_ms * 1000) {
      // Early: their token is not due yet. Nothing changes; the cookie stays as it is.
      wait_until(token->not_before_ms * 1000, now_us, v);
      return v;
    }
    // Copies of it are metered like copies of an admission.
    if (gate.ledger.charge(token->admission, now_us) == AdmissionLedger::Use::kOk) {
      admit(gate, token->admission, now_s, v);
      v.waited_s = static_cast<double>(now_us - token->issued_at * kMicros) / kMicros;
      v.ticket = token->number;
      v.ticket_issued_at = token->issued_at;
      return v;
    }
    v.new_arrival_reason = "over_budget";
    arrive(gate, now_us, random_bits, v);
    return v;
  }
  Redemption r = gate.state.redeem(token->number, now_us);
  switch (r.kind) {
    case Redemption::Kind::kAdmitted:
      admit(gate, r.admission_id, now_s, v);
      v.waited_s = static_cast<double>(now_us - token->issued_at * kMicros) / kMicros;
      v.ticket = token->number;
      v.ticket_issued_at = token->issued_at;
      return v;
    case Redemption::Kind::kWaiting:
      v.outcome = Outcome::kQueued;
      v.place = r.place;
      wait(gate, token->number, token->issued_at, now_s, random_bits, /*renew=*/true, v);
      return v;
    case Redemption::Kind::kScheduled:
      schedule(gate, token->number, token->issued_at, r.admission_id, r.not_before_us, now_us, v);
      return v;
    case Redemption::Kind::kAlreadyRedeemed:
      v.outcome = Outcome::kAlreadyRedeemed;
      v.place = r.place;
      wait(gate, token->number, token->issued_at, now_s, random_bits, /*renew=*/false, v);
      return v;
    case Redemption::Kind::kTooOld:
      v.new_arrival_reason = "too_old";
      break;
    case Redemption::Kind::kUnknown:
      v.new_arrival_reason = "unknown_ticket";
      break;
  }
  arrive(gate, now_us, random_bits, v);
  return v;
}

void give_back(const Gate& gate, Verdict& admitted, int64_t now_us) {
  if (admitted.outcome != Outcome::kAdmitted) return;
  const int64_t now_s = now_us / kMicros;
  uint64_t ticket = admitted.ticket;
  int64_t issued_at = admitted.ticket_issued_at;
  if (ticket != 0) {
    gate.state.give_back(ticket, now_us);
  } else {
    ticket = gate.state.take_ticket(now_us);
    issued_at = now_s;
  }
  // Come back in about a second (the turn has come, or comes soon when nobody waits).
  admitted.place = gate.state.place(ticket, now_us);
  admitted.outcome = Outcome::kGivenBack;
  const int64_t lifetime = 1 + gate.grace_s;
  admitted.cookie = sign(gate, TokenKind::kTicket, ticket, issued_at, now_s + lifetime);
  admitted.cookie_max_age_s = lifetime;
}

}  // namespace pforte::modules::waiting_room
