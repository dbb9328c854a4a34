#include "modules/cache/cache_config.h"

#include <toml++/toml.h>

#include <string>

#include "proxy/common/units.h"

namespace pforte::modules::cache {

namespace {

/// Smallest [cache] memory accepted: below it a single small object may not fit a shard.
constexpr uint64_t kMinMemory = 64 * 1024;

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

bool get_size(const toml::node& node, std::string_view key, uint64_t& out,
              config::ErrorSink& errors) {
  if (const auto* i = node.as_integer()) {
    if (i->get() < 0) {
      errors.add(node, quoted(key) + " must not be negative");
      return false;
    }
    out = static_cast<uint64_t>(i->get());
    return true;
  }
  if (const auto* s = node.as_string()) {
    if (std::optional<uint64_t> parsed = parse_size(s->get())) {
      out = *parsed;
      return true;
    }
    errors.add(node, "invalid size " + quoted(s->get()) +
                         R"( (use e.g. "64KiB", "16MiB", or a number of bytes))");
    return false;
  }
  errors.add(node, quoted(key) + R"( must be a size such as "256MiB" or a number of bytes)");
  return false;
}

/// A duration in whole seconds ("1h", "30s", "0").
bool get_seconds(const toml::node& node, std::string_view key, Seconds& out,
                 config::ErrorSink& errors) {
  const auto* s = node.as_string();
  if (!s) {
    errors.add(node, quoted(key) + R"( must be a duration string such as "1h" or "30s")");
    return false;
  }
  std::optional<Millis> value = parse_duration(s->get());
  if (!value) {
    errors.add(node, "invalid duration " + quoted(s->get()) + R"( (use e.g. "30s", "5m", "1h"))");
    return false;
  }
  if (value->count() % 1000 != 0) {
    errors.add(node, quoted(key) + " must be a whole number of seconds");
    return false;
  }
  out = Seconds{value->count() / 1000};
  return true;
}

bool get_bool(const toml::node& node, std::string_view key, bool& out, config::ErrorSink& errors) {
  if (const auto* b = node.as_boolean()) {
    out = b->get();
    return true;
  }
  errors.add(node, quoted(key) + " must be true or false");
  return false;
}

}  // namespace

std::shared_ptr<const config::ModuleConfig> parse_section(const toml::node& node,
                                                          config::ErrorSink& errors) {
  const toml::table* table = node.as_table();
  if (!table) {
    errors.add(node, "\"cache\" must be a table ([cache])");
    return nullptr;
  }
  auto out = std::make_shared<SectionConfig>();
  bool ok = true;
  const toml::node* memory_node = nullptr;
  for (auto&& [key, value] : *table) {
    const std::string_view k = key.str();
    if (k == "memory") {
      memory_node = &value;
      if (!get_size(value, k, out->memory, errors)) {
        ok = false;
      } else if (out->memory < kMinMemory) {
        errors.add(value, "\"memory\" must be at least 64KiB");
        ok = false;
      }
    } else if (k == "max_object") {
      if (!get_size(value, k, out->max_object, errors)) {
        ok = false;
      } else if (out->max_object == 0) {
        errors.add(value, "\"max_object\" must be at least 1 byte");
        ok = false;
      }
    } else {
      const toml::source_position& pos = key.source().begin;
      errors.add(static_cast<int>(pos.line), static_cast<int>(pos.column),
                 "unknown key " + quoted(k) + " in [cache]");
      ok = false;
    }
  }
  if (ok && out->max_object > out->memory) {
    errors.add(memory_node ? *memory_node : node,
               "\"max_object\" must not be larger than \"memory\" in [cache]");
    ok = false;
  }
  return ok ? out : nullptr;
}

std::shared_ptr<const config::ModuleConfig> parse_route(const toml::node& node,
                                                        const config::ModuleConfig*,
                                                        config::ErrorSink& errors) {
  const toml::table* table = node.as_table();
  if (!table) {
    errors.add(node, R"("cache" must be a table such as { enabled = true, default_ttl = "1h" })");
    return nullptr;
  }
  auto out = std::make_shared<CacheRouteConfig>();
  bool ok = true;
  for (auto&& [key, value] : *table) {
    const std::string_view k = key.str();
    if (k == "enabled") {
      ok = get_bool(value, k, out->enabled, errors) && ok;
    } else if (k == "default_ttl") {
      ok = get_seconds(value, k, out->settings.default_ttl, errors) && ok;
    } else if (k == "stale_while_revalidate") {
      ok = get_seconds(value, k, out->settings.stale_while_revalidate, errors) && ok;
    } else if (k == "stale_if_error") {
      ok = get_seconds(value, k, out->settings.stale_if_error, errors) && ok;
    } else if (k == "honor_client_no_cache") {
      ok = get_bool(value, k, out->settings.honor_client_no_cache, errors) && ok;
    } else {
      const toml::source_position& pos = key.source().begin;
      errors.add(static_cast<int>(pos.line), static_cast<int>(pos.column),
                 "unknown key " + quoted(k) + " in the route's \"cache\" table");
      ok = false;
    }
  }
  return ok ? out : nullptr;
}

config::ModuleConfigParser config_parser() {
  config::ModuleConfigParser p;
  p.name = "cache";
  p.parse_section = parse_section;
  p.parse_route = parse_route;
  return p;
}

}  // namespace pforte::modules::cache
