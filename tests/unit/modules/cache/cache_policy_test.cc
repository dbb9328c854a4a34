#define BOOST_TEST_MODULE cache_policy
#include "modules/cache/policy.h"

#include <boost/test/unit_test.hpp>
#include <initializer_list>
#include <utility>

#include "proxy/common/http_date.h"

using namespace std::chrono;
using namespace pforte::modules::cache;
using pforte::http::Headers;
using pforte::module::Request;
using pforte::module::Response;

namespace {

using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

const TimePoint kT0 = sys_days{2024y / March / 1} + 12h;

std::string date(TimePoint t) {
  return pforte::format_http_date(static_cast<time_t>(t.time_since_epoch().count()));
}

Headers headers(Fields fields) {
  Headers h;
  for (auto& [n, v] : fields) h.add(n, v);
  return h;
}

Request get(Fields fields = {}, std::string method = "GET") {
  Request r;
  r.method = std::move(method);
  r.scheme = "https";
  r.authority = "schule.example";
  r.path = "/static/app.js";
  r.headers = headers(fields);
  return r;
}

Response response(int status, Fields fields) {
  Response r;
  r.status = status;
  r.headers = headers(fields);
  return r;
}

RouteSettings route(Seconds ttl = 0s, Seconds swr = 0s, Seconds sie = 0s) {
  RouteSettings s;
  s.default_ttl = ttl;
  s.stale_while_revalidate = swr;
  s.stale_if_error = sie;
  return s;
}

}  // namespace

// --- Cache-Control parsing ---

BOOST_AUTO_TEST_CASE(cache_control_directives_are_parsed_case_insensitively) {
  auto cc = parse_cache_control(
      headers({{"cache-control", "Public, MAX-AGE=60"}, {"cache-control", "s-maxage=\"30\""}}));
  BOOST_TEST(cc.is_public);
  BOOST_TEST((cc.max_age == 60s));
  BOOST_TEST((cc.s_maxage == 30s));
  BOOST_TEST(!cc.no_store);
}

BOOST_AUTO_TEST_CASE(commas_inside_quoted_values_do_not_split_directives) {
  auto cc =
      parse_cache_control(headers({{"cache-control", "no-cache=\"set-cookie, x\", max-age=5"}}));
  BOOST_TEST(cc.no_cache);
  BOOST_TEST((cc.max_age == 5s));
}

BOOST_AUTO_TEST_CASE(first_occurrence_of_a_repeated_directive_counts) {
  auto cc = parse_cache_control(headers({{"cache-control", "max-age=10, max-age=99"}}));
  BOOST_TEST((cc.max_age == 10s));
}

BOOST_AUTO_TEST_CASE(invalid_max_age_reads_as_zero_and_huge_values_as_two_to_the_31) {
  BOOST_TEST((parse_cache_control(headers({{"cache-control", "max-age=abc"}})).max_age == 0s));
  BOOST_TEST(
      (parse_cache_control(headers({{"cache-control", "max-age=99999999999999999999"}})).max_age ==
       kMaxDelta));
  // Invalid RFC 5861 windows are ignored rather than guessed.
  BOOST_TEST(!parse_cache_control(headers({{"cache-control", "stale-if-error=x"}}))
                  .stale_if_error.has_value());
}

// --- storable ---

BOOST_AUTO_TEST_CASE(get_200_with_max_age_is_stored) {
  BOOST_TEST((storable(get(), response(200, {{"cache-control", "max-age=60"}}), route()) ==
              StoreVerdict::kStore));
}

BOOST_AUTO_TEST_CASE(only_get_responses_are_stored) {
  auto r = response(200, {{"cache-control", "max-age=60"}});
  BOOST_TEST((storable(get({}, "HEAD"), r, route()) == StoreVerdict::kMethod));
  BOOST_TEST((storable(get({}, "POST"), r, route()) == StoreVerdict::kMethod));
}

BOOST_AUTO_TEST_CASE(no_store_on_either_side_prevents_storing) {
  auto ok = response(200, {{"cache-control", "max-age=60"}});
  BOOST_TEST(
      (storable(get({{"cache-control", "no-store"}}), ok, route()) == StoreVerdict::kNoStore));
  BOOST_TEST((storable(get(), response(200, {{"cache-control", "max-age=60, no-store"}}),
                       route()) == StoreVerdict::kNoStore));
}

