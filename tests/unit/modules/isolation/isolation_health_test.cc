#define BOOST_TEST_MODULE isolation_health
#include "modules/isolation/health.h"

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;
using pforte::modules::isolation::Clock;
using pforte::modules::isolation::HealthChange;
using pforte::modules::isolation::HealthPolicy;
using pforte::modules::isolation::ServerHealth;

namespace {
const Clock::time_point kT0 = Clock::time_point{} + 1000s;

HealthPolicy policy() {
  HealthPolicy p;
  p.fall = 3;
  p.rise = 2;
  p.eject_after = 5;
  p.eject_base = 1s;
  p.eject_max = 30s;
  return p;
}

void fail(ServerHealth& h, int n, Clock::time_point now) {
  for (int i = 0; i < n; ++i) h.record_failure(now);
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_server_starts_up) {
  ServerHealth h(policy());
  BOOST_TEST(h.is_up(kT0));
  BOOST_TEST(h.check_up());
}

BOOST_AUTO_TEST_CASE(goes_down_after_fall_consecutive_failed_checks) {
  ServerHealth h(policy());
  BOOST_TEST((h.record_check(false) == HealthChange::kNone));
  BOOST_TEST((h.record_check(false) == HealthChange::kNone));
  BOOST_TEST(h.is_up(kT0));
  BOOST_TEST((h.record_check(false) == HealthChange::kWentDown));
  BOOST_TEST(!h.is_up(kT0));
  BOOST_TEST((h.record_check(false) == HealthChange::kNone));
}

BOOST_AUTO_TEST_CASE(a_good_check_restarts_the_fall_count) {
  ServerHealth h(policy());
  h.record_check(false);
  h.record_check(false);
  h.record_check(true);
  h.record_check(false);
  h.record_check(false);
  BOOST_TEST(h.is_up(kT0));
}

BOOST_AUTO_TEST_CASE(comes_back_after_rise_consecutive_good_checks) {
  ServerHealth h(policy());
  for (int i = 0; i < 3; ++i) h.record_check(false);
  BOOST_TEST((h.record_check(true) == HealthChange::kNone));
  BOOST_TEST(!h.is_up(kT0));
  BOOST_TEST((h.record_check(true) == HealthChange::kWentUp));
  BOOST_TEST(h.is_up(kT0));
}

BOOST_AUTO_TEST_CASE(a_failed_check_restarts_the_rise_count) {
  ServerHealth h(policy());
  for (int i = 0; i < 3; ++i) h.record_check(false);
  h.record_check(true);
  h.record_check(false);
  h.record_check(true);
  BOOST_TEST(!h.is_up(kT0));
  h.record_check(true);
  BOOST_TEST(h.is_up(kT0));
}

BOOST_AUTO_TEST_CASE(consecutive_request_failures_eject_the_server) {
  ServerHealth h(policy());
  fail(h, 4, kT0);
  BOOST_TEST(h.is_up(kT0));
  BOOST_TEST((h.record_failure(kT0) == HealthChange::kEjected));
  BOOST_TEST(!h.is_up(kT0));
  BOOST_TEST(!h.is_up(kT0 + 999ms));
  BOOST_TEST(h.is_up(kT0 + 1s));
  BOOST_TEST(h.check_up());  // ejection is separate from the active checks
}

BOOST_AUTO_TEST_CASE(a_success_restarts_the_failure_count) {
  ServerHealth h(policy());
  fail(h, 4, kT0);
  h.record_success();
  fail(h, 4, kT0);
  BOOST_TEST(h.is_up(kT0));
}

BOOST_AUTO_TEST_CASE(failures_during_an_ejection_do_not_extend_it) {
  ServerHealth h(policy());
  fail(h, 5, kT0);
  fail(h, 10, kT0 + 500ms);  // requests that were already under way
  BOOST_TEST((h.ejected_until() == kT0 + 1s));
}

BOOST_AUTO_TEST_CASE(the_ejection_period_doubles_up_to_the_max) {
  ServerHealth h(policy());
  auto now = kT0;
  fail(h, 5, now);
  Clock::duration expected = 1s;
  for (int round = 0; round < 8; ++round) {
    BOOST_TEST((h.ejected_until() - now == expected));
    now = h.ejected_until();
    BOOST_TEST(h.is_up(now));
    // On probation: one failure ejects it again, for twice as long (at most 30 s).
    BOOST_TEST((h.record_failure(now) == HealthChange::kEjected));
    expected = std::min<Clock::duration>(expected * 2, 30s);
  }
  BOOST_TEST((h.ejected_until() - now == Clock::duration(30s)));
}

BOOST_AUTO_TEST_CASE(a_success_after_an_ejection_clears_the_record) {
  ServerHealth h(policy());
  fail(h, 5, kT0);
  h.record_failure(kT0 + 1s);  // probation failure: 2 s
  BOOST_REQUIRE((h.ejected_until() == kT0 + 3s));
  h.record_success();
  fail(h, 4, kT0 + 3s);
  BOOST_TEST(h.is_up(kT0 + 3s));
  fail(h, 1, kT0 + 3s);
  BOOST_TEST((h.ejected_until() == kT0 + 4s));  // back to the base period
}

BOOST_AUTO_TEST_CASE(up_needs_both_checks_and_no_ejection) {
  ServerHealth h(policy());
  for (int i = 0; i < 3; ++i) h.record_check(false);
  BOOST_TEST(!h.is_up(kT0));
  for (int i = 0; i < 2; ++i) h.record_check(true);
  fail(h, 5, kT0);
  BOOST_TEST(h.check_up());
  BOOST_TEST(!h.is_up(kT0));
  BOOST_TEST(h.is_up(kT0 + 1s));
}

BOOST_AUTO_TEST_CASE(policy_comes_from_the_operators_table) {
  pforte::config::HealthConfig c;
  c.fall = 5;
  c.rise = 4;
  auto p = HealthPolicy::from_config(c);
  BOOST_TEST(p.fall == 5u);
  BOOST_TEST(p.rise == 4u);
  ServerHealth h(p);
  for (int i = 0; i < 4; ++i) h.record_check(false);
  BOOST_TEST(h.check_up());
  h.record_check(false);
  BOOST_TEST(!h.check_up());
}
