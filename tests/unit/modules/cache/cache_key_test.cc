#define BOOST_TEST_MODULE cache_key
#include "modules/cache/key.h"

#include <boost/test/unit_test.hpp>

using namespace pforte::modules::cache;
using pforte::http::Headers;

namespace {
Headers request(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  Headers h;
  for (auto& [n, v] : fields) h.add(n, v);
  return h;
}
}  // namespace

BOOST_AUTO_TEST_CASE(host_is_lower_cased_and_the_default_port_dropped) {
  BOOST_TEST(primary_key("https", "Schule.Example:443", "/a?b=1").text ==
             "https://schule.example/a?b=1");
  BOOST_TEST(primary_key("http", "schule.example.:80", "/").text == "http://schule.example/");
  BOOST_TEST(primary_key("https", "schule.example:80", "/").text == "https://schule.example:80/");
  BOOST_TEST(primary_key("http", "[2001:DB8::1]:8080", "/").text == "http://[2001:db8::1]:8080/");
  BOOST_TEST(primary_key("http", "[2001:db8::1]", "/").text == "http://[2001:db8::1]/");
}

BOOST_AUTO_TEST_CASE(scheme_path_and_query_distinguish_keys) {
  auto base = primary_key("https", "a.example", "/x?a=1&b=2");
  BOOST_TEST(base.text != primary_key("http", "a.example", "/x?a=1&b=2").text);
  BOOST_TEST(base.text != primary_key("https", "a.example", "/X?a=1&b=2").text);
  BOOST_TEST(base.text != primary_key("https", "a.example", "/x?b=2&a=1").text);
  BOOST_TEST(base.text != primary_key("https", "b.example", "/x?a=1&b=2").text);
}

BOOST_AUTO_TEST_CASE(equal_texts_hash_equally_and_different_texts_apart) {
  BOOST_TEST(make_key("https://a/x").hash == make_key("https://a/x").hash);
  BOOST_TEST(make_key("https://a/x").hash != make_key("https://a/y").hash);
  BOOST_TEST(hash_key("") != hash_key(std::string_view("\0", 1)));
  // Every tail length (the last partial word) reaches the hash.
  std::string s;
  uint64_t previous = hash_key(s);
  for (int i = 0; i < 20; ++i) {
    s += 'a';
    uint64_t h = hash_key(s);
    BOOST_TEST(h != previous);
    previous = h;
  }
}

BOOST_AUTO_TEST_CASE(vary_names_are_lower_cased_sorted_and_unique) {
  auto names = parse_vary(
      request({{"vary", "Accept-Encoding, accept-language"}, {"vary", "ACCEPT-ENCODING"}}));
  BOOST_TEST(names.has_value());
  BOOST_TEST((*names == std::vector<std::string>{"accept-encoding", "accept-language"}));
  BOOST_TEST(parse_vary(Headers{})->empty());
  BOOST_TEST(!parse_vary(request({{"vary", "accept, *"}})).has_value());
}

BOOST_AUTO_TEST_CASE(secondary_key_ignores_whitespace_but_not_values) {
  std::vector<std::string> vary{"accept-encoding"};
  auto a = secondary_key(vary, request({{"Accept-Encoding", "gzip,  br"}}));
  BOOST_TEST(a == secondary_key(vary, request({{"accept-encoding", "gzip, br"}})));
  BOOST_TEST(
      a == secondary_key(vary, request({{"accept-encoding", "gzip"}, {"accept-encoding", "br"}})));
  BOOST_TEST(a != secondary_key(vary, request({{"accept-encoding", "br, gzip"}})));
  BOOST_TEST(a != secondary_key(vary, request({{"accept-encoding", "gzip"}})));
}

BOOST_AUTO_TEST_CASE(absent_and_empty_request_fields_are_different_variants) {
  std::vector<std::string> vary{"accept-language"};
  BOOST_TEST(secondary_key(vary, Headers{}) !=
             secondary_key(vary, request({{"accept-language", ""}})));
}

BOOST_AUTO_TEST_CASE(only_the_fields_vary_names_matter) {
  std::vector<std::string> vary{"accept-language"};
  auto primary = primary_key("https", "a.example", "/p");
  auto de = variant_key(primary, vary, request({{"accept-language", "de"}, {"cookie", "a=1"}}));
  BOOST_TEST(de.text == variant_key(primary, vary, request({{"accept-language", "de"}})).text);
  BOOST_TEST(de.text != variant_key(primary, vary, request({{"accept-language", "en"}})).text);
  // Variants share the primary key as a prefix, so a prefix purge removes them all.
  BOOST_TEST(de.text.starts_with(primary.text + kVarySeparator));
  BOOST_TEST(de.hash != primary.hash);
}