BOOST_AUTO_TEST_CASE(private_responses_are_not_stored_even_qualified) {
  BOOST_TEST((storable(get(), response(200, {{"cache-control", "private, max-age=60"}}), route()) ==
              StoreVerdict::kPrivate));
  BOOST_TEST((storable(get(), response(200, {{"cache-control", "private=\"x-user\", max-age=60"}}),
                       route()) == StoreVerdict::kPrivate));
}

BOOST_AUTO_TEST_CASE(authorized_requests_are_stored_only_when_the_origin_allows_it) {
  auto req = get({{"authorization", "Bearer x"}});
  BOOST_TEST((storable(req, response(200, {{"cache-control", "max-age=60"}}), route()) ==
              StoreVerdict::kAuthorization));
  for (std::string_view cc : {"public, max-age=60", "s-maxage=60", "must-revalidate, max-age=60"}) {
    BOOST_TEST(
        (storable(req, response(200, {{"cache-control", cc}}), route()) == StoreVerdict::kStore));
  }
}

BOOST_AUTO_TEST_CASE(set_cookie_is_stored_only_when_explicitly_shared_and_never_kept) {
  BOOST_TEST(
      (storable(get(), response(200, {{"cache-control", "max-age=60"}, {"set-cookie", "s=1"}}),
                route()) == StoreVerdict::kSetCookie));
  BOOST_TEST((storable(get(), response(200, {{"set-cookie", "s=1"}}), route(1h)) ==
              StoreVerdict::kSetCookie));
  auto shared = response(200, {{"cache-control", "public, max-age=60"}, {"set-cookie", "s=1"}});
  BOOST_TEST((storable(get(), shared, route()) == StoreVerdict::kStore));
  Headers kept = headers_to_store(shared.headers);
  BOOST_TEST(!kept.has("set-cookie"));
  BOOST_TEST(kept.has("cache-control"));
}

BOOST_AUTO_TEST_CASE(vary_star_is_never_stored) {
  BOOST_TEST(
      (storable(get(), response(200, {{"cache-control", "max-age=60"}, {"vary", "accept, *"}}),
                route()) == StoreVerdict::kVaryStar));
}

BOOST_AUTO_TEST_CASE(other_statuses_need_explicit_freshness) {
  BOOST_TEST((storable(get(), response(302, {}), route(1h)) == StoreVerdict::kStatus));
  BOOST_TEST((storable(get(), response(302, {{"cache-control", "max-age=60"}}), route()) ==
              StoreVerdict::kStore));
  BOOST_TEST((storable(get(), response(503, {{"expires", date(kT0 + 60s)}}), route()) ==
              StoreVerdict::kStore));
  BOOST_TEST((storable(get(), response(404, {}), route(1h)) == StoreVerdict::kStore));
  BOOST_TEST((storable(get(), response(302, {{"cache-control", "public"}}), route(1h)) ==
              StoreVerdict::kStore));
}

BOOST_AUTO_TEST_CASE(partial_and_not_modified_responses_are_never_stored) {
  auto fresh = Fields{{"cache-control", "max-age=60"}};
  BOOST_TEST((storable(get(), response(206, fresh), route()) == StoreVerdict::kStatus));
  BOOST_TEST((storable(get(), response(304, fresh), route()) == StoreVerdict::kStatus));
  BOOST_TEST((storable(get(), response(101, fresh), route()) == StoreVerdict::kStatus));
}

BOOST_AUTO_TEST_CASE(responses_that_could_never_be_served_are_not_stored) {
  // No freshness information, no default_ttl, no validator, no error window.
  BOOST_TEST((storable(get(), response(200, {}), route()) == StoreVerdict::kNotUseful));
  BOOST_TEST((storable(get(), response(200, {{"cache-control", "max-age=0"}}), route(1h)) ==
              StoreVerdict::kNotUseful));
  BOOST_TEST((storable(get(), response(200, {{"cache-control", "no-cache, max-age=60"}}),
                       route()) == StoreVerdict::kNotUseful));
  // Each of these makes it useful.
  BOOST_TEST((storable(get(), response(200, {}), route(1h)) == StoreVerdict::kStore));
  BOOST_TEST(
      (storable(get(), response(200, {{"etag", "\"v1\""}}), route()) == StoreVerdict::kStore));
  BOOST_TEST((storable(get(), response(200, {{"cache-control", "no-cache"}, {"etag", "\"v1\""}}),
                       route()) == StoreVerdict::kStore));
  BOOST_TEST((storable(get(), response(200, {{"cache-control", "max-age=0"}}), route(0s, 0s, 1h)) ==
              StoreVerdict::kStore));
}

