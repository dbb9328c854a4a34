// Compression of stored text: when the upstream sends a text type (CSS, JavaScript, HTML, SVG,
// JSON, plain text) uncompressed, the cache compresses it once at store time with brotli and
// gzip and serves whichever the client's Accept-Encoding prefers, without compressing per hit.
//
// Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/headers.h"

namespace pforte::modules::cache {

enum class Coding : uint8_t { kIdentity, kBrotli, kGzip };

/// "br", "gzip" or "identity".
std::string_view to_string(Coding coding);

/// Bodies smaller than this are not worth compressing (headers and framing dominate).
inline constexpr size_t kMinCompressBytes = 256;
/// Bodies larger than this are stored uncompressed: compressing happens on a worker thread.
inline constexpr size_t kMaxCompressBytes = 4u << 20;

/// True if a response with these fields should be compressed by the cache: a text type (by
/// Content-Type), no Content-Encoding (or identity), no `no-transform`, status 200.
bool should_compress(int status, const http::Headers& response_headers, size_t body_size);

/// brotli (quality 5, window 22) of `data`; nullopt if it failed.
std::optional<std::string> brotli_compress(std::string_view data);
/// gzip (RFC 1952, zlib level 6) of `data`; nullopt if it failed.
std::optional<std::string> gzip_compress(std::string_view data);

/// The coding to send for a client's Accept-Encoding (RFC 9110 §12.5.3) when the entry has the
/// codings marked available: brotli over gzip, q=0 excludes, `*` matches the others; identity
/// when none is acceptable (pforte never answers 406 for a coding it merely prefers).
Coding choose_coding(const http::Headers& request_headers, bool have_brotli, bool have_gzip);

/// Rewrites a cacheable request's Accept-Encoding to the one coding it will get ("br", "gzip",
/// or none), before the lookup and before it goes upstream. An origin that answers with
/// `Vary: Accept-Encoding` then makes three variants at most, not one per browser's spelling of
/// the header, and each variant holds the coding its key promises.
void normalize_accept_encoding(http::Headers& request_headers);

}  // namespace pforte::modules::cache
