// Answers built from a stored entry: 200 with the whole body, 304 for a matching conditional,
// 206 for one range, 206 multipart/byteranges for several, 416 for none satisfiable. Bodies are
// appended by reference (add_body_reference): a hit never copies the stored body.
//
// Pure apart from building evbuffers; any thread (the cache module calls it on worker threads).
#pragma once

#include <memory>
#include <string_view>

#include "modules/cache/policy.h"
#include "modules/cache/store.h"
#include "proxy/module/module.h"

namespace pforte::modules::cache {

/// The reply to a GET or HEAD with `request_headers` (conditionals, Range, If-Range) from
/// `entry` at `now`. Sets Age and Cache-Status (`status`, its ttl filled in here). For HEAD the
/// caller sends the head only; the body is still attached so its length becomes Content-Length.
module::LocalReply reply_from_entry(const http::Headers& request_headers,
                                    const std::shared_ptr<const Entry>& entry, TimePoint now,
                                    CacheStatus status);

/// The reply to a client's only-if-cached request that missed: 504.
module::LocalReply only_if_cached_miss(CacheStatus status);

/// The multipart boundary pforte uses: fixed, long and unlikely to appear in a body (RFC 2046
/// only asks that it not occur in the parts; each part's head repeats it).
inline constexpr std::string_view kMultipartBoundary = "pforte-byteranges-3f9a1c7e5b2d4086";

}  // namespace pforte::modules::cache
