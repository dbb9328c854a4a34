#define BOOST_TEST_MODULE waiting_room_room_state
#include "modules/waiting_room/room_state.h"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <map>
#include <numeric>
#include <queue>
#include <thread>

#include "modules/waiting_room/jitter.h"

using namespace pforte::modules::waiting_room;

namespace {

constexpr int64_t kT0 = 1'790'000'000'000'000;  // unix µs
constexpr int64_t kSecond = 1'000'000;

// A crowd of browsers in simulated time: each arrives once, and a ticket holder
// comes back after the jittered poll delay until admitted (or never, if it
// abandons).
struct Crowd {
  struct Visitor {
    int64_t arrived = 0;
    uint64_t ticket = 0;
    double eta_at_arrival = 0;
    int64_t admitted_at = -1;
    bool abandons = false;
  };
  struct Event {
    int64_t at;
    size_t visitor;
    bool operator>(const Event& o) const { return at > o.at; }
  };

  RoomState& room;
  PollPolicy poll{10, 0.5, 1};
  SplitMix64 rng{12345};
  std::vector<Visitor> visitors;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  std::map<int64_t, int> admitted_per_second;
  std::vector<uint64_t> ticket_admission_order;
  int unexpected = 0;

  explicit Crowd(RoomState& r) : room(r) {}

  void add(int64_t at, bool abandons = false) {
    visitors.push_back({.arrived = at, .abandons = abandons});
    events.push({at, visitors.size() - 1});
  }

  void come_back(size_t i, int64_t now, double eta_s) {
    events.push({now + next_poll_ms(poll, eta_s, rng.next()) * 1000, i});
  }

  void admit(size_t i, int64_t now) {
    visitors[i].admitted_at = now;
    ++admitted_per_second[(now - kT0) / kSecond];
  }

  void run() {
    while (!events.empty()) {
      Event e = events.top();
      events.pop();
      Visitor& v = visitors[e.visitor];
      if (v.ticket == 0) {
        Arrival a = room.arrive(e.at);
        if (a.kind == Arrival::Kind::kAdmitted) {
          admit(e.visitor, e.at);
          continue;
        }
        v.ticket = a.ticket;
        v.eta_at_arrival = a.place.eta_s;
        // The position is the distance to the serving counter, the ETA that
        // over admit_rate.
        if (a.place.position != room.effective(a.ticket) - room.called()) ++unexpected;
        if (!v.abandons) come_back(e.visitor, e.at, a.place.eta_s);
        continue;
      }
      Redemption r = room.redeem(v.ticket, e.at);
      switch (r.kind) {
        case Redemption::Kind::kAdmitted:
          admit(e.visitor, e.at);
          ticket_admission_order.push_back(room.effective(v.ticket));
          break;
        case Redemption::Kind::kScheduled:
          // A booked token: in when it falls due (the visitor comes back then).
          admit(e.visitor, r.not_before_us);
          ticket_admission_order.push_back(room.effective(v.ticket));
          break;
        case Redemption::Kind::kWaiting:
          come_back(e.visitor, e.at, r.place.eta_s);
          break;
        default:
          ++unexpected;
      }
    }
  }

  int max_per_second() const {
    int m = 0;
    for (auto& [s, n] : admitted_per_second) m = std::max(m, n);
    return m;
  }
  int64_t last_admission() const {
    int64_t last = 0;
    for (const Visitor& v : visitors) last = std::max(last, v.admitted_at);
    return last;
  }
};

/// `n` tickets issued at kT0 while the room is paused, then the room resumed and its counter
/// moved to `t`.
void queue_while_paused(RoomState& room, int n, int64_t t) {
  room.pause(kT0);
  for (int i = 0; i < n; ++i) room.arrive(kT0);
  room.resume(kT0);
  room.advance(t);
}

}  // namespace

