// Cache policy for a shared cache: what RFC 9111 lets pforte store, how long a stored response
// stays fresh, when it may be served stale (RFC 5861), how a client's conditional and Range
// requests are answered from a stored response, and the Cache-Status value (RFC 9211).
//
// Pure: no I/O, no clock of its own (every time is a parameter), no shared state; callable from
// any thread.
//
// Decisions beyond the letter of the RFCs (the README explains them):
// - Client `Cache-Control: no-cache`, `max-age` and `Pragma: no-cache` are ignored unless the
//   route sets honor_client_no_cache: a synchronized reload by thousands of clients must not reach
//   the origin. Client `no-store` and `only-if-cached` are honoured.
// - Set-Cookie: a response carrying it is stored only if it is explicitly `public` or has
//   `s-maxage`, and the stored copy never keeps the Set-Cookie field (one client's cookie is never
//   replayed to another).
// - Qualified `private="f"` and `no-cache="f"` are treated as their unqualified forms.
// - No heuristic freshness: a response without max-age, s-maxage or Expires gets the route's
//   default_ttl, or is not stored when that is zero and it has no validator.
// - s-maxage implies proxy-revalidate (RFC 9111 §5.2.2.10): the route's default stale windows do
//   not apply to it, but stale-while-revalidate / stale-if-error written by the origin in the same
//   response do. must-revalidate, proxy-revalidate and no-cache forbid serving stale at all.
// - Only GET responses are stored; HEAD is answered from a stored GET response.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/module/module.h"

