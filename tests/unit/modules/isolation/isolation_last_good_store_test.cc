#define BOOST_TEST_MODULE isolation_last_good_store
#include "modules/isolation/last_good_store.h"

#include <boost/test/unit_test.hpp>

using pforte::modules::isolation::LastGoodStore;

BOOST_AUTO_TEST_CASE(a_stored_copy_is_returned_and_replaced_by_a_newer_one) {
  LastGoodStore s(10, 1000, 100);
  BOOST_TEST(!s.get("h/news"));
  s.put("h/news", "one");
  BOOST_TEST(*s.get("h/news") == "one");
  s.put("h/news", "two!");
  BOOST_TEST(*s.get("h/news") == "two!");
  BOOST_TEST(s.entries() == 1u);
  BOOST_TEST(s.bytes() == 6u + 4u);
}

BOOST_AUTO_TEST_CASE(the_least_recently_used_copy_goes_first_when_entries_run_out) {
  LastGoodStore s(2, 1000, 100);
  s.put("a", "1");
  s.put("b", "2");
  BOOST_TEST(s.get("a"));  // a is now more recent than b
  s.put("c", "3");
  BOOST_TEST(s.get("a"));
  BOOST_TEST(!s.get("b"));
  BOOST_TEST(s.get("c"));
}

BOOST_AUTO_TEST_CASE(bytes_are_bounded) {
  LastGoodStore s(100, 30, 20);
  s.put("a", std::string(10, 'x'));  // 11 bytes with the key
  s.put("b", std::string(10, 'y'));  // 22
  s.put("c", std::string(10, 'z'));  // 33 > 30: a goes
  BOOST_TEST(!s.get("a"));
  BOOST_TEST(s.bytes() <= 30u);
  BOOST_TEST(s.entries() == 2u);
}

BOOST_AUTO_TEST_CASE(a_copy_over_the_entry_limit_is_not_kept) {
  LastGoodStore s(100, 1000, 20);
  s.put("a", "small");
  s.put("a", std::string(21, 'x'));
  BOOST_TEST(*s.get("a") == "small");
  s.put("b", std::string(21, 'x'));
  BOOST_TEST(!s.get("b"));
}

BOOST_AUTO_TEST_CASE(a_copy_handed_out_stays_valid_after_eviction) {
  LastGoodStore s(1, 1000, 100);
  s.put("a", "kept");
  auto copy = s.get("a");
  s.put("b", "other");
  BOOST_TEST(!s.get("a"));
  BOOST_TEST(*copy == "kept");
}
