#define BOOST_TEST_MODULE isolation_circuit_breaker
#include "modules/isolation/circuit_breaker.h"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using pforte::modules::isolation::CircuitBreaker;
using pforte::modules::isolation::CircuitBreakerPolicy;
using pforte::modules::isolation::Clock;
using State = CircuitBreaker::State;

namespace {

const Clock::time_point kT0 = Clock::time_point{} + 1000s;

CircuitBreakerPolicy policy() {
  CircuitBreakerPolicy p;
  p.failure_ratio = 0.5;
  p.min_requests = 20;
  p.window = 10s;
  p.open_for = 5s;
  p.max_probes = 2;
  p.close_after = 3;
  return p;
}

// Sends `n` requests at `now`, each with the given outcome.
void outcomes(CircuitBreaker& b, int n, bool success, Clock::time_point now) {
  for (int i = 0; i < n; ++i) {
    auto permit = b.allow(now);
    BOOST_REQUIRE(permit);
    b.record(permit, success, now);
  }
}

// Opens `b` at kT0 with 20 failures.
void trip(CircuitBreaker& b) {
  outcomes(b, 20, false, kT0);
  BOOST_REQUIRE((b.state(kT0) == State::kOpen));
}

}  // namespace

BOOST_AUTO_TEST_CASE(stays_closed_below_min_requests) {
  CircuitBreaker b(policy());
  outcomes(b, 19, false, kT0);
  BOOST_TEST((b.state(kT0) == State::kClosed));
  BOOST_TEST(static_cast<bool>(b.allow(kT0)));
}

BOOST_AUTO_TEST_CASE(opens_when_the_failure_ratio_is_reached) {
  CircuitBreaker b(policy());
  outcomes(b, 11, true, kT0);
  outcomes(b, 10, false, kT0);  // 10 / 21 < 0.5
  BOOST_TEST((b.state(kT0) == State::kClosed));
  outcomes(b, 1, false, kT0);  // 11 / 22 = 0.5
  BOOST_TEST((b.state(kT0) == State::kOpen));
}

BOOST_AUTO_TEST_CASE(successes_alone_never_open_it) {
  auto p = policy();
  p.failure_ratio = 0.0;
  CircuitBreaker b(p);
  outcomes(b, 100, true, kT0);
  BOOST_TEST((b.state(kT0) == State::kClosed));
}

BOOST_AUTO_TEST_CASE(fails_fast_while_open) {
  CircuitBreaker b(policy());
  trip(b);
  BOOST_TEST(!b.allow(kT0));
  BOOST_TEST(!b.allow(kT0 + 4999ms));
  BOOST_TEST((b.retry_after(kT0 + 1s) == Clock::duration(4s)));
  BOOST_TEST((b.retry_after(kT0 + 5s) == Clock::duration::zero()));
}

BOOST_AUTO_TEST_CASE(half_open_lets_only_probes_through) {
  CircuitBreaker b(policy());
  trip(b);
  auto now = kT0 + 5s;
  BOOST_TEST((b.state(now) == State::kHalfOpen));
  auto p1 = b.allow(now);
  auto p2 = b.allow(now);
  BOOST_TEST(static_cast<bool>(p1));
  BOOST_TEST(p1.probe());
  BOOST_TEST(static_cast<bool>(p2));
  BOOST_TEST(!b.allow(now));  // max_probes = 2 in flight
  b.record(p1, true, now);
  auto p3 = b.allow(now);  // a slot came free
  BOOST_TEST(static_cast<bool>(p3));
  BOOST_TEST(!b.allow(now));
}

BOOST_AUTO_TEST_CASE(closes_after_enough_successful_probes) {
  CircuitBreaker b(policy());
  trip(b);
  auto now = kT0 + 6s;
  for (int i = 0; i < 2; ++i) {
    auto p = b.allow(now);
    BOOST_REQUIRE(p.probe());
    b.record(p, true, now);
    BOOST_TEST((b.state(now) == State::kHalfOpen));
  }
  auto p = b.allow(now);
  b.record(p, true, now);
  BOOST_TEST((b.state(now) == State::kClosed));
  auto q = b.allow(now);
  BOOST_TEST(static_cast<bool>(q));
  BOOST_TEST(!q.probe());
}

