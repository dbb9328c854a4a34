#define BOOST_TEST_MODULE isolation_fragments
#include "modules/isolation/fragments.h"

#include <boost/test/unit_test.hpp>
#include <filesystem>

using pforte::modules::isolation::fragments_factory;
using pforte::modules::isolation::FragmentsRouteConfig;
using pforte::modules::isolation::resolve_include;

namespace {

constexpr std::string_view kBase = R"(
[[listener]]
address = "127.0.0.1:8080"
[upstream.platform]
servers = ["127.0.0.1:9000"]
[[route]]
path_prefix = "/"
upstream = "platform"
)";

auto load(std::string_view route_line) {
  std::string text(kBase);
  text.append(route_line).append("\n");
  return pforte::config::load_config_text(text, "t.toml", {fragments_factory().parser});
}

std::string first_error(std::string_view route_line) {
  auto r = load(route_line);
  if (r) return "";
  return r.error().front().to_string();
}

const FragmentsRouteConfig* route_config(const pforte::config::Config& c) {
  auto it = c.routes.at(0).modules.find("fragments");
  if (it == c.routes.at(0).modules.end()) return nullptr;
  return static_cast<const FragmentsRouteConfig*>(it->second.get());
}

}  // namespace

BOOST_AUTO_TEST_CASE(route_key_is_parsed) {
  auto r = load(R"(fragments = { enabled = true, timeout = "150ms" })");
  BOOST_REQUIRE(r);
  const FragmentsRouteConfig* f = route_config(**r);
  BOOST_REQUIRE(f);
  BOOST_TEST(f->enabled);
  BOOST_TEST(f->timeout.count() == 150);
}

BOOST_AUTO_TEST_CASE(timeout_defaults_to_200ms_and_enabled_to_false) {
  auto r = load(R"(fragments = { })");
  BOOST_REQUIRE(r);
  BOOST_TEST(!route_config(**r)->enabled);
  BOOST_TEST(route_config(**r)->timeout.count() == 200);
}

BOOST_AUTO_TEST_CASE(a_route_without_the_key_has_no_fragments_config) {
  auto r = load("");
  BOOST_REQUIRE(r);
  BOOST_TEST(!route_config(**r));
}

BOOST_AUTO_TEST_CASE(bad_settings_are_reported_with_their_position) {
  BOOST_TEST(
      first_error(R"(fragments = true)") ==
      R"(t.toml:9:13: "fragments" must be a table such as { enabled = true, timeout = "200ms" })");
  BOOST_TEST(first_error(R"(fragments = { enabled = "yes" })") ==
             R"(t.toml:9:25: "enabled" must be true or false)");
  BOOST_TEST(first_error(R"(fragments = { timeout = "200" })") ==
             R"(t.toml:9:25: "timeout" must be a duration string such as "200ms" or "1s")");
  BOOST_TEST(first_error(R"(fragments = { timeout = "0ms" })") ==
             R"(t.toml:9:25: "timeout" must be greater than 0 and at most "60s")");
  BOOST_TEST(first_error(R"(fragments = { timeout = "2m" })") ==
             R"(t.toml:9:25: "timeout" must be greater than 0 and at most "60s")");
  BOOST_TEST(first_error(R"(fragments = { enable = true })") ==
             R"(t.toml:9:24: unknown key "enable" in "fragments" (expected "enabled", "timeout"))");
}

BOOST_AUTO_TEST_CASE(absolute_paths_keep_the_page_host) {
  auto t = resolve_include("/news/latest?x=1", "https", "schule.example", "/index.html");
  BOOST_REQUIRE(t);
  BOOST_TEST(t->scheme == "https");
  BOOST_TEST(t->authority == "schule.example");
  BOOST_TEST(t->path == "/news/latest?x=1");
  BOOST_TEST(t->key() == "schule.example/news/latest?x=1");
}

BOOST_AUTO_TEST_CASE(relative_paths_resolve_against_the_page_directory) {
  BOOST_TEST(resolve_include("box", "http", "h", "/a/b/page?q=/x")->path == "/a/b/box");
  BOOST_TEST(resolve_include("box", "http", "h", "/")->path == "/box");
}

BOOST_AUTO_TEST_CASE(absolute_urls_name_their_own_host) {
  auto t = resolve_include("HTTP://blog.example:8080/feed", "https", "h", "/");
  BOOST_REQUIRE(t);
  BOOST_TEST(t->scheme == "http");
  BOOST_TEST(t->authority == "blog.example:8080");
  BOOST_TEST(t->path == "/feed");
  BOOST_TEST(resolve_include("http://blog.example?x", "http", "h", "/")->path == "/?x");
  BOOST_TEST(resolve_include("//blog.example/a", "https", "h", "/")->scheme == "https");
}

BOOST_AUTO_TEST_CASE(unusable_sources_are_refused) {
  BOOST_TEST(!resolve_include("", "http", "h", "/"));
  BOOST_TEST(!resolve_include("javascript:alert(1)", "http", "h", "/"));
  BOOST_TEST(!resolve_include("ftp://x/y", "http", "h", "/"));
  BOOST_TEST(!resolve_include("/a b", "http", "h", "/"));
  BOOST_TEST(!resolve_include("/a#frag", "http", "h", "/"));
  BOOST_TEST(!resolve_include("http:///path", "http", "h", "/"));
}

BOOST_AUTO_TEST_CASE(shipped_configs_load_with_every_module_parser) {
  const std::filesystem::path source =
      std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "..";
  for (const char* name : {"pforte.toml", "demo.toml"}) {
    auto r = pforte::config::load_config_file((source / "conf" / name).string(),
                                              pforte::module::config_parsers());
    if (!r) {
      for (const auto& e : r.error()) BOOST_TEST_MESSAGE(e.to_string());
    }
    BOOST_TEST(r.has_value(), name);
  }
}
