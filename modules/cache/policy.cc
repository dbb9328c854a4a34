#include "modules/cache/policy.h"

#include <algorithm>
#include <limits>

#include "modules/cache/http_date_parser.h"

namespace pforte::modules::cache {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// delta-seconds (RFC 9111 §1.2.2): digits only; too large a value reads as 2^31.
std::optional<Seconds> parse_delta(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
    if (v >= kMaxDelta.count()) v = kMaxDelta.count();
  }
  return Seconds{v};
}

/// Removes the quotes (and backslash escapes) of a quoted-string; a token is returned as is.
std::string unquote(std::string_view v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) ++i;
    out.push_back(v[i]);
  }
  return out;
}

/// Calls fn(name, value) for each directive of a Cache-Control value; commas inside quoted strings
/// do not split.
template <typename Fn>
void for_each_directive(std::string_view list, Fn&& fn) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size()) {
      char c = list[i];
      if (quoted && c == '\\') {
        ++i;
        continue;
      }
      if (c == '"') quoted = !quoted;
      if (c != ',' || quoted) continue;
    }
    std::string_view item = trim(list.substr(start, i - start));
    start = i + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string_view name = trim(item.substr(0, eq));
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : trim(item.substr(eq + 1));
    fn(name, value);
  }
}

void set_first(std::optional<Seconds>& slot, std::optional<Seconds> v) {
  if (!slot) slot = v;
}

std::optional<TimePoint> header_date(const http::Headers& h, std::string_view name,
                                     TimePoint now = TimePoint{}) {
  auto v = h.get(name);
  if (!v) return std::nullopt;
  return parse_http_date(*v, now);
}

bool has_validator(const http::Headers& h) {
  return h.has("etag") || h.has("last-modified");
}

Seconds clamp_delta(Seconds s) {
  return std::clamp(s, Seconds{0}, kMaxDelta);
}

/// Calls fn(tag) for each entity-tag of an If-None-Match / If-Match list (tags may hold commas).
/// Stops at the first malformed element.
template <typename Fn>
void for_each_etag(std::string_view list, Fn&& fn) {
  size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    if (i >= list.size()) return;
    size_t start = i;
    if (list.substr(i, 2) == "W/") i += 2;
    if (i >= list.size() || list[i] != '"') return;
    size_t close = list.find('"', i + 1);
    if (close == std::string_view::npos) return;
    fn(list.substr(start, close + 1 - start));
    i = close + 1;
  }
}

std::string_view opaque_tag(std::string_view tag) {
  if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
  return tag;
}

bool is_quoted(std::string_view tag) {
  return tag.size() >= 2 && tag.front() == '"' && tag.back() == '"';
}

/// All values of `name` joined with ", ".
std::string joined(const http::Headers& h, std::string_view name) {
  std::string out;
  for (const http::Field& f : h) {
    if (!http::iequals(f.name, name)) continue;
    if (!out.empty()) out += ", ";
    out += f.value;
  }
  return out;
}

/// Saturating unsigned decimal; false if `s` is not all digits or is empty.
bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      v = std::numeric_limits<uint64_t>::max();
    } else {
      v = v * 10 + d;
    }
  }
  out = v;
  return true;
}

}  // namespace

CacheControl parse_cache_control(const http::Headers& headers) {
  CacheControl cc;
  for (const http::Field& f : headers) {
    if (!http::iequals(f.name, "cache-control")) continue;
    for_each_directive(f.value, [&](std::string_view name, std::string_view raw) {
      std::string value = unquote(raw);
      if (http::iequals(name, "max-age")) {
        set_first(cc.max_age, parse_delta(value).value_or(Seconds{0}));
      } else if (http::iequals(name, "s-maxage")) {
        set_first(cc.s_maxage, parse_delta(value).value_or(Seconds{0}));
      } else if (http::iequals(name, "stale-while-revalidate")) {
        if (auto d = parse_delta(value)) set_first(cc.stale_while_revalidate, d);
      } else if (http::iequals(name, "stale-if-error")) {
        if (auto d = parse_delta(value)) set_first(cc.stale_if_error, d);
      } else if (http::iequals(name, "no-store")) {
        cc.no_store = true;
      } else if (http::iequals(name, "no-cache")) {
        cc.no_cache = true;
      } else if (http::iequals(name, "private")) {
        cc.is_private = true;
      } else if (http::iequals(name, "public")) {
        cc.is_public = true;
      } else if (http::iequals(name, "must-revalidate")) {
        cc.must_revalidate = true;
      } else if (http::iequals(name, "proxy-revalidate")) {
        cc.proxy_revalidate = true;
      } else if (http::iequals(name, "only-if-cached")) {
        cc.only_if_cached = true;
      }
    });
  }
  return cc;
}

