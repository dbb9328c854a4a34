// needs: modules/cache/policy.cc modules/cache/http_date_parser.cc
// libFuzzer target for the cache's parsers of request and response fields, all of which come from
// clients or upstreams: Range, Cache-Control, HTTP dates, entity-tags and conditionals. None may
// crash, and a satisfiable Range must stay inside the representation, in bounds and without
// overlaps (an overlapping set is an amplification the parser promises to ignore).
//
// Input: byte 0 picks the field the rest is given as, bytes 1..8 the representation's length.
//
// tests/fuzz/CMakeLists.txt links fuzz targets against pforte_config and pforte_http only, so this
// translation unit compiles the cache's parsers itself.
#include "modules/cache/http_date_parser.cc"  // NOLINT(bugprone-suspicious-include)
#include "modules/cache/policy.cc"            // NOLINT(bugprone-suspicious-include)

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace cache = pforte::modules::cache;

namespace {

void check_range(std::string_view value, uint64_t length) {
  cache::RangeRequest r = cache::parse_range(value, length);
  if (r.kind != cache::RangeRequest::Kind::kSatisfiable) {
    if (!r.ranges.empty() && r.kind == cache::RangeRequest::Kind::kUnsatisfiable) std::abort();
    return;
  }
  if (r.ranges.empty() || r.ranges.size() > cache::kMaxRanges) std::abort();
  std::vector<cache::ByteRange> sorted = r.ranges;
  std::sort(sorted.begin(), sorted.end(),
            [](const cache::ByteRange& a, const cache::ByteRange& b) { return a.first < b.first; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i].first > sorted[i].last || sorted[i].last >= length) std::abort();
    if (i > 0 && sorted[i].first <= sorted[i - 1].last) std::abort();
  }
  if (r.ranges.size() > 1) {
    cache::MultipartPlan plan = cache::plan_multipart(r.ranges, length, "text/css", "b0und4ry");
    uint64_t body = plan.tail.size();
    for (const auto& part : plan.parts) body += part.head.size() + part.range.size();
    if (body != plan.content_length) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  uint64_t length = 0;
  std::memcpy(&length, data + 1, sizeof length);
  length %= uint64_t{1} << 40;
  std::string_view value(reinterpret_cast<const char*>(data + 9), size - 9);
  const cache::TimePoint now{std::chrono::seconds{1'800'000'000}};

  switch (data[0] % 4) {
    case 0:
      if (length > 0) check_range(value, length);
      break;
    case 1: {
      pforte::module::Response response;
      response.headers.add("cache-control", value);
      response.headers.add("expires", value);
      response.headers.add("date", value);
      (void)cache::parse_cache_control(response.headers);
      cache::RouteSettings route;
      route.default_ttl = std::chrono::seconds{length % 100000};
      cache::Freshness f = cache::compute_freshness(response, route, now, now);
      (void)cache::usability(f, now + std::chrono::seconds{length % 1000});
      (void)cache::time_to_live(f, now);
      pforte::module::Request request;
      request.method = "GET";
      request.headers.add("cache-control", value);
      request.headers.add("authorization", "x");
      (void)cache::storable(request, response, route);
      (void)cache::client_directives(request, route);
      break;
    }
    case 2:
      (void)cache::parse_http_date(value, now);
      break;
    case 3: {
      size_t half = value.size() / 2;
      (void)cache::weak_etag_match(value.substr(0, half), value.substr(half));
      pforte::http::Headers request, stored;
      request.add("if-none-match", value.substr(0, half));
      request.add("if-modified-since", value.substr(half));
      request.add("if-range", value);
      stored.add("etag", value.substr(half));
      stored.add("last-modified", value.substr(0, half));
      (void)cache::evaluate_conditional(request, stored, now);
      (void)cache::if_range_allows(request, stored);
      (void)cache::merge_not_modified(stored, request);
      break;
    }
  }
  return 0;
}