// --- freshness ---

BOOST_AUTO_TEST_CASE(s_maxage_beats_max_age_beats_expires) {
  auto r = response(200, {{"cache-control", "max-age=60, s-maxage=120"},
                          {"date", date(kT0)},
                          {"expires", date(kT0 + 30s)}});
  BOOST_TEST((freshness_lifetime(r, route(1h), kT0) == 120s));
  r.headers.set("cache-control", "max-age=60");
  BOOST_TEST((freshness_lifetime(r, route(1h), kT0) == 60s));
  r.headers.remove("cache-control");
  BOOST_TEST((freshness_lifetime(r, route(1h), kT0) == 30s));
}

BOOST_AUTO_TEST_CASE(expires_counts_from_date_or_from_the_response_time) {
  auto r = response(200, {{"date", date(kT0 - 10s)}, {"expires", date(kT0 + 50s)}});
  BOOST_TEST((freshness_lifetime(r, route(), kT0) == 60s));
  r.headers.remove("date");
  BOOST_TEST((freshness_lifetime(r, route(), kT0) == 50s));
}

BOOST_AUTO_TEST_CASE(invalid_or_past_expires_is_already_stale) {
  BOOST_TEST((freshness_lifetime(response(200, {{"expires", "0"}}), route(1h), kT0) == 0s));
  BOOST_TEST((freshness_lifetime(response(200, {{"date", date(kT0)}, {"expires", date(kT0 - 5s)}}),
                                 route(1h), kT0) == 0s));
}

BOOST_AUTO_TEST_CASE(default_ttl_applies_only_without_freshness_information) {
  BOOST_TEST((freshness_lifetime(response(200, {}), route(1h), kT0) == 1h));
  BOOST_TEST((freshness_lifetime(response(200, {{"etag", "\"a\""}}), route(1h), kT0) == 1h));
  BOOST_TEST(
      (freshness_lifetime(response(200, {{"cache-control", "max-age=0"}}), route(1h), kT0) == 0s));
  BOOST_TEST(
      (freshness_lifetime(response(200, {{"cache-control", "public"}}), route(1h), kT0) == 1h));
}

BOOST_AUTO_TEST_CASE(current_age_follows_rfc9111_4_2_3) {
  // Sent 2 s before it arrived, Date 5 s before arrival, upstream caches say Age: 10.
  auto r =
      response(200, {{"cache-control", "max-age=100"}, {"date", date(kT0 - 5s)}, {"age", "10"}});
  Freshness f = compute_freshness(r, route(), kT0 - 2s, kT0);
  // apparent_age = 5; corrected_age_value = 10 + 2 = 12; initial = 12.
  BOOST_TEST(f.corrected_initial_age.count() == 12);
  BOOST_TEST(current_age(f, kT0).count() == 12);
  BOOST_TEST(current_age(f, kT0 + 30s).count() == 42);
  BOOST_TEST(time_to_live(f, kT0 + 30s).count() == 58);

  // A Date far in the past (clock skew) dominates through the apparent age.
  auto skewed = response(200, {{"date", date(kT0 - 50s)}});
  BOOST_TEST(compute_freshness(skewed, route(), kT0, kT0).corrected_initial_age.count() == 50);
  // A clock going backwards never makes the age negative.
  BOOST_TEST(
      current_age(compute_freshness(response(200, {}), route(), kT0, kT0), kT0 - 10s).count() == 0);
}

BOOST_AUTO_TEST_CASE(response_goes_fresh_then_stale_while_revalidate_then_must_revalidate) {
  auto r = response(
      200, {{"cache-control", "max-age=60, stale-while-revalidate=30"}, {"date", date(kT0)}});
  Freshness f = compute_freshness(r, route(), kT0, kT0);
  BOOST_TEST((usability(f, kT0 + 59s) == Usability::kFresh));
  BOOST_TEST((usability(f, kT0 + 60s) == Usability::kStaleWhileRevalidate));
  BOOST_TEST((usability(f, kT0 + 89s) == Usability::kStaleWhileRevalidate));
  BOOST_TEST((usability(f, kT0 + 90s) == Usability::kMustRevalidate));
}

