// Parsing HTTP-date values (Date, Expires, Last-Modified, If-Modified-Since, If-Range). Pure.
// The core only formats dates (proxy/common/http_date.h); the cache is the first reader.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace pforte::modules::cache {

/// Parses an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and the
/// obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994")
/// forms, which recipients must accept. A two-digit RFC 850 year more than 50 years after `now`
/// is taken to be in the previous century. The weekday is not checked. nullopt if invalid.
std::optional<std::chrono::sys_seconds> parse_http_date(
    std::string_view text, std::chrono::sys_seconds now = std::chrono::sys_seconds{});

}  // namespace pforte::modules::cache
