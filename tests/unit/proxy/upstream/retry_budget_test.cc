#define BOOST_TEST_MODULE upstream_retry_budget
#include "proxy/upstream/retry_budget.h"

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;
using pforte::upstream::Clock;
using pforte::upstream::RetryBudget;
using pforte::upstream::RetryBudgetPolicy;

namespace {
const Clock::time_point kT0 = Clock::time_point{} + 1000s;

// Every request fails on every server; each asks for up to `tries` retries.
struct Outage {
  uint64_t requests = 0;
  uint64_t retries = 0;
};

Outage total_outage(RetryBudget& budget, int per_second, Clock::duration length, int tries) {
  Outage o;
  auto gap = Clock::duration(1s) / per_second;
  for (auto t = Clock::duration::zero(); t < length; t += gap) {
    budget.record_request(kT0 + t);
    ++o.requests;
    for (int i = 0; i < tries && budget.try_retry(kT0 + t); ++i) ++o.retries;
  }
  return o;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_total_outage_adds_at_most_a_fifth_more_attempts) {
  RetryBudget budget;  // ratio 0.2, floor 3/s, window 10 s
  auto o = total_outage(budget, 1000, 60s, 3);
  BOOST_TEST(o.requests == 60'000u);
  // 20% of the requests plus the floor of 3/s; the window slides bucket by bucket, so allow 1%.
  BOOST_TEST(o.retries <= o.requests * 21 / 100 + 3 * 60);
  BOOST_TEST(o.retries >= o.requests * 19 / 100);  // the budget is used, not just refused
}

BOOST_AUTO_TEST_CASE(a_burst_cannot_borrow_from_the_future) {
  RetryBudget budget;
  // 100 requests at once, each failing: 20 + the floor of 30 retries, not 100.
  auto o = total_outage(budget, 1'000'000, 100us, 5);
  BOOST_TEST(o.requests == 100u);
  BOOST_TEST(o.retries == 50u);
}

BOOST_AUTO_TEST_CASE(low_traffic_can_still_retry) {
  RetryBudget budget;
  // One request a second, failing: 20% would allow none for the first five seconds.
  auto o = total_outage(budget, 1, 120s, 1);
  BOOST_TEST(o.retries == o.requests);
}

BOOST_AUTO_TEST_CASE(the_budget_refills_as_the_window_slides) {
  RetryBudgetPolicy p;
  p.ratio = 0.0;
  p.min_per_second = 0.5;  // 5 retries per 10 s window
  RetryBudget budget(p);
  for (int i = 0; i < 5; ++i) BOOST_TEST(budget.try_retry(kT0));
  BOOST_TEST(!budget.try_retry(kT0));
  BOOST_TEST(!budget.try_retry(kT0 + 9s));
  BOOST_TEST(budget.available(kT0 + 10s) == 5u);
  BOOST_TEST(budget.try_retry(kT0 + 10s));
  BOOST_TEST(budget.taken() == 6u);
  BOOST_TEST(budget.refused() == 2u);
}

BOOST_AUTO_TEST_CASE(no_retries_when_the_budget_is_zero) {
  RetryBudgetPolicy p;
  p.ratio = 0.0;
  p.min_per_second = 0.0;
  RetryBudget budget(p);
  for (int i = 0; i < 100; ++i) budget.record_request(kT0);
  BOOST_TEST(!budget.try_retry(kT0));
}