BOOST_AUTO_TEST_CASE(stale_if_error_serves_a_stale_copy_only_within_its_window) {
  auto r =
      response(200, {{"cache-control", "max-age=60, stale-if-error=100"}, {"date", date(kT0)}});
  Freshness f = compute_freshness(r, route(), kT0, kT0);
  BOOST_TEST(usable_on_error(f, kT0 + 10s));
  BOOST_TEST(usable_on_error(f, kT0 + 159s));
  BOOST_TEST(!usable_on_error(f, kT0 + 160s));
}

BOOST_AUTO_TEST_CASE(route_windows_apply_when_the_response_sets_none) {
  auto r = response(200, {{"cache-control", "max-age=60"}});
  Freshness f = compute_freshness(r, route(0s, 1min, 24h), kT0, kT0);
  BOOST_TEST((f.stale_while_revalidate == 1min));
  BOOST_TEST((f.stale_if_error == 24h));
  // The origin's own values win, including an explicit zero.
  r.headers.set("cache-control", "max-age=60, stale-while-revalidate=5, stale-if-error=0");
  f = compute_freshness(r, route(0s, 1min, 24h), kT0, kT0);
  BOOST_TEST((f.stale_while_revalidate == 5s));
  BOOST_TEST((f.stale_if_error == 0s));
}

BOOST_AUTO_TEST_CASE(must_revalidate_and_proxy_revalidate_forbid_stale_serving) {
  for (std::string_view cc : {"max-age=60, must-revalidate, stale-if-error=100",
                              "max-age=60, proxy-revalidate, stale-while-revalidate=100"}) {
    Freshness f =
        compute_freshness(response(200, {{"cache-control", cc}}), route(0s, 1h, 1h), kT0, kT0);
    BOOST_TEST((usability(f, kT0 + 61s) == Usability::kMustRevalidate));
    BOOST_TEST(!usable_on_error(f, kT0 + 61s));
    BOOST_TEST(usable_on_error(f, kT0 + 30s));  // still fresh
  }
}

BOOST_AUTO_TEST_CASE(s_maxage_takes_only_the_origins_own_stale_windows) {
  Freshness f = compute_freshness(response(200, {{"cache-control", "s-maxage=60"}}),
                                  route(0s, 1h, 1h), kT0, kT0);
  BOOST_TEST(!usable_on_error(f, kT0 + 61s));
  f = compute_freshness(response(200, {{"cache-control", "s-maxage=60, stale-if-error=100"}}),
                        route(0s, 1h, 1h), kT0, kT0);
  BOOST_TEST(usable_on_error(f, kT0 + 61s));
}

BOOST_AUTO_TEST_CASE(no_cache_response_is_revalidated_on_every_use) {
  Freshness f = compute_freshness(response(200, {{"cache-control", "no-cache, max-age=600"}}),
                                  route(0s, 1h, 1h), kT0, kT0);
  BOOST_TEST((usability(f, kT0) == Usability::kMustRevalidate));
  BOOST_TEST(!usable_on_error(f, kT0));
}

// --- client directives ---

BOOST_AUTO_TEST_CASE(client_no_cache_is_ignored_by_default_to_protect_the_origin) {
  for (Fields f : {Fields{{"cache-control", "no-cache"}}, Fields{{"cache-control", "max-age=0"}},
                   Fields{{"pragma", "no-cache"}}}) {
    ClientDirectives d = client_directives(get(f), route());
    BOOST_TEST(!d.revalidate);
    BOOST_TEST(!client_requires_revalidation(d, 1000s));
  }
}

BOOST_AUTO_TEST_CASE(client_no_cache_forces_revalidation_when_the_route_honours_it) {
  RouteSettings s = route();
  s.honor_client_no_cache = true;
  BOOST_TEST(client_directives(get({{"cache-control", "no-cache"}}), s).revalidate);
  BOOST_TEST(client_directives(get({{"cache-control", "max-age=0"}}), s).revalidate);
  BOOST_TEST(client_directives(get({{"pragma", "no-cache"}}), s).revalidate);
  // Pragma is ignored when Cache-Control is present (RFC 9111 §5.4).
  BOOST_TEST(!client_directives(get({{"pragma", "no-cache"}, {"cache-control", "max-age=60"}}), s)
                  .revalidate);
  ClientDirectives d = client_directives(get({{"cache-control", "max-age=30"}}), s);
  BOOST_TEST(!client_requires_revalidation(d, 30s));
  BOOST_TEST(client_requires_revalidation(d, 31s));
}

