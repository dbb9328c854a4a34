#define BOOST_TEST_MODULE cache_http_date_parser
#include "modules/cache/http_date_parser.h"

#include <boost/test/unit_test.hpp>

#include "proxy/common/http_date.h"

using namespace std::chrono;
using pforte::modules::cache::parse_http_date;

namespace {
const sys_seconds k1994 = sys_days{1994y / November / 6} + 8h + 49min + 37s;
const sys_seconds k2024 = sys_days{2024y / March / 1};
}  // namespace

BOOST_AUTO_TEST_CASE(imf_fixdate_is_parsed) {
  auto t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(t.has_value());
  BOOST_TEST((*t == k1994));
}

BOOST_AUTO_TEST_CASE(rfc850_date_is_parsed_with_a_two_digit_year) {
  auto t = parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", k2024);
  BOOST_TEST(t.has_value());
  BOOST_TEST((*t == k1994));
  // "24" is within 50 years of 2024: this century.
  auto u = parse_http_date("Friday, 01-Mar-24 00:00:00 GMT", k2024);
  BOOST_TEST((u && *u == k2024));
}

BOOST_AUTO_TEST_CASE(asctime_date_is_parsed_with_a_padded_day) {
  auto t = parse_http_date("Sun Nov  6 08:49:37 1994");
  BOOST_TEST((t && *t == k1994));
}

BOOST_AUTO_TEST_CASE(what_pforte_formats_parses_back) {
  time_t now = 1'700'000'000;
  auto t = parse_http_date(pforte::format_http_date(now));
  BOOST_TEST((t && t->time_since_epoch().count() == now));
}

BOOST_AUTO_TEST_CASE(invalid_dates_are_rejected) {
  BOOST_TEST(!parse_http_date("0").has_value());
  BOOST_TEST(!parse_http_date("").has_value());
  BOOST_TEST(!parse_http_date("Sun, 06 Nov 1994 08:49:37").has_value());
  BOOST_TEST(!parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT").has_value());
  BOOST_TEST(!parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT").has_value());
  BOOST_TEST(!parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT").has_value());
  BOOST_TEST(!parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing").has_value());
}