BOOST_AUTO_TEST_CASE(spike_of_fifty_thousand_is_admitted_in_order_at_the_rate) {
  RoomOptions o{.admit_rate = 500, .admit_burst = 500};
  RoomState room(o, kT0, 1);
  Crowd crowd(room);
  for (int i = 0; i < 50000; ++i) crowd.add(kT0 + i * 20);  // 50,000 within one second
  crowd.run();

  BOOST_TEST(crowd.unexpected == 0);
  for (const auto& v : crowd.visitors) BOOST_REQUIRE(v.admitted_at >= 0);
  BOOST_TEST(room.admissions() == 50000u);
  BOOST_TEST(crowd.max_per_second() <= 500 * 1.1 + 500);
  // Drains at the rate: 50,000 / 500 = 100 s, plus the last visitor's poll
  // delay.
  const double drain_s = static_cast<double>(crowd.last_admission() - kT0) / kSecond;
  BOOST_TEST(drain_s >= 98.0);
  BOOST_TEST(drain_s <= 110.0);
  // In order: the k-th admission by ticket holds about the k-th ticket; nobody
  // overtakes by more than the spread of the return times near the turn (a few
  // seconds of admissions).
  const auto& order = crowd.ticket_admission_order;
  int64_t worst = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    worst = std::max<int64_t>(
        worst, std::abs(static_cast<int64_t>(order[k]) - static_cast<int64_t>(k + 1)));
  }
  BOOST_TEST_MESSAGE("largest displacement " << worst);
  BOOST_TEST(worst <= 500 * 6);
  // The ETA given at arrival was right to within a poll interval.
  double sum_error = 0;
  int n = 0;
  for (const auto& v : crowd.visitors) {
    if (v.ticket == 0) continue;
    double waited = static_cast<double>(v.admitted_at - v.arrived) / kSecond;
    BOOST_TEST(waited >= v.eta_at_arrival - 1.0);
    BOOST_TEST(waited <= v.eta_at_arrival + 10.0);
    sum_error += waited - v.eta_at_arrival;
    ++n;
  }
  BOOST_TEST_MESSAGE("mean lateness over the ETA " << sum_error / n << " s");
  BOOST_TEST(sum_error / n < 3.0);
}

