// PURGE on the admin listener: which stored keys a purge request names. The request's Host names
// the site; the target names one URL ("/static/app.css", exact path and query) or, ending in
// "*", every URL that starts with what precedes it ("/static/*"). Both schemes are purged, and
// with a URL every Vary variant of it. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modules/cache/key.h"

namespace pforte::modules::cache {

struct PurgePlan {
  std::vector<CacheKey> exact;        ///< keys removed one by one (the primary keys)
  std::vector<std::string> prefixes;  ///< key prefixes removed by a walk of every shard
};

/// The plan for PURGE `target` on `authority`; nullopt if the target is not origin-form.
std::optional<PurgePlan> plan_purge(std::string_view authority, std::string_view target);

}  // namespace pforte::modules::cache
