#define BOOST_TEST_MODULE waiting_room_admission_ledger
#include "modules/waiting_room/admission_ledger.h"

#include <boost/test/unit_test.hpp>

using namespace pforte::modules::waiting_room;
using Use = AdmissionLedger::Use;

namespace {
constexpr int64_t kT0 = 1'790'000'000'000'000;
constexpr int64_t kMinute = 60'000'000;
}  // namespace

BOOST_AUTO_TEST_CASE(a_person_stays_within_the_budget) {
  AdmissionLedger ledger({.budget = 300, .window_us = kMinute, .slots = 1024});
  for (int i = 0; i < 300; ++i) BOOST_REQUIRE((ledger.charge(7, kT0 + i * 1000) == Use::kOk));
}

BOOST_AUTO_TEST_CASE(copied_admission_is_useless_at_scale) {
  AdmissionLedger ledger({.budget = 300, .window_us = kMinute, .slots = 1024});
  const int64_t start = kT0 - kT0 % kMinute;
  int ok = 0;
  // A thousand people sharing one cookie, ten requests each, within a minute.
  for (int i = 0; i < 10000; ++i) ok += ledger.charge(42, start + i * 5000) == Use::kOk;
  BOOST_TEST(ok == 300);
  BOOST_TEST((ledger.charge(42, start + kMinute - 1) == Use::kOverBudget));
}

BOOST_AUTO_TEST_CASE(budget_renews_each_window) {
  AdmissionLedger ledger({.budget = 2, .window_us = kMinute, .slots = 1024});
  const int64_t start = kT0 - kT0 % kMinute;
  BOOST_TEST((ledger.charge(1, start) == Use::kOk));
  BOOST_TEST((ledger.charge(1, start + 1) == Use::kOk));
  BOOST_TEST((ledger.charge(1, start + 2) == Use::kOverBudget));
  BOOST_TEST((ledger.charge(1, start + kMinute) == Use::kOk));
}

BOOST_AUTO_TEST_CASE(admissions_are_counted_apart) {
  AdmissionLedger ledger({.budget = 1, .window_us = kMinute, .slots = 1024});
  for (uint64_t id = 1; id <= 1024; ++id) BOOST_TEST((ledger.charge(id, kT0) == Use::kOk));
  for (uint64_t id = 1; id <= 1024; ++id) BOOST_TEST((ledger.charge(id, kT0) == Use::kOverBudget));
}

BOOST_AUTO_TEST_CASE(admission_superseded_by_a_newer_one_in_its_slot_is_a_new_arrival) {
  AdmissionLedger ledger({.budget = 10, .window_us = kMinute, .slots = 1024});
  BOOST_TEST((ledger.charge(5, kT0) == Use::kOk));
  BOOST_TEST((ledger.charge(5 + 1024, kT0) == Use::kOk));
  BOOST_TEST((ledger.charge(5, kT0) == Use::kSuperseded));
  BOOST_TEST((ledger.charge(5 + 1024, kT0) == Use::kOk));
}

BOOST_AUTO_TEST_CASE(recommended_ring_outlives_two_session_ttls) {
  uint64_t slots = recommended_slots(200, 400, 900);
  BOOST_TEST(slots >= 2u * 200 * 900);
  BOOST_TEST((slots & (slots - 1)) == 0u);
  AdmissionLedger ledger({.slots = slots});
  BOOST_TEST(ledger.slots() == slots);
}