BOOST_AUTO_TEST_CASE(position_and_eta_follow_the_serving_counter) {
  RoomOptions o{.admit_rate = 100, .admit_burst = 10};
  RoomState room(o, kT0, 1);
  for (int i = 0; i < 10; ++i) BOOST_TEST((room.arrive(kT0).kind == Arrival::Kind::kAdmitted));
  Arrival a = room.arrive(kT0);
  BOOST_REQUIRE((a.kind == Arrival::Kind::kTicket));
  BOOST_TEST(a.ticket == 1u);
  BOOST_TEST(a.place.position == 1u);
  for (int i = 0; i < 998; ++i) room.arrive(kT0);
  Arrival last = room.arrive(kT0);
  BOOST_TEST(last.ticket == 1000u);
  BOOST_TEST(last.place.position == 1000u);
  BOOST_TEST(last.place.eta_s == 10.0, boost::test_tools::tolerance(1e-9));
  // Holders come back right at their turn and use every token: the counter runs
  // at admit_rate.
  uint64_t next = 1;
  for (int64_t t = kT0; t <= kT0 + 4 * kSecond; t += kSecond / 100) {
    while (room.redeem(next, t).kind == Redemption::Kind::kAdmitted) ++next;
  }
  Place p = room.place(last.ticket, kT0 + 4 * kSecond);
  BOOST_TEST(p.position >= 599u);
  BOOST_TEST(p.position <= 601u);
  BOOST_TEST(p.eta_s == static_cast<double>(p.position) / 100, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(room.waiting() == p.position);
  BOOST_TEST(room.admissions() == 10 + next - 1);
}

BOOST_AUTO_TEST_CASE(tokens_nobody_claims_call_the_next_tickets) {
  RoomOptions o{.admit_rate = 100, .admit_burst = 10};
  RoomState room(o, kT0, 1);
  for (int i = 0; i < 10; ++i) room.arrive(kT0);
  for (int i = 0; i < 1000; ++i) room.arrive(kT0);
  // Nobody returns: the bucket is full again after 0.1 s, and from then on each
  // token the cap would discard calls one more ticket: 400 + 390 called after 4
  // s.
  BOOST_TEST(room.place(1000, kT0 + 4 * kSecond).position == 210u);
}

BOOST_AUTO_TEST_CASE(nobody_overtakes_the_line_while_someone_waits) {
  RoomOptions o{.admit_rate = 10, .admit_burst = 1};
  RoomState room(o, kT0, 1);
  BOOST_TEST((room.arrive(kT0).kind == Arrival::Kind::kAdmitted));
  Arrival waiting = room.arrive(kT0);
  BOOST_REQUIRE((waiting.kind == Arrival::Kind::kTicket));
  // 0.05 s later the bucket has half a token, the ticket is not called: a
  // newcomer queues.
  Arrival newcomer = room.arrive(kT0 + kSecond / 20);
  BOOST_TEST((newcomer.kind == Arrival::Kind::kTicket));
  BOOST_TEST((room.redeem(waiting.ticket, kT0 + kSecond / 20).kind == Redemption::Kind::kWaiting));
  BOOST_TEST((room.redeem(waiting.ticket, kT0 + kSecond / 10).kind == Redemption::Kind::kAdmitted));
}

BOOST_AUTO_TEST_CASE(copied_ticket_gets_in_once) {
  RoomOptions o{.admit_rate = 100, .admit_burst = 100};
  RoomState room(o, kT0, 1);
  room.pause(kT0);
  Arrival a = room.arrive(kT0);
  room.resume(kT0);
  Redemption first = room.redeem(a.ticket, kT0 + kSecond);
  BOOST_TEST((first.kind == Redemption::Kind::kAdmitted));
  BOOST_TEST(first.admission_id == 1u);
  for (int i = 0; i < 100; ++i) {
    BOOST_TEST((room.redeem(a.ticket, kT0 + kSecond).kind == Redemption::Kind::kAlreadyRedeemed));
  }
  BOOST_TEST(room.admissions() == 1u);
}

BOOST_AUTO_TEST_CASE(ticket_from_elsewhere_or_long_past_its_turn_is_a_new_arrival) {
  RoomOptions o{.admit_rate = 1000, .admit_burst = 1, .window = 128};
  RoomState room(o, kT0, 1);
  room.pause(kT0);
  for (int i = 0; i < 1000; ++i) room.arrive(kT0);
  room.resume(kT0);
  BOOST_TEST((room.redeem(0, kT0).kind == Redemption::Kind::kUnknown));
  BOOST_TEST((room.redeem(5000, kT0).kind == Redemption::Kind::kUnknown));
  // 0.25 s later 500 tickets were called (250 by the rate, 250 by the unclaimed
  // bucket); ticket 1 left the 64-ticket window long ago.
  const int64_t later = kT0 + kSecond / 4;
  BOOST_TEST((room.redeem(1, later).kind == Redemption::Kind::kTooOld));
  BOOST_TEST(room.called() == 500u);
  BOOST_TEST(room.abandoned() == 500u - 64);
  BOOST_TEST((room.redeem(480, later).kind == Redemption::Kind::kAdmitted));
  // No token left: the next one is booked for ticket 490, due 1/rate later.
  Redemption booked = room.redeem(490, later);
  BOOST_TEST((booked.kind == Redemption::Kind::kScheduled));
  BOOST_TEST(booked.not_before_us == later + kSecond / 1000);
  BOOST_TEST(booked.place.position == 0u);
  // Booked is booked: a copy of ticket 490 gets nothing more.
  BOOST_TEST((room.redeem(490, later).kind == Redemption::Kind::kAlreadyRedeemed));
}

BOOST_AUTO_TEST_CASE(the_called_who_find_no_token_are_let_in_in_the_order_they_came) {
  // Ten called visitors come back in the same instant to a bucket with one token: the first is
  // let in, the others get consecutive due times 1/rate apart, in the order they came.
  RoomOptions o{.admit_rate = 100, .admit_burst = 1};
  RoomState room(o, kT0, 1);
  const int64_t t = kT0 + kSecond;  // all ten called by now (the bucket refilled meanwhile)
  queue_while_paused(room, 10, t);
  BOOST_TEST(room.called() >= 10u);
  BOOST_TEST((room.redeem(1, t).kind == Redemption::Kind::kAdmitted));
  for (uint64_t k = 2; k <= 10; ++k) {
    Redemption r = room.redeem(k, t);
    BOOST_TEST((r.kind == Redemption::Kind::kScheduled));
    BOOST_TEST(r.not_before_us == t + static_cast<int64_t>(k - 1) * kSecond / 100);
  }
  // Anyone arriving now queues behind them and is told about the backlog.
  Arrival late = room.arrive(t);
  BOOST_TEST((late.kind == Arrival::Kind::kTicket));
  BOOST_TEST(late.place.eta_s >= 0.08);
}

BOOST_AUTO_TEST_CASE(paused_room_admits_nobody_and_keeps_places) {
  RoomOptions o{.admit_rate = 100, .admit_burst = 50};
  RoomState room(o, kT0, 1);
  Arrival first = room.arrive(kT0);
  BOOST_TEST((first.kind == Arrival::Kind::kAdmitted));
  room.pause(kT0 + kSecond);
  BOOST_TEST(room.paused());
  Arrival a = room.arrive(kT0 + kSecond);  // full bucket, nobody waiting: still queued
  BOOST_REQUIRE((a.kind == Arrival::Kind::kTicket));
  BOOST_TEST(a.place.paused);
  for (int i = 0; i < 99; ++i) room.arrive(kT0 + kSecond);
  const uint64_t called = room.called();
  Redemption r = room.redeem(a.ticket, kT0 + 60 * kSecond);
  BOOST_TEST((r.kind == Redemption::Kind::kWaiting));
  BOOST_TEST(r.place.paused);
  BOOST_TEST(room.called() == called);
  BOOST_TEST(room.admissions() == 1u);
  room.resume(kT0 + 60 * kSecond);
  // The pause did not count: a quarter second after resuming, 25 tickets were
  // called by the rate and 25 more by the (full, unclaimed) bucket.
  BOOST_TEST(room.place(100, kT0 + 60 * kSecond + kSecond / 4).position == 50u);
  BOOST_TEST((room.redeem(a.ticket, kT0 + 61 * kSecond).kind == Redemption::Kind::kAdmitted));
}

BOOST_AUTO_TEST_CASE(abandoned_tickets_do_not_waste_capacity) {
  RoomOptions o{.admit_rate = 500, .admit_burst = 500, .window = 16384};
  RoomState room(o, kT0, 1);
  Crowd crowd(room);
  SplitMix64 coin(99);
  int never = 0;
  for (int i = 0; i < 20000; ++i) {
    bool abandons = unit_interval(coin.next()) < 0.3;
    never += abandons;
    crowd.add(kT0 + i * 50, abandons);  // 20,000 within one second
  }
  crowd.run();
  BOOST_TEST(crowd.unexpected == 0);
  BOOST_TEST(crowd.max_per_second() <= 500 * 1.1 + 500);

  uint64_t returners = 0;
  for (const auto& v : crowd.visitors) {
    if (v.abandons) continue;
    BOOST_REQUIRE(v.admitted_at >= 0);
    ++returners;
  }
  // Capacity kept flowing: the returners got in about as fast as the rate
  // allows (wasting the abandoned 30% would have taken 40 s instead of 28 s).
  const double drain_s = static_cast<double>(crowd.last_admission() - kT0) / kSecond;
  BOOST_TEST_MESSAGE("drained " << returners << " returners in " << drain_s << " s");
  BOOST_TEST(drain_s <= static_cast<double>(room.admissions()) / 500 + 8);
  // A counter moving at admit_rate alone could not have finished before issued
  // / rate.
  BOOST_TEST(drain_s < 0.9 * static_cast<double>(room.issued()) / 500);

  // Every ticket that left the window unredeemed is counted abandoned, and only
  // those.
  uint64_t expired_never = 0;
  for (const auto& v : crowd.visitors) {
    if (v.abandons && v.ticket != 0 &&
        room.effective(v.ticket) + room.window() / 2 <= room.called()) {
      ++expired_never;
    }
  }
  BOOST_TEST(room.abandoned() == expired_never);
  BOOST_TEST(room.abandoned() > 0u);
}

BOOST_AUTO_TEST_CASE(early_arrivals_are_drawn_into_a_permutation_at_the_opening) {
  constexpr int kN = 10000;
  const int64_t opens = kT0 + 3600 * kSecond;
  RoomOptions o{.admit_rate = 100, .admit_burst = 100, .opens_at_us = opens};
  RoomState room(o, kT0, 777);
  for (int i = 0; i < kN; ++i) {
    Arrival a = room.arrive(kT0 + int64_t{i} * 300'000);  // over 50 minutes before the opening
    BOOST_REQUIRE((a.kind == Arrival::Kind::kTicket));
    BOOST_TEST(a.ticket == static_cast<uint64_t>(i + 1));
    BOOST_TEST(a.place.before_opening);
    BOOST_TEST(a.place.eta_s >=
               static_cast<double>(opens - (kT0 + int64_t{i} * 300'000)) / kSecond);
  }
  BOOST_TEST((room.redeem(1, opens - 1).kind == Redemption::Kind::kWaiting));
  BOOST_TEST(room.admissions() == 0u);

  room.advance(opens + 1);
  std::vector<uint64_t> place(kN);
  for (int i = 0; i < kN; ++i) place[i] = room.effective(static_cast<uint64_t>(i + 1));
  std::vector<uint64_t> sorted = place;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < kN; ++i) BOOST_REQUIRE(sorted[i] == static_cast<uint64_t>(i + 1));
  BOOST_TEST(place != sorted);

  // Arriving early buys nothing: the first and second halves end up equally far
  // back, and the order of arrival and of places are uncorrelated.
  double first = std::accumulate(place.begin(), place.begin() + kN / 2, 0.0) / (kN / 2);
  double second = std::accumulate(place.begin() + kN / 2, place.end(), 0.0) / (kN / 2);
  BOOST_TEST(std::abs(first - second) < kN * 0.03);
  double mean = (kN + 1) / 2.0, cov = 0, var = 0;
  for (int i = 0; i < kN; ++i) {
    cov += (i + 1 - mean) * (static_cast<double>(place[i]) - mean);
    var += (i + 1 - mean) * (i + 1 - mean);
  }
  BOOST_TEST(std::abs(cov / var) < 0.05);

  // Later arrivals queue behind the whole block.
  Arrival late = room.arrive(opens + 2);
  BOOST_TEST(late.ticket == static_cast<uint64_t>(kN + 1));
  BOOST_TEST(room.effective(late.ticket) == static_cast<uint64_t>(kN + 1));
}

BOOST_AUTO_TEST_CASE(the_first_arrival_has_no_advantage_over_many_draws) {
  constexpr int kN = 1000;
  constexpr int kDraws = 400;
  double sum_first = 0, sum_last = 0;
  for (int seed = 0; seed < kDraws; ++seed) {
    RoomOptions o{.admit_rate = 100, .admit_burst = 100, .opens_at_us = kT0 + kSecond};
    RoomState room(o, kT0, static_cast<uint64_t>(seed) * 7919 + 1);
    for (int i = 0; i < kN; ++i) room.arrive(kT0);
    room.advance(kT0 + 2 * kSecond);
    sum_first += static_cast<double>(room.effective(1));
    sum_last += static_cast<double>(room.effective(kN));
  }
  // Uniform on 1..1000: mean 500.5, standard error over 400 draws about 14.
  BOOST_TEST(std::abs(sum_first / kDraws - 500.5) < 75);
  BOOST_TEST(std::abs(sum_last / kDraws - 500.5) < 75);
}

BOOST_AUTO_TEST_CASE(restart_keeps_every_place_and_the_draw) {
  const int64_t opens = kT0 + 10 * kSecond;
  RoomOptions o{.admit_rate = 50, .admit_burst = 20, .opens_at_us = opens};
  RoomState room(o, kT0, 4242);
  for (int i = 0; i < 500; ++i) room.arrive(kT0 + i * 1000);
  const int64_t saved_at = opens + 3 * kSecond;
  Redemption r = room.redeem(1, saved_at);
  (void)r;
  const std::string blob = room.serialize(saved_at);
  BOOST_TEST(blob.size() < 400u);

  // An hour of downtime calls nobody.
  const int64_t back = saved_at + 3600 * kSecond;
  auto restored = RoomState::restore(o, blob, back);
  BOOST_REQUIRE(restored.has_value());
  RoomState& again = **restored;
  BOOST_TEST(again.epoch() == room.epoch());
  BOOST_TEST(again.issued() == room.issued());
  BOOST_TEST(again.called() == room.called());
  BOOST_TEST(again.admissions() == room.admissions());
  for (uint64_t t = 1; t <= 500; ++t) {
    BOOST_REQUIRE(again.effective(t) == room.effective(t));
    BOOST_REQUIRE(again.place(t, back).position == room.place(t, saved_at).position);
  }
  BOOST_TEST(again.arrive(back).ticket == 501u);
}

BOOST_AUTO_TEST_CASE(bookings_not_yet_due_survive_a_restart) {
  // Rate 10, burst 1: ticket 1 takes the token, tickets 2..6 get bookings 0.1 s apart. Saved and
  // restored at once, the bucket stays empty until the last booking is due, so the restart lets
  // nobody in on top of the bookings (whose cookies pass at their times regardless).
  RoomOptions o{.admit_rate = 10, .admit_burst = 1};
  RoomState room(o, kT0, 3);
  const int64_t t = kT0 + kSecond;
  queue_while_paused(room, 6, t);
  BOOST_TEST((room.redeem(1, t).kind == Redemption::Kind::kAdmitted));
  int64_t last_due = 0;
  for (uint64_t k = 2; k <= 6; ++k) last_due = room.redeem(k, t).not_before_us;
  BOOST_TEST(last_due == t + kSecond / 2);
  auto restored = RoomState::restore(o, room.serialize(t), t);
  BOOST_REQUIRE(restored.has_value());
  RoomState& again = **restored;
  // A new arrival queues: no token before the bookings are all due.
  BOOST_TEST((again.arrive(t + kSecond / 4).kind == Arrival::Kind::kTicket));
  // A blob from before bookings (no backlog_us line) still restores.
  std::string old = room.serialize(t);
  old.erase(old.find("backlog_us"));
  BOOST_TEST(RoomState::restore(o, old, t).has_value());
}

BOOST_AUTO_TEST_CASE(room_saved_before_opening_draws_after_restart) {
  const int64_t opens = kT0 + 10 * kSecond;
  RoomOptions o{.admit_rate = 50, .admit_burst = 20, .opens_at_us = opens};
  RoomState room(o, kT0, 5);
  for (int i = 0; i < 100; ++i) room.arrive(kT0);
  auto restored = RoomState::restore(o, room.serialize(kT0 + kSecond), opens + kSecond);
  BOOST_REQUIRE(restored.has_value());
  std::vector<uint64_t> places;
  for (uint64_t t = 1; t <= 100; ++t) places.push_back((*restored)->effective(t));
  std::sort(places.begin(), places.end());
  for (uint64_t t = 1; t <= 100; ++t) BOOST_TEST(places[t - 1] == t);
}

BOOST_AUTO_TEST_CASE(damaged_state_is_refused) {
  RoomOptions o{.admit_rate = 50, .admit_burst = 20};
  RoomState room(o, kT0, 5);
  std::string blob = room.serialize(kT0);
  BOOST_TEST(!RoomState::restore(o, "", kT0).has_value());
  BOOST_TEST(!RoomState::restore(o, blob.substr(0, blob.size() / 2), kT0).has_value());
  std::string bad = blob;
  bad.replace(bad.find("issued 0"), 8, "issued x");
  BOOST_TEST(!RoomState::restore(o, bad, kT0).has_value());
  std::string ahead = blob;
  ahead.replace(ahead.find("called_fp 0"), 11, "called_fp 9999999");
  BOOST_TEST(!RoomState::restore(o, ahead, kT0).has_value());
}

BOOST_AUTO_TEST_CASE(workers_sharing_a_room_never_exceed_the_bucket) {
  RoomOptions o{.admit_rate = 1000, .admit_burst = 100};
  RoomState room(o, kT0, 9);
  std::atomic<int64_t> clock{kT0};
  std::atomic<uint64_t> direct{0}, tickets{0}, redeemed{0};
  std::atomic<int64_t> last_due{kT0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      std::vector<uint64_t> mine;
      for (int i = 0; i < 20000; ++i) {
        int64_t now = clock.fetch_add(50);  // 10 s of simulated time in all
        Arrival a = room.arrive(now);
        if (a.kind == Arrival::Kind::kAdmitted) {
          ++direct;
        } else {
          ++tickets;
          mine.push_back(a.ticket);
        }
        if (!mine.empty() && i % 2 == 0) {
          Redemption r = room.redeem(mine.front(), now);
          if (r.kind == Redemption::Kind::kAdmitted || r.kind == Redemption::Kind::kScheduled) {
            ++redeemed;
            int64_t due = r.not_before_us, seen = last_due.load();
            while (due > seen && !last_due.compare_exchange_weak(seen, due)) {
            }
            mine.erase(mine.begin());
          } else if (r.kind != Redemption::Kind::kWaiting) {
            mine.erase(mine.begin());
          }
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  // Booked tokens may fall due after the last request: count up to the last due time.
  const double elapsed_s =
      static_cast<double>(std::max(clock.load(), last_due.load()) - kT0) / kSecond;
  BOOST_TEST(direct + tickets == 80000u);
  BOOST_TEST(room.issued() == tickets.load());
  BOOST_TEST(room.admissions() == direct + redeemed);
  BOOST_TEST(static_cast<double>(room.admissions()) <= 1000 * elapsed_s + 100 + 1);
}