namespace pforte::modules::cache {

/// Times on the cache's clock, at the resolution of HTTP dates.
using TimePoint = std::chrono::sys_seconds;
using Seconds = std::chrono::seconds;

/// RFC 9111 §1.2.2: delta-seconds too large to represent are taken as 2^31.
inline constexpr Seconds kMaxDelta{2147483648LL};

/// The parts of a route's `cache` table the policy needs.
struct RouteSettings {
  Seconds default_ttl{0};              ///< lifetime of responses without freshness information
  Seconds stale_while_revalidate{0};   ///< window when the response does not set one
  Seconds stale_if_error{0};           ///< window when the response does not set one
  bool honor_client_no_cache = false;  ///< client no-cache / max-age make pforte revalidate
};

/// The Cache-Control directives pforte acts on (request or response). Unknown ones are ignored;
/// for a repeated directive the first occurrence counts.
struct CacheControl {
  std::optional<Seconds> max_age;   ///< an invalid value reads as 0 (stale: the safe side)
  std::optional<Seconds> s_maxage;  ///< same
  std::optional<Seconds> stale_while_revalidate;  ///< RFC 5861; invalid values are ignored
  std::optional<Seconds> stale_if_error;          ///< RFC 5861; invalid values are ignored
  bool no_store = false;
  bool no_cache = false;    ///< also the qualified form no-cache="field"
  bool is_private = false;  ///< also the qualified form private="field"
  bool is_public = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool only_if_cached = false;  ///< request directive
};

/// Parses every Cache-Control field of `headers`.
CacheControl parse_cache_control(const http::Headers& headers);

/// Why a response is or is not stored. Names double as Cache-Status `detail` values.
enum class StoreVerdict : uint8_t {
  kStore,
  kMethod,         ///< request method is not GET
  kStatus,         ///< status not cacheable by default and no explicit freshness
  kNoStore,        ///< no-store in the request or the response
  kPrivate,        ///< private response
  kAuthorization,  ///< request had Authorization; response not public/s-maxage/must-revalidate
  kSetCookie,      ///< Set-Cookie without public or s-maxage
  kVaryStar,       ///< Vary: * never matches a later request
  kNotUseful,      ///< zero lifetime, no validator and no stale-if-error window
};

std::string_view to_string(StoreVerdict verdict);

/// RFC 9111 §3 for a shared cache: may the response to `request` be stored?
StoreVerdict storable(const module::Request& request, const module::Response& response,
                      const RouteSettings& route);

/// True for the status codes RFC 9110 §15.1 defines as heuristically cacheable.
bool cacheable_by_default(int status);

/// The age and freshness of a stored response (RFC 9111 §4.2), computed once when it is stored
/// (or updated by a 304) and kept with it.
struct Freshness {
  TimePoint response_time{};          ///< when the response head arrived
  Seconds corrected_initial_age{0};   ///< RFC 9111 §4.2.3
  Seconds lifetime{0};                ///< RFC 9111 §4.2.1, or the route's default_ttl
  Seconds stale_while_revalidate{0};  ///< how long past its lifetime it may be served while
                                      ///< one revalidation runs in the background
  Seconds stale_if_error{0};  ///< how long past its lifetime it may be served when the origin fails
  bool always_revalidate = false;  ///< response no-cache: every use needs a revalidation
};

/// RFC 9111 §4.2.1 for a shared cache: s-maxage, else max-age, else Expires − Date (Date: the
/// response time if absent; an invalid Expires is in the past), else the route's default_ttl.
Seconds freshness_lifetime(const module::Response& response, const RouteSettings& route,
                           TimePoint response_time);

/// True if the response carries s-maxage, max-age or Expires.
bool has_explicit_freshness(const module::Response& response);

/// Everything the cache keeps about a response's freshness. `request_time` is when the request
/// that produced it went upstream, `response_time` when the head came back.
Freshness compute_freshness(const module::Response& response, const RouteSettings& route,
                            TimePoint request_time, TimePoint response_time);

/// RFC 9111 §4.2.3: the current age of a stored response.
Seconds current_age(const Freshness& freshness, TimePoint now);

/// lifetime − current age: positive while fresh, negative once stale. Cache-Status `ttl`.
Seconds time_to_live(const Freshness& freshness, TimePoint now);

/// How a stored response may be used now.
enum class Usability : uint8_t {
  kFresh,                 ///< serve it
  kStaleWhileRevalidate,  ///< serve it and revalidate in the background
  kMustRevalidate,        ///< revalidate first (may still serve it if the origin fails and
                          ///< usable_on_error() says so)
};

Usability usability(const Freshness& freshness, TimePoint now);

/// True if the stored response may be served because the origin failed (RFC 5861 §4).
bool usable_on_error(const Freshness& freshness, TimePoint now);

/// What the client's own Cache-Control asks of the cache.
struct ClientDirectives {
  bool revalidate = false;         ///< honoured no-cache / Pragma: no-cache / max-age=0
  std::optional<Seconds> max_age;  ///< honoured max-age: revalidate responses older than this
  bool no_store = false;           ///< do not store the response to this request
  bool only_if_cached = false;     ///< answer 504 rather than going upstream
};

ClientDirectives client_directives(const module::Request& request, const RouteSettings& route);

/// True if the client's directives force a revalidation of a response of `age`.
bool client_requires_revalidation(const ClientDirectives& client, Seconds age);

/// What to do with a client's conditional GET or HEAD against a fresh stored response.
enum class Conditional : uint8_t {
  kUnconditional,  ///< no conditional header: serve the stored response
  kNotModified,    ///< answer 304
  kModified,       ///< the condition fails: serve the stored response (200)
  kForward,        ///< If-Match / If-Unmodified-Since: leave it to the origin
};

/// RFC 9110 §13.2.2 and RFC 9111 §4.3.2. If-None-Match (weak comparison) wins over
/// If-Modified-Since, which is compared with the stored Last-Modified, else Date, else the time
/// it was received.
Conditional evaluate_conditional(const http::Headers& request_headers,
                                 const http::Headers& stored_headers, TimePoint response_time);

/// Weak comparison of two entity-tags (RFC 9110 §8.8.3.2): W/"a" matches "a".
bool weak_etag_match(std::string_view a, std::string_view b);

/// True if a Range request may be honoured under its If-Range (RFC 9110 §13.1.5): no If-Range,
/// a strong ETag equal to the stored one, or a date equal to the stored Last-Modified.
bool if_range_allows(const http::Headers& request_headers, const http::Headers& stored_headers);

/// The fields of a 304 built from a stored response (RFC 9110 §15.4.5): Cache-Control,
/// Content-Location, Date, ETag, Expires, Vary, and Last-Modified when there is no ETag.
http::Headers not_modified_headers(const http::Headers& stored_headers);

/// Sets If-None-Match / If-Modified-Since on `upstream_request` from the stored validators,
/// replacing any the client sent. False if the stored response has no validator.
bool add_revalidation_headers(const http::Headers& stored_headers, http::Headers& upstream_request);

/// RFC 9111 §3.2: the stored fields updated with those of a 304 (all but Content-Length and
/// Set-Cookie replace the stored ones).
http::Headers merge_not_modified(const http::Headers& stored_headers,
                                 const http::Headers& not_modified);

/// The fields kept in the cache for a response: all but Set-Cookie.
http::Headers headers_to_store(const http::Headers& response_headers);

/// An inclusive byte range of a representation.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  ///< inclusive
  uint64_t size() const { return last - first + 1; }
  bool operator==(const ByteRange&) const = default;
};