BOOST_AUTO_TEST_CASE(client_no_store_and_only_if_cached_are_always_honoured) {
  ClientDirectives d =
      client_directives(get({{"cache-control", "no-store, only-if-cached"}}), route());
  BOOST_TEST(d.no_store);
  BOOST_TEST(d.only_if_cached);
}

// --- conditional requests ---

BOOST_AUTO_TEST_CASE(if_none_match_uses_weak_comparison) {
  Headers stored = headers({{"etag", "W/\"v1\""}});
  BOOST_TEST((evaluate_conditional(headers({{"if-none-match", "\"v1\""}}), stored, kT0) ==
              Conditional::kNotModified));
  BOOST_TEST((evaluate_conditional(headers({{"if-none-match", "\"v0\", W/\"v1\""}}), stored, kT0) ==
              Conditional::kNotModified));
  BOOST_TEST((evaluate_conditional(headers({{"if-none-match", "\"v2\""}}), stored, kT0) ==
              Conditional::kModified));
  BOOST_TEST((evaluate_conditional(headers({{"if-none-match", "*"}}), stored, kT0) ==
              Conditional::kNotModified));
}

BOOST_AUTO_TEST_CASE(entity_tags_may_hold_commas) {
  Headers stored = headers({{"etag", "\"a,b\""}});
  BOOST_TEST((evaluate_conditional(headers({{"if-none-match", "\"x\", \"a,b\""}}), stored, kT0) ==
              Conditional::kNotModified));
  BOOST_TEST((evaluate_conditional(headers({{"if-none-match", "\"a\""}}), stored, kT0) ==
              Conditional::kModified));
}

BOOST_AUTO_TEST_CASE(if_modified_since_compares_with_last_modified) {
  Headers stored = headers({{"last-modified", date(kT0 - 1h)}, {"date", date(kT0)}});
  BOOST_TEST((evaluate_conditional(headers({{"if-modified-since", date(kT0 - 1h)}}), stored, kT0) ==
              Conditional::kNotModified));
  BOOST_TEST((evaluate_conditional(headers({{"if-modified-since", date(kT0 - 2h)}}), stored, kT0) ==
              Conditional::kModified));
  // Invalid dates are ignored.
  BOOST_TEST((evaluate_conditional(headers({{"if-modified-since", "yesterday"}}), stored, kT0) ==
              Conditional::kUnconditional));
}

BOOST_AUTO_TEST_CASE(if_modified_since_falls_back_to_date_then_response_time) {
  Headers stored = headers({{"date", date(kT0 - 10s)}});
  BOOST_TEST((evaluate_conditional(headers({{"if-modified-since", date(kT0 - 10s)}}), stored,
                                   kT0) == Conditional::kNotModified));
  BOOST_TEST((evaluate_conditional(headers({{"if-modified-since", date(kT0 - 11s)}}), stored,
                                   kT0) == Conditional::kModified));
  BOOST_TEST((evaluate_conditional(headers({{"if-modified-since", date(kT0)}}), Headers{}, kT0) ==
              Conditional::kNotModified));
}

BOOST_AUTO_TEST_CASE(if_none_match_wins_over_if_modified_since) {
  Headers stored = headers({{"etag", "\"v1\""}, {"last-modified", date(kT0 - 1h)}});
  BOOST_TEST((
      evaluate_conditional(headers({{"if-none-match", "\"v2\""}, {"if-modified-since", date(kT0)}}),
                           stored, kT0) == Conditional::kModified));
}

BOOST_AUTO_TEST_CASE(unconditional_and_precondition_requests) {
  Headers stored = headers({{"etag", "\"v1\""}});
  BOOST_TEST((evaluate_conditional(Headers{}, stored, kT0) == Conditional::kUnconditional));
  BOOST_TEST((evaluate_conditional(headers({{"if-match", "\"v1\""}}), stored, kT0) ==
              Conditional::kForward));
}

