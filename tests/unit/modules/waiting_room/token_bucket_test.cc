#define BOOST_TEST_MODULE waiting_room_token_bucket
#include "modules/waiting_room/token_bucket.h"

#include <boost/test/unit_test.hpp>

using pforte::modules::waiting_room::TokenBucket;

namespace {

constexpr int64_t kT0 = 1'790'000'000'000'000;  // unix µs
constexpr int64_t kSecond = 1'000'000;

int take_all(TokenBucket& b, int64_t now) {
  int n = 0;
  while (b.try_take(now)) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(full_bucket_gives_burst_then_rate) {
  TokenBucket b(100, 50, kT0);
  BOOST_TEST(b.available(kT0) == 50.0);
  BOOST_TEST(take_all(b, kT0) == 50);
  BOOST_TEST(b.available(kT0) == 0.0);
  BOOST_TEST(take_all(b, kT0 + kSecond / 10) == 10);  // 100/s for 0.1 s
  BOOST_TEST(take_all(b, kT0 + kSecond / 10 + 9'999) == 0);
  BOOST_TEST(take_all(b, kT0 + kSecond / 10 + 10'000) == 1);
}

BOOST_AUTO_TEST_CASE(bookings_fall_due_one_per_interval_and_hold_back_takes) {
  TokenBucket b(100, 2, kT0);
  BOOST_TEST(b.book(kT0) == kT0);  // a token is there: due now
  BOOST_TEST(b.book(kT0) == kT0);
  BOOST_TEST(b.backlog_us(kT0) == 0);  // empty, nothing booked ahead
  BOOST_TEST(b.book(kT0) == kT0 + kSecond / 100);
  BOOST_TEST(b.book(kT0) == kT0 + 2 * kSecond / 100);
  BOOST_TEST(b.backlog_us(kT0) == 2 * kSecond / 100);
  // Nobody takes a booked token: takes fail until the bookings are due.
  BOOST_TEST(!b.try_take(kT0 + 2 * kSecond / 100));
  BOOST_TEST(b.try_take(kT0 + 3 * kSecond / 100));
  BOOST_TEST(b.backlog_us(kT0 + kSecond) == 0);
}

BOOST_AUTO_TEST_CASE(refill_is_fractional) {
  TokenBucket b(3, 1, kT0);
  BOOST_TEST(b.try_take(kT0));
  BOOST_TEST(b.available(kT0 + kSecond / 6) == 0.5, boost::test_tools::tolerance(1e-4));
  BOOST_TEST(!b.try_take(kT0 + kSecond / 6));
  BOOST_TEST(b.try_take(kT0 + kSecond / 3 + 1));
}

BOOST_AUTO_TEST_CASE(long_idle_does_not_overshoot_burst) {
  TokenBucket b(500, 20, kT0);
  BOOST_TEST(take_all(b, kT0) == 20);
  const int64_t later = kT0 + 3600 * kSecond;
  BOOST_TEST(b.available(later) == 20.0);
  BOOST_TEST(take_all(b, later) == 20);
}

BOOST_AUTO_TEST_CASE(rate_is_accurate_over_sixty_simulated_seconds) {
  for (double rate : {1.0, 7.0, 200.0, 333.3, 5000.0}) {
    TokenBucket b(rate, 10, kT0);
    take_all(b, kT0);
    int taken = 0;
    // A greedy client polling every millisecond.
    for (int64_t t = kT0; t <= kT0 + 60 * kSecond; t += 1000) taken += take_all(b, t);
    BOOST_TEST(std::abs(taken - rate * 60) <= 1.0, "rate " << rate << " gave " << taken);
  }
}

BOOST_AUTO_TEST_CASE(full_time_counts_only_while_full) {
  TokenBucket b(10, 5, kT0);
  BOOST_TEST(b.full_ns_between(kT0, kT0 + kSecond) == 1'000'000'000);
  take_all(b, kT0 + kSecond);  // empty; full again 0.5 s later
  BOOST_TEST(b.full_ns_between(kT0 + kSecond, kT0 + 2 * kSecond) == 500'000'000);
}

BOOST_AUTO_TEST_CASE(restored_level_is_kept) {
  TokenBucket b(10, 5, kT0);
  b.set_available(2.5, kT0);
  BOOST_TEST(b.available(kT0) == 2.5, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(take_all(b, kT0) == 2);
}
