#define BOOST_TEST_MODULE cache_config
#include "modules/cache/cache_config.h"

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "modules/cache/cache_module.h"

using namespace pforte;
using namespace pforte::modules::cache;

namespace {

// Lines 1..4; tests append from line 5 on.
const std::string kBase =
    "[[listener]]\n"
    "address = \"127.0.0.1:8080\"\n"
    "[upstream.app]\n"
    "servers = [\"127.0.0.1:9000\"]\n";

std::vector<std::string> errors_of(const std::string& text) {
  std::vector<std::string> out;
  auto result = config::load_config_text(text, "t.toml", {config_parser()});
  if (!result) {
    for (const config::ConfigError& e : result.error()) out.push_back(e.to_string());
  }
  return out;
}

std::shared_ptr<const config::Config> load_ok(const std::string& text) {
  auto result = config::load_config_text(text, "t.toml", {config_parser()});
  if (!result) {
    for (const config::ConfigError& e : result.error()) BOOST_TEST_MESSAGE(e.to_string());
    BOOST_FAIL("config did not load");
  }
  return *result;
}

const CacheRouteConfig* route_cache(const config::Config& c, size_t i) {
  auto it = c.routes.at(i).modules.find("cache");
  return it == c.routes.at(i).modules.end()
             ? nullptr
             : static_cast<const CacheRouteConfig*>(it->second.get());
}

}  // namespace

BOOST_AUTO_TEST_CASE(section_and_route_are_parsed) {
  auto c = load_ok(kBase +
                   "[cache]\n"
                   "memory = \"512MiB\"\n"
                   "max_object = \"8MiB\"\n"
                   "[[route]]\n"
                   "upstream = \"app\"\n"
                   "cache = { enabled = true, default_ttl = \"1h\", stale_while_revalidate = "
                   "\"1m\", stale_if_error = \"1d\", honor_client_no_cache = true }\n");
  const auto* section = static_cast<const SectionConfig*>(c->modules.at("cache").get());
  BOOST_TEST(section->memory == 512ull << 20);
  BOOST_TEST(section->max_object == 8ull << 20);
  const CacheRouteConfig* r = route_cache(*c, 0);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->enabled);
  BOOST_TEST(r->settings.default_ttl.count() == 3600);
  BOOST_TEST(r->settings.stale_while_revalidate.count() == 60);
  BOOST_TEST(r->settings.stale_if_error.count() == 86400);
  BOOST_TEST(r->settings.honor_client_no_cache);
}

BOOST_AUTO_TEST_CASE(route_without_section_uses_defaults) {
  auto c = load_ok(kBase +
                   "[[route]]\n"
                   "upstream = \"app\"\n"
                   "cache = { enabled = true }\n");
  BOOST_TEST(c->modules.count("cache") == 0u);
  const CacheRouteConfig* r = route_cache(*c, 0);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->settings.default_ttl.count() == 0);
  auto shared = prepare(*c, nullptr);
  BOOST_REQUIRE(shared.has_value());
  const auto& store = static_cast<CacheShared&>(**shared).core().store;
  BOOST_TEST(store.options().memory == 256ull << 20);
  BOOST_TEST(store.options().max_object == 16ull << 20);
}