/// The outcome of a Range header against a representation of known length.
struct RangeRequest {
  enum class Kind : uint8_t {
    kIgnore,         ///< no, malformed, non-bytes, overlapping or too many ranges: send 200
    kSatisfiable,    ///< send 206 with `ranges`
    kUnsatisfiable,  ///< send 416 with Content-Range: bytes */length
  };
  Kind kind = Kind::kIgnore;
  std::vector<ByteRange> ranges;  ///< in request order, clipped to the representation
};

/// Beyond this many ranges a Range header is ignored (RFC 9110 §14.2 lets a server ignore it).
inline constexpr size_t kMaxRanges = 16;

/// Parses a Range value (RFC 9110 §14.1.2): "bytes=0-99", "bytes=100-", "bytes=-100",
/// "bytes=0-0,-1". Ranges that start past the end are dropped; if none remains the request is
/// unsatisfiable. Overlapping ranges are ignored rather than coalesced (a classic amplification).
RangeRequest parse_range(std::string_view value, uint64_t length, size_t max_ranges = kMaxRanges);

/// "bytes 0-99/1234"
std::string content_range(ByteRange range, uint64_t length);
/// "bytes */1234", for a 416.
std::string content_range_unsatisfied(uint64_t length);

/// How to lay out a multipart/byteranges body (RFC 9110 §14.6): each part's head text followed
/// by that range of the stored body, then `tail`. The caller appends the body slices by
/// reference, so the body is never copied.
struct MultipartPlan {
  struct Part {
    std::string head;  ///< delimiter, Content-Type and Content-Range lines, blank line
    ByteRange range;
  };
  std::string content_type;  ///< "multipart/byteranges; boundary=..."
  std::vector<Part> parts;
  std::string tail;             ///< closing delimiter
  uint64_t content_length = 0;  ///< total body bytes
};

MultipartPlan plan_multipart(const std::vector<ByteRange>& ranges, uint64_t length,
                             std::string_view part_content_type, std::string_view boundary);

/// A Cache-Status field value (RFC 9211) for one answer of a caching route.
struct CacheStatus {
  enum class Fwd : uint8_t {
    kNone,
    kBypass,
    kMethod,
    kUriMiss,
    kVaryMiss,
    kMiss,
    kRequest,
    kStale
  };
  bool hit = false;
  Fwd fwd = Fwd::kNone;
  std::optional<int> fwd_status;  ///< status the origin answered with
  std::optional<Seconds> ttl;     ///< remaining freshness (negative once stale)
  bool stored = false;
  bool collapsed = false;   ///< waited for another request's upstream fetch
  std::string_view detail;  ///< a token, e.g. "stale-while-revalidate" or a StoreVerdict
};

std::string_view to_string(CacheStatus::Fwd fwd);

/// "pforte; hit; ttl=42", "pforte; fwd=miss; fwd-status=200; stored; ttl=60", ...
std::string format_cache_status(const CacheStatus& status, std::string_view cache_name = "pforte");

}  // namespace pforte::modules::cache
