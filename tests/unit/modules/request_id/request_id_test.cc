#define BOOST_TEST_MODULE request_id
#include "modules/request_id/request_id.h"

#include <boost/test/unit_test.hpp>
#include <set>

using pforte::modules::request_id::Generator;
using pforte::modules::request_id::is_acceptable;

BOOST_AUTO_TEST_CASE(generated_ids_are_32_hex_digits_and_distinct) {
  Generator g(42);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id = g.next();
    BOOST_TEST(id.size() == 32u);
    BOOST_TEST(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(id);
  }
  BOOST_TEST(seen.size() == 10000u);
}

BOOST_AUTO_TEST_CASE(well_formed_incoming_ids_are_kept) {
  BOOST_TEST(is_acceptable("abc-123_DEF.4:5"));
  BOOST_TEST(is_acceptable(std::string(128, 'a')));
}

BOOST_AUTO_TEST_CASE(malformed_incoming_ids_are_replaced) {
  BOOST_TEST(!is_acceptable(""));
  BOOST_TEST(!is_acceptable(std::string(129, 'a')));
  BOOST_TEST(!is_acceptable("has space"));
  BOOST_TEST(!is_acceptable("quote\""));
  BOOST_TEST(!is_acceptable("new\nline"));
}
