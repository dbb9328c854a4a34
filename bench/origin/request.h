// Request heads as pforte-origin reads them: a small strict HTTP/1.x head parser.
// Pure: no I/O; the views point into the caller's copy of the head.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pforte::origin {

struct HeaderField {
  std::string_view name;   // as received (case kept)
  std::string_view value;  // without surrounding whitespace
};

enum class BodyKind {
  kNone,     // no body
  kLength,   // Content-Length bytes
  kChunked,  // Transfer-Encoding: chunked
};

struct Request {
  std::string_view method;               // e.g. "GET"
  std::string_view target;               // request-target as received
  std::string_view path;                 // target before '?'
  std::string_view query;                // target after '?', may be empty
  int minor_version = 1;                 // HTTP/1.<minor>
  std::vector<HeaderField> headers;      // in order received; capacity reused between requests
  BodyKind body_kind = BodyKind::kNone;  // how the body is framed
  uint64_t content_length = 0;           // with BodyKind::kLength
  bool keep_alive = true;                // the client lets the connection live after this request
  bool expect_continue = false;          // Expect: 100-continue

  // First field named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  bool is_head() const { return method == "HEAD"; }
};

enum class ParseError {
  kBadRequest,      // 400
  kTooManyFields,   // 431
  kNotImplemented,  // 501: a transfer coding other than chunked
};

// Parses a complete head (request line, fields and the final empty line, CRLF line ends) into
// `out`, which keeps pointing into `head`.
std::optional<ParseError> parse_request_head(std::string_view head, Request& out);

// Value of `key` in an application/x-www-form-urlencoded query (no decoding), or nullopt.
std::optional<std::string_view> query_param(std::string_view query, std::string_view key);

bool iequals(std::string_view a, std::string_view b);

// Limits of a head; beyond them the request gets 431.
inline constexpr size_t kMaxHeadSize = 64 * 1024;
inline constexpr size_t kMaxHeaderFields = 128;

}  // namespace pforte::origin