BOOST_AUTO_TEST_CASE(if_range_needs_a_strong_match) {
  Headers stored = headers({{"etag", "\"v1\""}, {"last-modified", date(kT0 - 1h)}});
  BOOST_TEST(if_range_allows(Headers{}, stored));
  BOOST_TEST(if_range_allows(headers({{"if-range", "\"v1\""}}), stored));
  BOOST_TEST(!if_range_allows(headers({{"if-range", "W/\"v1\""}}), stored));
  BOOST_TEST(!if_range_allows(headers({{"if-range", "\"v2\""}}), stored));
  BOOST_TEST(if_range_allows(headers({{"if-range", date(kT0 - 1h)}}), stored));
  BOOST_TEST(!if_range_allows(headers({{"if-range", date(kT0)}}), stored));
  BOOST_TEST(!if_range_allows(headers({{"if-range", "\"v1\""}}), headers({{"etag", "W/\"v1\""}})));
}

// --- 304s and revalidation ---

BOOST_AUTO_TEST_CASE(not_modified_carries_only_the_fields_rfc9110_asks_for) {
  Headers stored = headers({{"content-type", "text/css"},
                            {"content-length", "10"},
                            {"cache-control", "max-age=60"},
                            {"etag", "\"v1\""},
                            {"last-modified", date(kT0)},
                            {"vary", "accept-encoding"}});
  Headers h = not_modified_headers(stored);
  BOOST_TEST(h.has("cache-control"));
  BOOST_TEST(h.has("etag"));
  BOOST_TEST(h.has("vary"));
  BOOST_TEST(!h.has("content-type"));
  BOOST_TEST(!h.has("content-length"));
  BOOST_TEST(!h.has("last-modified"));  // the ETag is there
  stored.remove("etag");
  BOOST_TEST(not_modified_headers(stored).has("last-modified"));
}

BOOST_AUTO_TEST_CASE(revalidation_replaces_the_clients_validators_with_the_stored_ones) {
  Headers upstream = headers({{"if-none-match", "\"client\""}, {"accept", "*/*"}});
  BOOST_TEST(add_revalidation_headers(headers({{"etag", "\"v1\""}, {"last-modified", date(kT0)}}),
                                      upstream));
  BOOST_TEST(upstream.get("if-none-match").value() == "\"v1\"");
  BOOST_TEST(upstream.get("if-modified-since").value() == date(kT0));
  BOOST_TEST(upstream.has("accept"));
  Headers none;
  BOOST_TEST(!add_revalidation_headers(Headers{}, none));
}

BOOST_AUTO_TEST_CASE(a_304_updates_the_stored_fields_except_content_length) {
  Headers stored = headers({{"content-length", "10"},
                            {"cache-control", "max-age=60"},
                            {"etag", "\"v1\""},
                            {"x-a", "1"}});
  Headers updated = merge_not_modified(stored, headers({{"cache-control", "max-age=120"},
                                                        {"content-length", "0"},
                                                        {"set-cookie", "s=1"},
                                                        {"date", date(kT0)}}));
  BOOST_TEST(updated.get("cache-control").value() == "max-age=120");
  BOOST_TEST(updated.get("content-length").value() == "10");
  BOOST_TEST(updated.get("etag").value() == "\"v1\"");
  BOOST_TEST(updated.get("x-a").value() == "1");
  BOOST_TEST(updated.has("date"));
  BOOST_TEST(!updated.has("set-cookie"));
}

// --- Range ---

BOOST_AUTO_TEST_CASE(single_ranges_of_every_form) {
  auto r = parse_range("bytes=0-99", 1000);
  BOOST_TEST((r.kind == RangeRequest::Kind::kSatisfiable));
  BOOST_TEST((r.ranges == std::vector<ByteRange>{{0, 99}}));
  BOOST_TEST((parse_range("bytes=900-", 1000).ranges == std::vector<ByteRange>{{900, 999}}));
  BOOST_TEST((parse_range("bytes=-100", 1000).ranges == std::vector<ByteRange>{{900, 999}}));
  BOOST_TEST((parse_range("bytes=-5000", 1000).ranges == std::vector<ByteRange>{{0, 999}}));
  BOOST_TEST((parse_range("bytes=990-2000", 1000).ranges == std::vector<ByteRange>{{990, 999}}));
  BOOST_TEST((parse_range("Bytes = 5-5", 1000).ranges == std::vector<ByteRange>{{5, 5}}));
}

BOOST_AUTO_TEST_CASE(multiple_ranges_keep_request_order) {
  auto r = parse_range("bytes=500-599, 0-99,-1", 1000);
  BOOST_TEST((r.kind == RangeRequest::Kind::kSatisfiable));
  BOOST_TEST((r.ranges == std::vector<ByteRange>{{500, 599}, {0, 99}, {999, 999}}));
}

