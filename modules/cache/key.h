// Cache keys. The primary key names a resource: scheme, host (lower-case, default port dropped)
// and the request target (path and query, byte for byte). A response with Vary is stored under a
// variant key: the primary key plus the values of the request fields its Vary names (RFC 9111
// §4.1). The store keys by the full text and uses a keyed 64-bit hash only to find the shard and
// bucket; two different keys with the same hash never answer for each other.
//
// Pure; callable from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/headers.h"

namespace pforte::modules::cache {

/// A key's full text and its hash.
struct CacheKey {
  std::string text;
  uint64_t hash = 0;
};

/// Separates the primary key from the Vary part of a variant key. Request targets cannot hold
/// control characters, so no primary key contains it.
inline constexpr char kVarySeparator = '\x1f';

/// SipHash-1-3 of `data` under a key drawn from the kernel once per process, so that clients
/// cannot aim many keys at one bucket.
uint64_t hash_key(std::string_view data);

/// Wraps `text` with its hash.
CacheKey make_key(std::string text);

/// The host part of an authority, normalized: lower-case, no trailing dot, no port when it is the
/// scheme's default (80 for http, 443 for https).
std::string normalize_authority(std::string_view scheme, std::string_view authority);

/// "scheme://host[:port]/path?query".
CacheKey primary_key(std::string_view scheme, std::string_view authority, std::string_view target);

/// The field names a response's Vary lists: lower-case, sorted, without duplicates. nullopt for
/// `Vary: *` (never storable). Empty if there is no Vary.
std::optional<std::vector<std::string>> parse_vary(const http::Headers& response_headers);

/// The Vary part of a key: for each name, the request's values of that field (all lines joined
/// by commas, list elements trimmed, inner whitespace runs collapsed to one space), or a marker
/// that the field was absent. Requests that differ only in such whitespace share the key.
std::string secondary_key(const std::vector<std::string>& vary_names,
                          const http::Headers& request_headers);

/// The key of the variant of `primary` that answers `request_headers` under `vary_names`.
CacheKey variant_key(const CacheKey& primary, const std::vector<std::string>& vary_names,
                     const http::Headers& request_headers);

}  // namespace pforte::modules::cache