std::string_view to_string(StoreVerdict verdict) {
  switch (verdict) {
    case StoreVerdict::kStore:
      return "stored";
    case StoreVerdict::kMethod:
      return "method";
    case StoreVerdict::kStatus:
      return "status";
    case StoreVerdict::kNoStore:
      return "no-store";
    case StoreVerdict::kPrivate:
      return "private";
    case StoreVerdict::kAuthorization:
      return "authorization";
    case StoreVerdict::kSetCookie:
      return "set-cookie";
    case StoreVerdict::kVaryStar:
      return "vary-star";
    case StoreVerdict::kNotUseful:
      return "not-useful";
  }
  return "unknown";
}

bool cacheable_by_default(int status) {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

bool has_explicit_freshness(const module::Response& response) {
  CacheControl cc = parse_cache_control(response.headers);
  return cc.s_maxage || cc.max_age || response.headers.has("expires");
}

StoreVerdict storable(const module::Request& request, const module::Response& response,
                      const RouteSettings& route) {
  // HEAD responses have no body to answer a later GET with; HEAD is served from stored GETs.
  if (request.method != "GET") return StoreVerdict::kMethod;
  CacheControl req = parse_cache_control(request.headers);
  CacheControl resp = parse_cache_control(response.headers);
  if (req.no_store || resp.no_store) return StoreVerdict::kNoStore;
  if (resp.is_private) return StoreVerdict::kPrivate;
  // RFC 9111 §3.5.
  if (request.headers.has("authorization") &&
      !(resp.is_public || resp.s_maxage || resp.must_revalidate)) {
    return StoreVerdict::kAuthorization;
  }
  if (response.headers.contains_token("vary", "*")) return StoreVerdict::kVaryStar;
  // Only complete responses are stored: never 206 (partial), 304 (an update, not a response to
  // store), 1xx or anything outside the status range.
  int status = response.status;
  if (status < 200 || status > 599 || status == 206 || status == 304) return StoreVerdict::kStatus;
  bool explicit_freshness = resp.s_maxage || resp.max_age || response.headers.has("expires");
  if (!cacheable_by_default(status) && !explicit_freshness && !resp.is_public) {
    return StoreVerdict::kStatus;
  }
  // RFC 9111 §7.3 allows storing it; replaying it is a session leak. See policy.h.
  if (response.headers.has("set-cookie") && !(resp.is_public || resp.s_maxage)) {
    return StoreVerdict::kSetCookie;
  }
  // Worth keeping only if it can be served fresh, revalidated, or served when the origin fails.
  if (!has_validator(response.headers)) {
    if (resp.no_cache) return StoreVerdict::kNotUseful;
    bool no_stale = resp.must_revalidate || resp.proxy_revalidate;
    Seconds route_sie = resp.s_maxage ? Seconds{0} : route.stale_if_error;
    bool error_window = !no_stale && resp.stale_if_error.value_or(route_sie) > Seconds{0};
    bool lifetime = resp.s_maxage                     ? *resp.s_maxage > Seconds{0}
                    : resp.max_age                    ? *resp.max_age > Seconds{0}
                    : response.headers.has("expires") ? true  // needs the clock; kept
                                                      : route.default_ttl > Seconds{0};
    if (!lifetime && !error_window) return StoreVerdict::kNotUseful;
  }
  return StoreVerdict::kStore;
}

Seconds freshness_lifetime(const module::Response& response, const RouteSettings& route,
                           TimePoint response_time) {
  CacheControl cc = parse_cache_control(response.headers);
  if (cc.s_maxage) return *cc.s_maxage;
  if (cc.max_age) return *cc.max_age;
  if (auto expires = response.headers.get("expires")) {
    auto exp = parse_http_date(*expires, response_time);
    if (!exp) return Seconds{0};  // RFC 9111 §5.3: invalid (e.g. "0") is in the past
    TimePoint date = header_date(response.headers, "date", response_time).value_or(response_time);
    return clamp_delta(*exp - date);
  }
  return clamp_delta(route.default_ttl);
}

Freshness compute_freshness(const module::Response& response, const RouteSettings& route,
                            TimePoint request_time, TimePoint response_time) {
  Freshness f;
  f.response_time = response_time;
  TimePoint date = header_date(response.headers, "date", response_time).value_or(response_time);
  Seconds age_value{0};
  if (auto age = response.headers.get("age"))
    age_value = parse_delta(trim(*age)).value_or(Seconds{0});
  Seconds apparent_age = std::max(Seconds{0}, response_time - date);
  Seconds response_delay = std::max(Seconds{0}, response_time - request_time);
  Seconds corrected_age_value = age_value + response_delay;
  f.corrected_initial_age = std::max(apparent_age, corrected_age_value);
  f.lifetime = freshness_lifetime(response, route, response_time);

  CacheControl cc = parse_cache_control(response.headers);
  f.always_revalidate = cc.no_cache;
  if (!(cc.no_cache || cc.must_revalidate || cc.proxy_revalidate)) {
    // s-maxage implies proxy-revalidate: only the origin's own windows apply to it.
    Seconds route_swr = cc.s_maxage ? Seconds{0} : route.stale_while_revalidate;
    Seconds route_sie = cc.s_maxage ? Seconds{0} : route.stale_if_error;
    f.stale_while_revalidate = cc.stale_while_revalidate.value_or(route_swr);
    f.stale_if_error = cc.stale_if_error.value_or(route_sie);
  }
  return f;
}

Seconds current_age(const Freshness& freshness, TimePoint now) {
  Seconds resident = std::max(Seconds{0}, now - freshness.response_time);
  return freshness.corrected_initial_age + resident;
}

Seconds time_to_live(const Freshness& freshness, TimePoint now) {
  return freshness.lifetime - current_age(freshness, now);
}

Usability usability(const Freshness& freshness, TimePoint now) {
  if (freshness.always_revalidate) return Usability::kMustRevalidate;
  Seconds ttl = time_to_live(freshness, now);
  if (ttl > Seconds{0}) return Usability::kFresh;
  if (-ttl < freshness.stale_while_revalidate) return Usability::kStaleWhileRevalidate;
  return Usability::kMustRevalidate;
}

bool usable_on_error(const Freshness& freshness, TimePoint now) {
  if (freshness.always_revalidate) return false;
  Seconds ttl = time_to_live(freshness, now);
  return ttl > Seconds{0} || -ttl < freshness.stale_if_error;
}

ClientDirectives client_directives(const module::Request& request, const RouteSettings& route) {
  CacheControl cc = parse_cache_control(request.headers);
  ClientDirectives d;
  d.no_store = cc.no_store;
  d.only_if_cached = cc.only_if_cached;
  if (route.honor_client_no_cache) {
    bool pragma = !request.headers.has("cache-control") &&
                  request.headers.contains_token("pragma", "no-cache");
    d.revalidate = cc.no_cache || pragma || (cc.max_age && *cc.max_age == Seconds{0});
    d.max_age = cc.max_age;
  }
  return d;
}

bool client_requires_revalidation(const ClientDirectives& client, Seconds age) {
  return client.revalidate || (client.max_age && age > *client.max_age);
}

bool weak_etag_match(std::string_view a, std::string_view b) {
  a = opaque_tag(trim(a));
  b = opaque_tag(trim(b));
  return is_quoted(a) && is_quoted(b) && a == b;
}

Conditional evaluate_conditional(const http::Headers& request_headers,
                                 const http::Headers& stored_headers, TimePoint response_time) {
  if (request_headers.has("if-match") || request_headers.has("if-unmodified-since")) {
    return Conditional::kForward;
  }
  if (request_headers.has("if-none-match")) {
    std::string list = joined(request_headers, "if-none-match");
    if (trim(list) == "*") return Conditional::kNotModified;
    auto etag = stored_headers.get("etag");
    if (!etag) return Conditional::kModified;
    bool match = false;
    for_each_etag(list,
                  [&](std::string_view tag) { match = match || weak_etag_match(tag, *etag); });
    return match ? Conditional::kNotModified : Conditional::kModified;
  }
  if (auto ims_text = request_headers.get("if-modified-since")) {
    auto ims = parse_http_date(*ims_text, response_time);
    if (!ims) return Conditional::kUnconditional;  // RFC 9110 §13.1.3: ignore an invalid date
    TimePoint modified =
        header_date(stored_headers, "last-modified", response_time)
            .value_or(header_date(stored_headers, "date", response_time).value_or(response_time));
    return modified <= *ims ? Conditional::kNotModified : Conditional::kModified;
  }
  return Conditional::kUnconditional;
}

bool if_range_allows(const http::Headers& request_headers, const http::Headers& stored_headers) {
  auto ir = request_headers.get("if-range");
  if (!ir) return true;
  std::string_view value = trim(*ir);
  if (value.substr(0, 2) == "W/") return false;  // If-Range needs a strong comparison
  if (!value.empty() && value.front() == '"') {
    auto etag = stored_headers.get("etag");
    return etag && is_quoted(value) && trim(*etag) == value;
  }
  auto date = parse_http_date(value);
  auto modified = header_date(stored_headers, "last-modified");
  return date && modified && *date == *modified;
}

http::Headers not_modified_headers(const http::Headers& stored_headers) {
  static constexpr std::string_view kKept[] = {"cache-control", "content-location", "date",
                                               "etag",          "expires",          "vary"};
  bool has_etag = stored_headers.has("etag");
  http::Headers out;
  for (const http::Field& f : stored_headers) {
    bool keep = std::any_of(std::begin(kKept), std::end(kKept),
                            [&](std::string_view n) { return f.name == n; });
    if (!has_etag && f.name == "last-modified") keep = true;
    if (keep) out.add(f.name, f.value);
  }
  return out;
}

bool add_revalidation_headers(const http::Headers& stored_headers,
                              http::Headers& upstream_request) {
  upstream_request.remove("if-none-match");
  upstream_request.remove("if-modified-since");
  bool any = false;
  if (auto etag = stored_headers.get("etag")) {
    upstream_request.add("if-none-match", *etag);
    any = true;
  }
  if (auto lm = stored_headers.get("last-modified")) {
    upstream_request.add("if-modified-since", *lm);
    any = true;
  }
  return any;
}

http::Headers merge_not_modified(const http::Headers& stored_headers,
                                 const http::Headers& not_modified) {
  auto updatable = [](std::string_view name) {
    return name != "content-length" && name != "set-cookie";
  };
  http::Headers out;
  for (const http::Field& f : stored_headers) {
    bool replaced = updatable(f.name) && not_modified.has(f.name);
    if (!replaced) out.add(f.name, f.value);
  }
  for (const http::Field& f : not_modified) {
    if (updatable(f.name)) out.add(f.name, f.value);
  }
  return out;
}

http::Headers headers_to_store(const http::Headers& response_headers) {
  http::Headers out;
  out.reserve(response_headers.size());
  for (const http::Field& f : response_headers) {
    if (f.name != "set-cookie") out.add(f.name, f.value);
  }
  return out;
}

RangeRequest parse_range(std::string_view value, uint64_t length, size_t max_ranges) {
  RangeRequest ignore;
  value = trim(value);
  size_t eq = value.find('=');
  if (eq == std::string_view::npos || !http::iequals(trim(value.substr(0, eq)), "bytes")) {
    return ignore;
  }
  std::string_view specs = value.substr(eq + 1);
  std::vector<ByteRange> ranges;
  size_t count = 0;
  bool malformed = false;
  http::for_each_token(specs, [&](std::string_view spec) {
    if (malformed) return;
    if (++count > max_ranges) return;
    size_t dash = spec.find('-');
    if (dash == std::string_view::npos) {
      malformed = true;
      return;
    }
    std::string_view first_text = trim(spec.substr(0, dash));
    std::string_view last_text = trim(spec.substr(dash + 1));
    uint64_t first = 0, last = 0;
    if (first_text.empty()) {  // suffix: the last N bytes
      if (!parse_u64(last_text, last)) {
        malformed = true;
        return;
      }
      if (last == 0 || length == 0) return;  // unsatisfiable
      ranges.push_back({last >= length ? 0 : length - last, length - 1});
      return;
    }
    if (!parse_u64(first_text, first)) {
      malformed = true;
      return;
    }
    if (last_text.empty()) {
      last = std::numeric_limits<uint64_t>::max();
    } else if (!parse_u64(last_text, last) || last < first) {
      malformed = true;
      return;
    }
    if (first >= length) return;  // unsatisfiable
    ranges.push_back({first, std::min(last, length - 1)});
  });
  if (malformed || count == 0 || count > max_ranges) return ignore;
  if (ranges.empty()) return {RangeRequest::Kind::kUnsatisfiable, {}};
  std::vector<ByteRange> sorted = ranges;
  std::sort(sorted.begin(), sorted.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.first < b.first; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].first <= sorted[i - 1].last) return ignore;
  }
  return {RangeRequest::Kind::kSatisfiable, std::move(ranges)};
}