BOOST_AUTO_TEST_CASE(a_closed_breaker_starts_with_an_empty_window) {
  CircuitBreaker b(policy());
  trip(b);
  auto now = kT0 + 6s;
  outcomes(b, 3, true, now);  // three probes close it
  BOOST_REQUIRE((b.state(now) == State::kClosed));
  // The 20 failures that opened it are forgotten: 19 more do not reopen it.
  outcomes(b, 19, false, now);
  BOOST_TEST((b.state(now) == State::kClosed));
}

BOOST_AUTO_TEST_CASE(reopens_when_a_probe_fails) {
  CircuitBreaker b(policy());
  trip(b);
  auto now = kT0 + 5s;
  auto good = b.allow(now);
  auto bad = b.allow(now);
  b.record(good, true, now);
  b.record(bad, false, now + 1s);
  BOOST_TEST((b.state(now + 1s) == State::kOpen));
  BOOST_TEST(!b.allow(now + 5999ms));
  BOOST_TEST(b.allow(now + 6s).probe());
}

BOOST_AUTO_TEST_CASE(an_abandoned_probe_frees_its_slot) {
  CircuitBreaker b(policy());
  trip(b);
  auto now = kT0 + 5s;
  {
    auto p1 = b.allow(now);
    auto p2 = b.allow(now);
    BOOST_TEST(!b.allow(now));
  }
  BOOST_TEST(static_cast<bool>(b.allow(now)));
  BOOST_TEST((b.state(now) == State::kHalfOpen));
}

BOOST_AUTO_TEST_CASE(outcomes_from_an_earlier_period_are_ignored) {
  CircuitBreaker b(policy());
  auto early = b.allow(kT0);  // admitted while closed
  trip(b);
  auto now = kT0 + 5s;
  b.record(early, true, now);  // not a probe: says nothing about the server now
  BOOST_TEST((b.state(now) == State::kHalfOpen));
  auto p1 = b.allow(now);
  auto p2 = b.allow(now);
  BOOST_TEST(!b.allow(now));  // the late success did not count as a probe or free a slot
  // A late failure from before the opening does not reopen it either.
  CircuitBreaker c(policy());
  auto stale = c.allow(kT0);
  trip(c);
  auto probe = c.allow(now);
  c.record(stale, false, now);
  BOOST_TEST((c.state(now) == State::kHalfOpen));
}

BOOST_AUTO_TEST_CASE(a_permit_counts_once) {
  CircuitBreaker b(policy());
  outcomes(b, 19, false, kT0);
  auto p = b.allow(kT0);
  b.record(p, true, kT0);
  b.record(p, false, kT0);  // ignored: already recorded
  BOOST_TEST((b.state(kT0) == State::kClosed));
  CircuitBreaker::Permit denied;
  b.record(denied, false, kT0);  // ignored: never allowed
  BOOST_TEST((b.state(kT0) == State::kClosed));
}

BOOST_AUTO_TEST_CASE(old_failures_age_out_of_the_window) {
  CircuitBreaker b(policy());
  outcomes(b, 15, false, kT0);
  // 9 s later the failures still count: 15 + 5 = 20 results, all failed.
  CircuitBreaker c(policy());
  outcomes(c, 15, false, kT0);
  outcomes(c, 5, false, kT0 + 9s);
  BOOST_TEST((c.state(kT0 + 9s) == State::kOpen));
  // A window later they are gone: 5 failures in 20 results stay below the ratio.
  outcomes(b, 15, true, kT0 + 10s);
  outcomes(b, 5, false, kT0 + 10s);
  BOOST_TEST((b.state(kT0 + 10s) == State::kClosed));
}

BOOST_AUTO_TEST_CASE(policy_comes_from_the_operators_table) {
  pforte::config::CircuitBreakerConfig c;
  c.failure_ratio = 0.25;
  c.min_requests = 7;
  c.window = std::chrono::milliseconds(3000);
  c.open_for = std::chrono::milliseconds(1500);
  auto p = CircuitBreakerPolicy::from_config(c);
  BOOST_TEST(p.failure_ratio == 0.25);
  BOOST_TEST(p.min_requests == 7u);
  BOOST_TEST((p.window == Clock::duration(3s)));
  BOOST_TEST((p.open_for == Clock::duration(1500ms)));
}

BOOST_AUTO_TEST_CASE(workers_can_share_a_breaker) {
  CircuitBreaker b(policy());
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto now = kT0 + std::chrono::milliseconds(i);
        auto p = b.allow(now);
        if (!p) continue;
        ++allowed;
        b.record(p, (i + t) % 3 != 0, now);
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(allowed.load() > 0);
}
