#define BOOST_TEST_MODULE waiting_room_jitter
#include "modules/waiting_room/jitter.h"

#include <boost/test/unit_test.hpp>
#include <cmath>

using namespace pforte::modules::waiting_room;

BOOST_AUTO_TEST_CASE(delay_stays_within_refresh_times_one_plus_minus_jitter) {
  PollPolicy p{10, 0.5, 1};
  SplitMix64 rng(1);
  int64_t lo = INT64_MAX, hi = 0;
  for (int i = 0; i < 100000; ++i) {
    int64_t ms = next_poll_ms(p, 600, rng.next());
    lo = std::min(lo, ms);
    hi = std::max(hi, ms);
  }
  BOOST_TEST(lo >= 5000);
  BOOST_TEST(hi <= 15000);
  BOOST_TEST(lo < 5100);  // the whole range is used
  BOOST_TEST(hi > 14900);
}

BOOST_AUTO_TEST_CASE(delay_mean_is_refresh_and_spread_is_uniform) {
  PollPolicy p{10, 0.5, 1};
  SplitMix64 rng(7);
  constexpr int kN = 200000;
  double sum = 0;
  int buckets[10] = {};
  for (int i = 0; i < kN; ++i) {
    int64_t ms = next_poll_ms(p, 1e6, rng.next());
    sum += static_cast<double>(ms);
    ++buckets[std::min<int64_t>(9, (ms - 5000) / 1000)];
  }
  BOOST_TEST(sum / kN == 10000.0, boost::test_tools::tolerance(0.005));
  for (int b : buckets) BOOST_TEST(std::abs(b - kN / 10) < kN / 100);
}

BOOST_AUTO_TEST_CASE(visitor_comes_back_just_after_the_turn_when_it_is_near) {
  // Turn in 4 s, well inside the refresh: back between 4 s and 4 s + kNearSpreadS, spread evenly
  // over that second, never before the turn and never a whole refresh later.
  PollPolicy p{10, 0.5, 1};
  SplitMix64 rng(3);
  double sum = 0;
  int64_t lo = INT64_MAX, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    int64_t ms = next_poll_ms(p, 4, rng.next());
    lo = std::min(lo, ms);
    hi = std::max(hi, ms);
    sum += static_cast<double>(ms);
  }
  BOOST_TEST(lo >= 4000);
  BOOST_TEST(hi <= 4000 + kNearSpreadS * 1000);
  BOOST_TEST(lo < 4050);
  BOOST_TEST(hi > 4000 + kNearSpreadS * 1000 - 50);
  BOOST_TEST(sum / 10000 == 4000.0 + kNearSpreadS * 500, boost::test_tools::tolerance(0.01));
}

BOOST_AUTO_TEST_CASE(a_short_wait_is_spread_by_jitter_times_the_wait) {
  // Turn in 1.2 s with jitter 0.5: back within [1.2 s, 1.8 s].
  PollPolicy p{10, 0.5, 1};
  SplitMix64 rng(5);
  for (int i = 0; i < 10000; ++i) {
    int64_t ms = next_poll_ms(p, 1.2, rng.next());
    BOOST_TEST(ms >= 1200);
    BOOST_TEST(ms <= 1800);
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_turn_waits_a_jittered_refresh) {
  PollPolicy p{10, 0.5, 1};
  SplitMix64 rng(9);
  for (int i = 0; i < 1000; ++i) {
    int64_t ms = next_poll_ms(p, std::nan(""), rng.next());
    BOOST_TEST(ms >= 5000);
    BOOST_TEST(ms <= 15000);
  }
}

BOOST_AUTO_TEST_CASE(delay_never_goes_below_the_floor) {
  PollPolicy p{10, 0.9, 1};
  for (uint64_t bits : {uint64_t{0}, uint64_t{1} << 62, ~uint64_t{0}}) {
    BOOST_TEST(next_poll_ms(p, 0, bits) >= 1000);
    BOOST_TEST(next_poll_ms(p, 0.2, bits) >= 1000);
    BOOST_TEST(next_poll_ms(p, 3, bits) >= 1000);
  }
  BOOST_TEST(next_poll_ms(PollPolicy{0.1, 0, 1}, 100, 0) == 1000);
}

BOOST_AUTO_TEST_CASE(same_random_bits_give_the_same_delay) {
  PollPolicy p{10, 0.5, 1};
  SplitMix64 a(42), b(42);
  for (int i = 0; i < 100; ++i)
    BOOST_TEST(next_poll_ms(p, 30, a.next()) == next_poll_ms(p, 30, b.next()));
}

BOOST_AUTO_TEST_CASE(whole_seconds_round_to_nearest_and_at_least_one) {
  BOOST_TEST(whole_seconds(0) == 1);
  BOOST_TEST(whole_seconds(1499) == 1);
  BOOST_TEST(whole_seconds(1500) == 2);
  BOOST_TEST(whole_seconds(14999) == 15);
}