std::string content_range(ByteRange range, uint64_t length) {
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
         std::to_string(length);
}

std::string content_range_unsatisfied(uint64_t length) {
  return "bytes */" + std::to_string(length);
}

MultipartPlan plan_multipart(const std::vector<ByteRange>& ranges, uint64_t length,
                             std::string_view part_content_type, std::string_view boundary) {
  MultipartPlan plan;
  plan.content_type = "multipart/byteranges; boundary=" + std::string(boundary);
  for (size_t i = 0; i < ranges.size(); ++i) {
    std::string head;
    if (i > 0) head += "\r\n";
    head += "--";
    head += boundary;
    head += "\r\n";
    if (!part_content_type.empty()) {
      head += "Content-Type: ";
      head += part_content_type;
      head += "\r\n";
    }
    head += "Content-Range: " + content_range(ranges[i], length) + "\r\n\r\n";
    plan.content_length += head.size() + ranges[i].size();
    plan.parts.push_back({std::move(head), ranges[i]});
  }
  plan.tail = "\r\n--" + std::string(boundary) + "--\r\n";
  plan.content_length += plan.tail.size();
  return plan;
}

std::string_view to_string(CacheStatus::Fwd fwd) {
  switch (fwd) {
    case CacheStatus::Fwd::kNone:
      return "";
    case CacheStatus::Fwd::kBypass:
      return "bypass";
    case CacheStatus::Fwd::kMethod:
      return "method";
    case CacheStatus::Fwd::kUriMiss:
      return "uri-miss";
    case CacheStatus::Fwd::kVaryMiss:
      return "vary-miss";
    case CacheStatus::Fwd::kMiss:
      return "miss";
    case CacheStatus::Fwd::kRequest:
      return "request";
    case CacheStatus::Fwd::kStale:
      return "stale";
  }
  return "";
}

std::string format_cache_status(const CacheStatus& status, std::string_view cache_name) {
  std::string out;
  out.reserve(cache_name.size() + 64 + status.detail.size());
  out += cache_name;
  if (status.hit) out += "; hit";
  if (status.fwd != CacheStatus::Fwd::kNone) {
    out += "; fwd=";
    out += to_string(status.fwd);
  }
  if (status.fwd_status) {
    out += "; fwd-status=";
    out += std::to_string(*status.fwd_status);
  }
  if (status.stored) out += "; stored";
  if (status.collapsed) out += "; collapsed";
  if (status.ttl) {
    out += "; ttl=";
    out += std::to_string(status.ttl->count());
  }
  if (!status.detail.empty()) {
    out += "; detail=";
    out += status.detail;
  }
  return out;
}

}  // namespace pforte::modules::cache