BOOST_AUTO_TEST_CASE(disabled_route_is_not_caching) {
  auto c = load_ok(kBase + "[[route]]\nupstream = \"app\"\ncache = { enabled = false }\n");
  BOOST_TEST(!route_cache(*c, 0)->enabled);
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_errors_with_position) {
  auto errors = errors_of(kBase +
                          "[cache]\n"
                          "memory = \"64MiB\"\n"
                          "size = 3\n"
                          "[[route]]\n"
                          "upstream = \"app\"\n"
                          "cache = { enabled = true, ttl = \"1h\" }\n");
  BOOST_TEST(errors == (std::vector<std::string>{
                           "t.toml:7:1: unknown key \"size\" in [cache]",
                           "t.toml:10:27: unknown key \"ttl\" in the route's \"cache\" table"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(wrong_types_and_values_are_errors) {
  auto errors = errors_of(kBase +
                          "[cache]\n"
                          "memory = true\n"
                          "max_object = \"lots\"\n"
                          "[[route]]\n"
                          "upstream = \"app\"\n"
                          "cache = { enabled = \"yes\", default_ttl = 60, stale_if_error = "
                          "\"1500ms\", stale_while_revalidate = \"soon\" }\n");
  BOOST_TEST(errors == (std::vector<std::string>{
                           "t.toml:6:10: \"memory\" must be a size such as \"256MiB\" or a number "
                           "of bytes",
                           "t.toml:7:14: invalid size \"lots\" (use e.g. \"64KiB\", \"16MiB\", or "
                           "a number of bytes)",
                           "t.toml:10:21: \"enabled\" must be true or false",
                           "t.toml:10:42: \"default_ttl\" must be a duration string such as "
                           "\"1h\" or \"30s\"",
                           "t.toml:10:63: \"stale_if_error\" must be a whole number of seconds",
                           "t.toml:10:98: invalid duration \"soon\" (use e.g. \"30s\", \"5m\", "
                           "\"1h\")"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(route_value_must_be_a_table) {
  auto errors = errors_of(kBase + "[[route]]\nupstream = \"app\"\ncache = true\n");
  BOOST_TEST(errors.size() == 1u);
  BOOST_TEST(errors.at(0).starts_with("t.toml:7:9: \"cache\" must be a table"));
}

BOOST_AUTO_TEST_CASE(max_object_larger_than_memory_is_an_error) {
  auto errors = errors_of(kBase + "[cache]\nmemory = \"1MiB\"\nmax_object = \"2MiB\"\n" +
                          "[[route]]\nupstream = \"app\"\n");
  BOOST_TEST(errors == (std::vector<std::string>{"t.toml:6:10: \"max_object\" must not be larger "
                                                 "than \"memory\" in [cache]"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tiny_memory_is_an_error) {
  auto errors = errors_of(kBase + "[cache]\nmemory = 1000\nmax_object = 10\n" +
                          "[[route]]\nupstream = \"app\"\n");
  BOOST_TEST(errors == (std::vector<std::string>{"t.toml:6:10: \"memory\" must be at least 64KiB"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(shards_shrink_until_max_object_fits_twice) {
  SectionConfig s;
  s.memory = 256ull << 20;
  s.max_object = 16ull << 20;
  BOOST_TEST(store_options(s).shards == 8u);
  s.memory = 4ull << 30;
  BOOST_TEST(store_options(s).shards == 16u);
  s.memory = 16ull << 20;
  BOOST_TEST(store_options(s).shards == 1u);
}

BOOST_AUTO_TEST_CASE(store_survives_a_reload_when_size_matches) {
  auto a = load_ok(kBase + "[cache]\nmemory = \"64MiB\"\n[[route]]\nupstream = \"app\"\n");
  auto b = load_ok(kBase + "[cache]\nmemory = \"64MiB\"\n[[route]]\nupstream = \"app\"\n");
  auto c = load_ok(kBase + "[cache]\nmemory = \"128MiB\"\n[[route]]\nupstream = \"app\"\n");
  auto first = prepare(*a, nullptr);
  BOOST_REQUIRE(first.has_value());
  auto second = prepare(*b, *first);
  BOOST_REQUIRE(second.has_value());
  auto third = prepare(*c, *second);
  BOOST_REQUIRE(third.has_value());
  auto core = [](const std::shared_ptr<pforte::module::ModuleShared>& s) {
    return static_cast<CacheShared&>(*s).core_ptr().get();
  };
  BOOST_TEST(core(*first) == core(*second));
  BOOST_TEST(core(*second) != core(*third));
  BOOST_TEST(static_cast<CacheShared&>(**third).core().store.options().memory == 128ull << 20);
}

BOOST_AUTO_TEST_CASE(shipped_configs_load_with_the_registered_modules) {
  const std::filesystem::path conf =
      std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / ".." / "conf";
  for (const char* name : {"pforte.toml", "demo.toml"}) {
    auto result = config::load_config_file((conf / name).string(), module::config_parsers());
    if (!result) {
      for (const config::ConfigError& e : result.error()) BOOST_TEST_MESSAGE(e.to_string());
    }
    BOOST_TEST_REQUIRE(result.has_value(), name);
    bool caching = false;
    for (const config::RouteConfig& r : (*result)->routes) {
      auto it = r.modules.find("cache");
      if (it != r.modules.end()) {
        caching = caching || static_cast<const CacheRouteConfig*>(it->second.get())->enabled;
      }
    }
    BOOST_TEST(caching, name << " has a caching route");
  }
}

BOOST_AUTO_TEST_CASE(metrics_and_status_show_the_store) {
  auto c = load_ok(kBase + "[[route]]\nupstream = \"app\"\ncache = { enabled = true }\n");
  auto shared = prepare(*c, nullptr);
  BOOST_REQUIRE(shared.has_value());
  module::MetricsWriter w;
  (*shared)->write_metrics(w);
  std::string text = w.text();
  BOOST_TEST(text.find("pforte_cache_bytes 0") != std::string::npos);
  BOOST_TEST(text.find("pforte_cache_objects 0") != std::string::npos);
  std::string json;
  (*shared)->write_status_json(json);
  BOOST_TEST(json.starts_with("{\"memory\":268435456,"));
  BOOST_TEST(json.find("\"hit_ratio\":") != std::string::npos);
  std::string html;
  (*shared)->write_status_html(html);
  BOOST_TEST(html.find("Hit ratio") != std::string::npos);
  // The counters are registered once prepared, before any request.
  module::MetricsWriter all;
  module::metrics().write(all);
  for (const char* name : {"pforte_cache_hits_total", "pforte_cache_misses_total",
                           "pforte_cache_stale_total", "pforte_cache_coalesced_total"}) {
    BOOST_TEST(all.text().find(std::string(name) + " 0") != std::string::npos, name);
  }
}
