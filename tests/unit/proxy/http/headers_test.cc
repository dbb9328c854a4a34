#define BOOST_TEST_MODULE headers
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "proxy/http/headers.h"

using pforte::http::for_each_token;
using pforte::http::Headers;
using pforte::http::iequals;

namespace {
// "name=value" for each field, in order.
std::vector<std::string> listing(const Headers& h) {
  std::vector<std::string> out;
  for (const auto& f : h) out.push_back(std::string(f.name).append("=").append(f.value));
  return out;
}
}  // namespace

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
  std::vector<std::string> seen = listing(h);
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
  std::vector<std::string> seen = listing(h);
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

BOOST_AUTO_TEST_CASE(names_of_every_length_fold_only_ascii_capitals) {
  // The fold works a word at a time, the last word overlapping: lengths around 4, 8 and 16,
  // every byte value.
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (size_t len : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 12u, 15u, 16u, 17u, 255u}) {
    for (size_t start = 0; start + len <= all.size(); start += 37) {
      std::string name = all.substr(start, len);
      Headers h;
      h.add(name, "v");
      std::string expected = name;
      for (char& c : expected) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      }
      BOOST_TEST(h.begin()->name == expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(values_stay_where_they_are_while_fields_are_added) {
  // Callers hold views of values (get, iteration) while they add more fields: the text of
  // earlier fields must not move when the head grows past its first chunk.
  Headers h;
  h.add("X-First", "the first value");
  std::string_view first = h.get("x-first").value();
  const char* where = first.data();
  for (int i = 0; i < 200; ++i) h.add("x-n" + std::to_string(i), std::string(50, 'a' + i % 26));
  h.add("x-big", std::string(5000, 'z'));
  BOOST_TEST(static_cast<const void*>(first.data()) == static_cast<const void*>(where));
  BOOST_TEST(first == "the first value");
  BOOST_TEST(h.size() == 202u);
  BOOST_TEST(h.get("x-n199").value() == std::string(50, 'a' + 199 % 26));
  BOOST_TEST(h.get("x-big").value() == std::string(5000, 'z'));
  // set() with a view of the head's own text
  h.set("x-first", h.get("x-n0").value());
  BOOST_TEST(h.get("x-first").value() == std::string(50, 'a'));
}

BOOST_AUTO_TEST_CASE(a_copy_owns_its_text_and_a_move_empties_the_source) {
  Headers h;
  h.add("A", "1");
  h.add("Long-Name-Beyond-Fifteen", "a value longer than fifteen characters");
  Headers copy = h;
  h.set("a", "2");
  h.clear();
  h.add("b", "3");
  BOOST_TEST(
      listing(copy) == (std::vector<std::string>{"a=1",
                                                 "long-name-beyond-fifteen=a value longer than "
                                                 "fifteen characters"}),
      boost::test_tools::per_element());
  BOOST_TEST(listing(h) == (std::vector<std::string>{"b=3"}), boost::test_tools::per_element());
  // A copy takes one chunk of exactly its text (64 bytes here), not a 256-byte growth chunk.
  BOOST_TEST(copy.heap_bytes() >= 64u + 2u * sizeof(pforte::http::Field));
  BOOST_TEST(copy.heap_bytes() < 256u);

  Headers moved = std::move(copy);
  BOOST_TEST(moved.size() == 2u);
  BOOST_TEST(copy.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  copy.add("c", "4");        // and usable
  BOOST_TEST(copy.get("c").value() == "4");
  copy = moved;
  BOOST_TEST(listing(copy) == listing(moved), boost::test_tools::per_element());
  copy = std::move(moved);
  BOOST_TEST(copy.get("a").value() == "1");
}

BOOST_AUTO_TEST_CASE(compact_keeps_the_fields_in_less_memory) {
  Headers h;
  for (int i = 0; i < 20; ++i) h.add("x-" + std::to_string(i), std::string(30, 'v'));
  h.remove("x-3");
  std::vector<std::string> before = listing(h);
  size_t bytes = h.heap_bytes();
  h.compact();
  BOOST_TEST(listing(h) == before, boost::test_tools::per_element());
  BOOST_TEST(h.heap_bytes() < bytes);
  h.add("x-after", "still usable");
  BOOST_TEST(h.get("x-after").value() == "still usable");
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
