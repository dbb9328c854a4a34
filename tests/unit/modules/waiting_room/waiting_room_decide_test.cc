#define BOOST_TEST_MODULE waiting_room_decide
#include "modules/waiting_room/decide.h"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace pforte::modules::waiting_room;

namespace {

constexpr int64_t kT0 = 1'790'000'000'000'000;  // unix µs
constexpr int64_t kSecond = 1'000'000;
const std::string kKey = "0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kOtherKey = "fedcba9876543210fedcba9876543210fedcba9876543210";

KeyRing ring(const std::string& text) {
  auto r = KeyRing::parse(text);
  BOOST_REQUIRE(r.has_value());
  return std::move(*r);
}

/// A room of rate 5, burst 5 with a fixed clock the tests move by hand.
struct Fixture {
  KeyRing keys = ring(kKey);
  RoomState state{RoomOptions{5, 5, 0, 0}, kT0, 42};
  AdmissionLedger ledger{LedgerOptions{3, 60 * kSecond, 1024}};
  Gate gate{"login", state, ledger, keys, 900, 60, PollPolicy{10, 0.5, 1}};
  uint64_t bits = 7;

  Verdict at(int64_t now, std::string_view cookie = {}) {
    return decide(gate, cookie, now, ++bits);
  }
};

Token decoded(const Fixture& f, const std::string& cookie, int64_t now) {
  auto t = decode(cookie, "login", now / kSecond, f.keys);
  BOOST_REQUIRE(t.has_value());
  return *t;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(decide_suite, Fixture)

BOOST_AUTO_TEST_CASE(burst_goes_straight_through_then_visitors_queue_in_order) {
  for (int i = 0; i < 5; ++i) {
    Verdict v = at(kT0);
    BOOST_TEST(v.passes());
    BOOST_TEST(to_string(v.outcome) == "admitted");
    BOOST_TEST((decoded(*this, v.cookie, kT0).kind == TokenKind::kAdmission));
    BOOST_TEST(v.cookie_max_age_s == 900);
  }
  for (uint64_t i = 1; i <= 3; ++i) {
    Verdict v = at(kT0);
    BOOST_TEST(!v.passes());
    BOOST_TEST(to_string(v.outcome) == "queued");
    BOOST_TEST(v.place.position == i);
    BOOST_TEST(v.poll_ms >= 1000);
    Token t = decoded(*this, v.cookie, kT0);
    BOOST_TEST((t.kind == TokenKind::kTicket));
    BOOST_TEST(t.number == i);
    // Valid until the next poll plus the grace time.
    BOOST_TEST(t.expires_at - kT0 / kSecond == v.cookie_max_age_s);
    BOOST_TEST(v.cookie_max_age_s >= 61);
  }
}

BOOST_AUTO_TEST_CASE(admission_passes_on_following_requests_within_its_budget) {
  Verdict first = at(kT0);
  BOOST_REQUIRE(first.passes());
  for (int i = 0; i < 3; ++i) {
    Verdict v = at(kT0 + i * kSecond, first.cookie);
    BOOST_TEST(to_string(v.outcome) == "passed");
    BOOST_TEST(v.cookie.empty());  // nothing to renew yet
  }
  // The fourth request in the same minute is over the budget of 3: a new arrival.
  Verdict over = at(kT0 + 3 * kSecond, first.cookie);
  BOOST_TEST(over.new_arrival_reason == "over_budget");
}

BOOST_AUTO_TEST_CASE(admission_is_renewed_after_half_its_lifetime) {
  Verdict first = at(kT0);
  Verdict later = at(kT0 + 451 * kSecond, first.cookie);
  BOOST_TEST(to_string(later.outcome) == "passed");
  BOOST_REQUIRE(!later.cookie.empty());
  Token t = decoded(*this, later.cookie, kT0 + 451 * kSecond);
  BOOST_TEST(t.expires_at == kT0 / kSecond + 451 + 900);
  BOOST_TEST(t.number == decoded(*this, first.cookie, kT0).number);
}

BOOST_AUTO_TEST_CASE(expired_admission_is_a_new_arrival) {
  Verdict first = at(kT0);
  Verdict v = at(kT0 + 901 * kSecond, first.cookie);
  BOOST_TEST(v.new_arrival_reason == "expired");
  BOOST_TEST(v.passes());  // the room is idle again, so the new arrival goes straight in
}

BOOST_AUTO_TEST_CASE(tampered_forged_and_other_room_cookies_are_new_arrivals) {
  Verdict first = at(kT0);
  std::string tampered = first.cookie;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  BOOST_TEST(!at(kT0, tampered).new_arrival_reason.empty());

  KeyRing other = ring(kOtherKey);
  Token forged{TokenKind::kAdmission, "login", state.epoch(), 1, kT0 / kSecond,
               kT0 / kSecond + 900};
  BOOST_TEST(at(kT0, encode(forged, other)).new_arrival_reason == "bad signature");

  Token elsewhere = forged;
  elsewhere.room = "exam";
  BOOST_TEST(at(kT0, encode(elsewhere, keys)).new_arrival_reason == "other room");

  Token old_epoch = forged;
  old_epoch.epoch = state.epoch() + 1;
  BOOST_TEST(at(kT0, encode(old_epoch, keys)).new_arrival_reason == "old_epoch");

  BOOST_TEST(at(kT0, "garbage").new_arrival_reason == "malformed");
}

BOOST_AUTO_TEST_CASE(ticket_holders_get_in_in_order_when_their_turn_comes) {
  for (int i = 0; i < 5; ++i) at(kT0);  // the burst
  std::vector<std::string> tickets;
  for (int i = 0; i < 4; ++i) tickets.push_back(at(kT0).cookie);
  // 0.5 s later the counter has called two tickets (rate 5), and 2.5 tokens have refilled.
  const int64_t t1 = kT0 + kSecond / 2;
  Verdict third = at(t1, tickets[2]);
  BOOST_TEST(to_string(third.outcome) == "queued");
  BOOST_TEST(third.place.position == 1u);
  // The ticket keeps its number and first-issued time across renewals.
  Token renewed = decoded(*this, third.cookie, t1);
  BOOST_TEST(renewed.number == 3u);
  BOOST_TEST(renewed.issued_at == kT0 / kSecond);

  Verdict first = at(t1, tickets[0]);
  BOOST_TEST(to_string(first.outcome) == "admitted");
  BOOST_TEST(first.waited_s == 0.5);
  BOOST_TEST((decoded(*this, first.cookie, t1).kind == TokenKind::kAdmission));
  // A copy of the redeemed ticket waits without a cookie.
  Verdict copy = at(t1, tickets[0]);
  BOOST_TEST(to_string(copy.outcome) == "already_redeemed");
  BOOST_TEST(copy.cookie.empty());
  BOOST_TEST(at(t1, tickets[1]).passes());
}

BOOST_AUTO_TEST_CASE(an_admission_the_platform_turned_away_needs_a_new_token_and_keeps_its_place) {
  for (int i = 0; i < 5; ++i) at(kT0);  // the burst
  std::vector<std::string> tickets;
  for (int i = 0; i < 4; ++i) tickets.push_back(at(kT0).cookie);
  // 0.4 s later two tickets are called and two tokens have refilled.
  const int64_t t1 = kT0 + 4 * kSecond / 10;
  Verdict first = at(t1, tickets[0]);
  BOOST_REQUIRE(to_string(first.outcome) == "admitted");
  BOOST_TEST(first.ticket == 1u);
  give_back(gate, first, t1);  // the login answered 503
  BOOST_TEST(to_string(first.outcome) == "given_back");
  BOOST_TEST(state.given_back() == 1u);
  Token back = decoded(*this, first.cookie, t1);
  BOOST_TEST((back.kind == TokenKind::kTicket));
  BOOST_TEST(back.number == 1u);
  BOOST_TEST(back.issued_at == kT0 / kSecond);
  BOOST_TEST(first.cookie_max_age_s == 61);
  // The second called ticket takes the remaining token; the retry finds none and gets the next
  // one booked instead of passing on its taken-back admission.
  BOOST_TEST(at(t1, tickets[1]).passes());
  Verdict retry = at(t1, first.cookie);
  BOOST_TEST(to_string(retry.outcome) == "scheduled");
  BOOST_TEST(!retry.passes());
  BOOST_TEST(retry.place.position == 0u);
  BOOST_TEST(retry.poll_ms == 200);
  BOOST_TEST(retry.retry_after_s() == 1);
  Token booked = decoded(*this, retry.cookie, t1);
  BOOST_TEST((booked.kind == TokenKind::kScheduled));
  BOOST_TEST(booked.number == 1u);
  BOOST_TEST(booked.not_before_ms == (t1 + kSecond / 5) / 1000);
  // When it falls due it is in, ahead of ticket 3, whose turn has not come.
  const int64_t t2 = t1 + kSecond / 5;
  Verdict in = at(t2, retry.cookie);
  BOOST_TEST(to_string(in.outcome) == "admitted");
  BOOST_TEST(in.ticket == 1u);
  BOOST_TEST((decoded(*this, in.cookie, t2).kind == TokenKind::kAdmission));
}

BOOST_AUTO_TEST_CASE(a_booked_token_passes_from_its_due_time_and_copies_are_metered) {
  // Rate 5, burst 5: five straight through, then tickets 1 and 2.
  for (int i = 0; i < 5; ++i) BOOST_TEST(at(kT0).passes());
  Verdict one = at(kT0);
  Verdict two = at(kT0);
  // 0.4 s later both are called but only two tokens came back: ticket 1 takes one, ticket 2
  // the other, and a third visitor arriving now queues.
  const int64_t t1 = kT0 + 2 * kSecond / 5;
  BOOST_TEST(at(t1, one.cookie).passes());
  BOOST_TEST(at(t1, two.cookie).passes());
  Verdict three = at(t1);
  BOOST_TEST(to_string(three.outcome) == "queued");
  // Ticket 3 comes back once it is called, with no token free: booked.
  const int64_t t2 = t1 + kSecond / 5;
  at(t2);  // someone else arrives and takes the token that came back
  Verdict v = at(t2, three.cookie);
  BOOST_TEST(to_string(v.outcome) == "scheduled");
  const int64_t due = decoded(*this, v.cookie, t2).not_before_ms * 1000;
  BOOST_TEST(due > t2);
  // Early: still scheduled, the cookie is left as it is, told to come back at the due time.
  Verdict early = at(due - 50'000, v.cookie);
  BOOST_TEST(to_string(early.outcome) == "scheduled");
  BOOST_TEST(early.cookie.empty());
  BOOST_TEST(early.poll_ms == 50);
  // Due: in. Copies of the same cookie are metered like an admission (budget 3 per minute).
  int passed = 0;
  for (int i = 0; i < 6; ++i) passed += at(due, v.cookie).passes() ? 1 : 0;
  BOOST_TEST(passed == 3);
}

BOOST_AUTO_TEST_CASE(a_visitor_let_in_on_arrival_and_turned_away_gets_a_ticket) {
  Verdict v = at(kT0);
  BOOST_REQUIRE(to_string(v.outcome) == "admitted");
  give_back(gate, v, kT0);
  BOOST_TEST(to_string(v.outcome) == "given_back");
  Token t = decoded(*this, v.cookie, kT0);
  BOOST_TEST((t.kind == TokenKind::kTicket));
  BOOST_TEST(t.number == 1u);
  // Anything but a fresh admission is left alone.
  Verdict queued = at(kT0, v.cookie);
  const std::string cookie = queued.cookie;
  give_back(gate, queued, kT0);
  BOOST_TEST(queued.cookie == cookie);
}

BOOST_AUTO_TEST_CASE(paused_room_admits_nobody_and_keeps_places) {
  state.pause(kT0);
  Verdict v = at(kT0);
  BOOST_TEST(to_string(v.outcome) == "queued");
  BOOST_TEST(v.place.paused);
  Verdict again = at(kT0 + 10 * kSecond, v.cookie);
  BOOST_TEST(to_string(again.outcome) == "queued");
  BOOST_TEST(again.place.position == 1u);
  state.resume(kT0 + 10 * kSecond);
  BOOST_TEST(at(kT0 + 11 * kSecond, again.cookie).passes());
}

BOOST_AUTO_TEST_CASE(expired_ticket_is_a_new_arrival) {
  for (int i = 0; i < 5; ++i) at(kT0);
  Verdict v = at(kT0);
  Verdict late = at(kT0 + (v.cookie_max_age_s + 1) * kSecond, v.cookie);
  BOOST_TEST(late.new_arrival_reason == "expired");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(before_opens_at_everyone_waits_and_gets_in_after_the_draw) {
  KeyRing keys = ring(kKey);
  RoomState state{RoomOptions{5, 5, kT0 + 60 * kSecond, 0}, kT0, 42};
  AdmissionLedger ledger{LedgerOptions{}};
  Gate gate{"login", state, ledger, keys, 900, 60, PollPolicy{10, 0.5, 1}};
  std::vector<std::string> cookies;
  for (int i = 0; i < 3; ++i) {
    Verdict v = decide(gate, {}, kT0 + i * kSecond, 1);
    BOOST_TEST(to_string(v.outcome) == "queued");
    BOOST_TEST(v.place.before_opening);
    BOOST_TEST(v.place.eta_s >= 57);
    cookies.push_back(v.cookie);
  }
  // At the opening the three early arrivals are drawn into places 1..3; with burst 5 all get in.
  int admitted = 0;
  for (const std::string& c : cookies) {
    admitted += decide(gate, c, kT0 + 61 * kSecond, 1).passes() ? 1 : 0;
  }
  BOOST_TEST(admitted == 3);
}

BOOST_AUTO_TEST_CASE(outcome_names_are_the_access_log_words) {
  BOOST_TEST(to_string(Outcome::kPassed) == "passed");
  BOOST_TEST(to_string(Outcome::kAdmitted) == "admitted");
  BOOST_TEST(to_string(Outcome::kQueued) == "queued");
  BOOST_TEST(to_string(Outcome::kScheduled) == "scheduled");
  BOOST_TEST(to_string(Outcome::kAlreadyRedeemed) == "already_redeemed");
  BOOST_TEST(to_string(Outcome::kGivenBack) == "given_back");
}
