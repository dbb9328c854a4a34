#include "modules/cache/purge.h"

namespace pforte::modules::cache {

std::optional<PurgePlan> plan_purge(std::string_view authority, std::string_view target) {
  if (target.empty() || target.front() != '/' || authority.empty()) return std::nullopt;
  PurgePlan plan;
  const bool prefix = target.back() == '*';
  if (prefix) target.remove_suffix(1);
  for (std::string_view scheme : {"http", "https"}) {
    CacheKey key = primary_key(scheme, authority, target);
    if (prefix) {
      plan.prefixes.push_back(std::move(key.text));
    } else {
      plan.prefixes.push_back(key.text + kVarySeparator);
      plan.exact.push_back(std::move(key));
    }
  }
  return plan;
}

}  // namespace pforte::modules::cache