BOOST_AUTO_TEST_CASE(ranges_past_the_end_are_dropped_and_none_left_is_416) {
  auto r = parse_range("bytes=0-9,2000-3000", 1000);
  BOOST_TEST((r.ranges == std::vector<ByteRange>{{0, 9}}));
  BOOST_TEST((parse_range("bytes=1000-", 1000).kind == RangeRequest::Kind::kUnsatisfiable));
  BOOST_TEST((parse_range("bytes=-0", 1000).kind == RangeRequest::Kind::kUnsatisfiable));
  BOOST_TEST((parse_range("bytes=0-", 0).kind == RangeRequest::Kind::kUnsatisfiable));
  BOOST_TEST(content_range_unsatisfied(1000) == "bytes */1000");
}

BOOST_AUTO_TEST_CASE(malformed_foreign_or_abusive_ranges_are_ignored) {
  for (std::string_view v : {"bytes=", "bytes=a-b", "bytes=10-5", "bytes=5", "items=0-1",
                             "bytes=0-99,50-150", "bytes=0-,0-"}) {
    BOOST_TEST((parse_range(v, 1000).kind == RangeRequest::Kind::kIgnore), v);
  }
  std::string many = "bytes=0-0";
  for (int i = 1; i <= 16; ++i) many += "," + std::to_string(i * 10) + "-" + std::to_string(i * 10);
  BOOST_TEST((parse_range(many, 1000).kind == RangeRequest::Kind::kIgnore));
  BOOST_TEST((parse_range(many, 1000, 17).kind == RangeRequest::Kind::kSatisfiable));
}

BOOST_AUTO_TEST_CASE(multipart_plan_adds_up_to_its_content_length) {
  std::string body(100, 'x');
  std::vector<ByteRange> ranges{{0, 9}, {90, 99}};
  MultipartPlan plan = plan_multipart(ranges, body.size(), "text/plain", "B0UND");
  BOOST_TEST(plan.content_type == "multipart/byteranges; boundary=B0UND");
  std::string assembled;
  for (auto& p : plan.parts) assembled += p.head + body.substr(p.range.first, p.range.size());
  assembled += plan.tail;
  BOOST_TEST(assembled.size() == plan.content_length);
  BOOST_TEST(
      assembled.starts_with("--B0UND\r\nContent-Type: text/plain\r\n"
                            "Content-Range: bytes 0-9/100\r\n\r\nxxxxxxxxxx\r\n--B0UND\r\n"));
  BOOST_TEST(assembled.ends_with("\r\n--B0UND--\r\n"));
  BOOST_TEST(content_range({90, 99}, 100) == "bytes 90-99/100");
}

// --- Cache-Status ---

BOOST_AUTO_TEST_CASE(cache_status_values_follow_rfc9211) {
  CacheStatus hit;
  hit.hit = true;
  hit.ttl = 42s;
  BOOST_TEST(format_cache_status(hit) == "pforte; hit; ttl=42");

  CacheStatus miss;
  miss.fwd = CacheStatus::Fwd::kMiss;
  miss.fwd_status = 200;
  miss.stored = true;
  miss.ttl = 60s;
  BOOST_TEST(format_cache_status(miss) == "pforte; fwd=miss; fwd-status=200; stored; ttl=60");

  CacheStatus stale;
  stale.fwd = CacheStatus::Fwd::kStale;
  stale.fwd_status = 304;
  BOOST_TEST(format_cache_status(stale) == "pforte; fwd=stale; fwd-status=304");

  CacheStatus uri;
  uri.fwd = CacheStatus::Fwd::kUriMiss;
  uri.collapsed = true;
  BOOST_TEST(format_cache_status(uri, "edge-1") == "edge-1; fwd=uri-miss; collapsed");

  CacheStatus swr;
  swr.hit = true;
  swr.ttl = -5s;
  swr.detail = "stale-while-revalidate";
  BOOST_TEST(format_cache_status(swr) == "pforte; hit; ttl=-5; detail=stale-while-revalidate");

  CacheStatus refused;
  refused.fwd = CacheStatus::Fwd::kMiss;
  refused.detail = to_string(StoreVerdict::kSetCookie);
  BOOST_TEST(format_cache_status(refused) == "pforte; fwd=miss; detail=set-cookie");
}
