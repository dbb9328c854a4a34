// The cache module's configuration: the `[cache]` section (store size) and the route key
// `cache = { enabled, default_ttl, stale_while_revalidate, stale_if_error, honor_client_no_cache
// }`. Parsing is pure; every problem goes to the ErrorSink with its line and column.
#pragma once

#include <cstdint>
#include <memory>

#include "modules/cache/policy.h"
#include "proxy/config/loader.h"

namespace pforte::modules::cache {

/// `[cache]`. A route that enables caching without this section gets these defaults.
struct SectionConfig : config::ModuleConfig {
  uint64_t memory = 256ull << 20;     ///< the store's whole budget, in real bytes
  uint64_t max_object = 16ull << 20;  ///< larger bodies are passed through, not stored
};

/// A route's `cache` table.
struct CacheRouteConfig : config::ModuleConfig {
  bool enabled = false;
  RouteSettings settings;
};

/// Parses `[cache]` (the node is the `cache` table).
std::shared_ptr<const config::ModuleConfig> parse_section(const toml::node& node,
                                                          config::ErrorSink& errors);

/// Parses a route's `cache` value. `section` is the parsed `[cache]` (may be null).
std::shared_ptr<const config::ModuleConfig> parse_route(const toml::node& node,
                                                        const config::ModuleConfig* section,
                                                        config::ErrorSink& errors);

/// The parsers, named "cache", for the module registry and tests.
config::ModuleConfigParser config_parser();

}  // namespace pforte::modules::cache
