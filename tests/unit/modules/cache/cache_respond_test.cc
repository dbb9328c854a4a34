#define BOOST_TEST_MODULE cache_respond
#include "modules/cache/respond.h"

#include <boost/test/unit_test.hpp>
#include <string>

#include "modules/cache/purge.h"

using namespace pforte;
using namespace pforte::modules::cache;

namespace {

const TimePoint kStored{std::chrono::seconds{1'700'000'000}};

std::shared_ptr<const Entry> entry(std::string body = "0123456789abcdefghij") {
  auto e = std::make_shared<Entry>();
  CacheKey key = make_key("https://schule.example/static/app.css");
  e->key = key.text;
  e->hash = key.hash;
  e->headers.add("content-type", "text/css");
  e->headers.add("cache-control", "public, max-age=3600");
  e->headers.add("etag", "\"v1\"");
  e->headers.add("last-modified", "Mon, 02 Mar 2020 08:00:00 GMT");
  e->body = std::move(body);
  e->freshness.response_time = kStored;
  e->freshness.lifetime = Seconds{3600};
  return e;
}

std::string text(const module::LocalReply& r) {
  size_t n = evbuffer_get_length(r.body.get());
  std::string out(n, '\0');
  evbuffer_copyout(r.body.get(), out.data(), n);
  return out;
}

CacheStatus hit() {
  CacheStatus s;
  s.hit = true;
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(full_hit_has_age_and_cache_status_and_shares_the_body) {
  auto e = entry();
  http::Headers req;
  long before = e.use_count();
  auto r = reply_from_entry(req, e, kStored + Seconds{10}, hit());
  BOOST_TEST(r.response.status == 200);
  BOOST_TEST(*r.response.headers.get("age") == "10");
  BOOST_TEST(*r.response.headers.get("cache-status") == "pforte; hit; ttl=3590");
  BOOST_TEST(text(r) == e->body);
  // The body is referenced, not copied: the reply holds the entry.
  BOOST_TEST(e.use_count() == before + 1);
  r.body.reset();
  BOOST_TEST(e.use_count() == before);
}

BOOST_AUTO_TEST_CASE(matching_if_none_match_gets_304_without_body) {
  http::Headers req;
  req.add("if-none-match", "W/\"v1\"");
  auto r = reply_from_entry(req, entry(), kStored, hit());
  BOOST_TEST(r.response.status == 304);
  BOOST_TEST(evbuffer_get_length(r.body.get()) == 0u);
  BOOST_TEST(*r.response.headers.get("etag") == "\"v1\"");
  BOOST_TEST(!r.response.headers.has("content-type"));
}

BOOST_AUTO_TEST_CASE(if_modified_since_at_last_modified_gets_304) {
  http::Headers req;
  req.add("if-modified-since", "Mon, 02 Mar 2020 08:00:00 GMT");
  BOOST_TEST(reply_from_entry(req, entry(), kStored, hit()).response.status == 304);
  http::Headers older;
  older.add("if-modified-since", "Sun, 01 Mar 2020 08:00:00 GMT");
  BOOST_TEST(reply_from_entry(older, entry(), kStored, hit()).response.status == 200);
}

BOOST_AUTO_TEST_CASE(single_range_gets_206) {
  http::Headers req;
  req.add("range", "bytes=2-5");
  auto r = reply_from_entry(req, entry(), kStored, hit());
  BOOST_TEST(r.response.status == 206);
  BOOST_TEST(*r.response.headers.get("content-range") == "bytes 2-5/20");
  BOOST_TEST(text(r) == "2345");
}

BOOST_AUTO_TEST_CASE(several_ranges_get_multipart_byteranges) {
  http::Headers req;
  req.add("range", "bytes=0-1,-2");
  auto r = reply_from_entry(req, entry(), kStored, hit());
  BOOST_TEST(r.response.status == 206);
  std::string type(*r.response.headers.get("content-type"));
  BOOST_TEST(type == "multipart/byteranges; boundary=" + std::string(kMultipartBoundary));
  std::string body = text(r);
  BOOST_TEST(body.find("Content-Range: bytes 0-1/20\r\n\r\n01\r\n--") != std::string::npos);
  BOOST_TEST(body.find("Content-Range: bytes 18-19/20\r\n\r\nij\r\n--") != std::string::npos);
  BOOST_TEST(body.ends_with("--" + std::string(kMultipartBoundary) + "--\r\n"));
}

BOOST_AUTO_TEST_CASE(range_past_the_end_gets_416) {
  http::Headers req;
  req.add("range", "bytes=50-60");
  auto r = reply_from_entry(req, entry(), kStored, hit());
  BOOST_TEST(r.response.status == 416);
  BOOST_TEST(*r.response.headers.get("content-range") == "bytes */20");
  BOOST_TEST(evbuffer_get_length(r.body.get()) == 0u);
}

BOOST_AUTO_TEST_CASE(if_range_with_another_etag_gets_the_whole_body) {
  http::Headers req;
  req.add("range", "bytes=2-5");
  req.add("if-range", "\"v0\"");
  auto r = reply_from_entry(req, entry(), kStored, hit());
  BOOST_TEST(r.response.status == 200);
  BOOST_TEST(text(r).size() == 20u);
}

BOOST_AUTO_TEST_CASE(only_if_cached_miss_is_504) {
  CacheStatus s;
  s.fwd = CacheStatus::Fwd::kUriMiss;
  auto r = only_if_cached_miss(s);
  BOOST_TEST(r.response.status == 504);
  BOOST_TEST(*r.response.headers.get("cache-status") == "pforte; fwd=uri-miss");
}

BOOST_AUTO_TEST_CASE(purge_of_a_url_names_both_schemes_and_its_variants) {
  auto plan = plan_purge("Schule.Example", "/static/app.css?v=2");
  BOOST_REQUIRE(plan);
  BOOST_TEST(plan->exact.size() == 2u);
  BOOST_TEST(plan->exact[0].text == "http://schule.example/static/app.css?v=2");
  BOOST_TEST(plan->exact[1].text == "https://schule.example/static/app.css?v=2");
  BOOST_TEST(plan->prefixes.at(0) == "http://schule.example/static/app.css?v=2\x1f");
}

BOOST_AUTO_TEST_CASE(purge_of_a_prefix_ends_in_a_star) {
  auto plan = plan_purge("schule.example:8080", "/static/*");
  BOOST_REQUIRE(plan);
  BOOST_TEST(plan->exact.empty());
  BOOST_TEST(plan->prefixes.size() == 2u);
  BOOST_TEST(plan->prefixes[0] == "http://schule.example:8080/static/");
  BOOST_TEST(plan->prefixes[1] == "https://schule.example:8080/static/");
}

BOOST_AUTO_TEST_CASE(purge_needs_a_path_and_a_host) {
  BOOST_TEST(!plan_purge("schule.example", "*"));
  BOOST_TEST(!plan_purge("", "/x"));
}
