#define BOOST_TEST_MODULE headers
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "proxy/http/headers.h"

using pforte::http::for_each_token;
using pforte::http::Headers;
using pforte::http::iequals;

BOOST_AUTO_TEST_SUITE(headers)

BOOST_AUTO_TEST_CASE(added_names_are_lower_cased_and_values_kept) {
  Headers h;
  h.add("Content-Type", "Text/HTML");
  BOOST_TEST(h.size() == 1u);
  BOOST_TEST(h.begin()->name == "content-type");
  BOOST_TEST(h.begin()->value == "Text/HTML");
}

BOOST_AUTO_TEST_CASE(get_is_case_insensitive_and_returns_the_first_value) {
  Headers h;
  h.add("x-a", "1");
  h.add("X-A", "2");
  BOOST_TEST(h.get("X-a").value() == "1");
  BOOST_TEST(h.has("x-A"));
  BOOST_TEST(!h.get("x-b").has_value());
  BOOST_TEST(!h.has("x-b"));
}

BOOST_AUTO_TEST_CASE(repeated_names_keep_their_order) {
  Headers h;
  h.add("a", "1");
  h.add("b", "2");
  h.add("a", "3");
  std::vector<std::string> seen;
  for (const auto& f : h) seen.push_back(f.name + "=" + f.value);
  BOOST_TEST(seen == (std::vector<std::string>{"a=1", "b=2", "a=3"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(set_replaces_every_field_of_that_name) {
  Headers h;
  h.add("a", "1");
  h.add("b", "2");
  h.add("A", "3");
  h.set("a", "4");
  BOOST_TEST(h.size() == 2u);
  BOOST_TEST(h.get("a").value() == "4");
  BOOST_TEST(h.get("b").value() == "2");
}

BOOST_AUTO_TEST_CASE(set_keeps_the_first_field_in_its_place) {
  Headers h;
  h.add("a", "1");
  h.add("b", "2");
  h.add("A", "3");
  h.add("c", "4");
  h.set("A", "5");
  std::vector<std::string> seen;
  for (const auto& f : h) seen.push_back(f.name + "=" + f.value);
  BOOST_TEST(seen == (std::vector<std::string>{"a=5", "b=2", "c=4"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(set_appends_an_absent_field) {
  Headers h;
  h.set("Via", "1.1 pforte");
  BOOST_TEST(h.get("via").value() == "1.1 pforte");
}

BOOST_AUTO_TEST_CASE(remove_counts_the_removed_fields) {
  Headers h;
  h.add("a", "1");
  h.add("b", "2");
  h.add("a", "3");
  BOOST_TEST(h.remove("A") == 2u);
  BOOST_TEST(h.remove("a") == 0u);
  BOOST_TEST(h.size() == 1u);
}

BOOST_AUTO_TEST_CASE(clear_empties_the_list) {
  Headers h;
  h.add("a", "1");
  BOOST_TEST(!h.empty());
  h.clear();
  BOOST_TEST(h.empty());
}

BOOST_AUTO_TEST_CASE(contains_token_finds_a_token_in_any_field) {
  Headers h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("connection", "te");
  BOOST_TEST(h.contains_token("connection", "upgrade"));
  BOOST_TEST(h.contains_token("CONNECTION", "TE"));
  BOOST_TEST(!h.contains_token("connection", "close"));
  BOOST_TEST(!h.contains_token("upgrade", "upgrade"));
}

BOOST_AUTO_TEST_CASE(contains_token_matches_whole_tokens_only) {
  Headers h;
  h.add("connection", "closed, xclose");
  BOOST_TEST(!h.contains_token("connection", "close"));
}

BOOST_AUTO_TEST_CASE(iequals_ignores_ascii_case_only) {
  BOOST_TEST(iequals("Content-Length", "content-LENGTH"));
  BOOST_TEST(!iequals("abc", "abcd"));
  BOOST_TEST(!iequals("a-b", "a_b"));
  BOOST_TEST(iequals("", ""));
  BOOST_TEST(!iequals("\xc4", "\xe4"));  // not a Latin-1 case fold
}

BOOST_AUTO_TEST_CASE(for_each_token_trims_and_skips_empty_items) {
  std::vector<std::string> seen;
  for_each_token(" gzip ,\tchunked,, ,x ", [&](std::string_view t) { seen.emplace_back(t); });
  BOOST_TEST(seen == (std::vector<std::string>{"gzip", "chunked", "x"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(for_each_token_of_an_empty_list_yields_nothing) {
  int calls = 0;
  for_each_token("", [&](std::string_view) { ++calls; });
  for_each_token(" , ,", [&](std::string_view) { ++calls; });
  BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_SUITE_END()
