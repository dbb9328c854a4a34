#define BOOST_TEST_MODULE router
#include "proxy/core/router.h"

#include <boost/test/unit_test.hpp>

using pforte::config::Config;
using pforte::config::RouteConfig;
using pforte::core::match_route;
using pforte::core::normalize_host;

namespace {

Config make_config() {
  Config c;
  auto add = [&](std::vector<std::string> hosts, std::string prefix, std::string upstream) {
    RouteConfig r;
    r.index = c.routes.size();
    r.hosts = std::move(hosts);
    r.path_prefix = std::move(prefix);
    r.upstream = std::move(upstream);
    c.routes.push_back(std::move(r));
  };
  add({"schule.example"}, "/static/", "static");
  add({}, "/news/", "blog");
  add({"*"}, "/login", "login");
  add({"schule.example", "www.schule.example"}, "/", "platform");
  add({}, "/", "fallback");
  return c;
}

}  // namespace

BOOST_AUTO_TEST_CASE(host_is_lowercased_and_port_and_trailing_dot_removed) {
  BOOST_TEST(normalize_host("Schule.Example:443") == "schule.example");
  BOOST_TEST(normalize_host("schule.example.") == "schule.example");
  BOOST_TEST(normalize_host("[::1]:8080") == "[::1]");
  BOOST_TEST(normalize_host("127.0.0.1") == "127.0.0.1");
  BOOST_TEST(normalize_host("") == "");
}

BOOST_AUTO_TEST_CASE(first_matching_route_wins) {
  Config c = make_config();
  BOOST_TEST(match_route(c, "schule.example", "/static/app.css")->upstream == "static");
  BOOST_TEST(match_route(c, "schule.example", "/news/1")->upstream == "blog");
  BOOST_TEST(match_route(c, "schule.example", "/")->upstream == "platform");
}

BOOST_AUTO_TEST_CASE(route_with_hosts_is_skipped_for_other_hosts) {
  Config c = make_config();
  BOOST_TEST(match_route(c, "other.example", "/static/app.css")->upstream == "fallback");
  BOOST_TEST(match_route(c, "www.schule.example", "/x")->upstream == "platform");
}

BOOST_AUTO_TEST_CASE(star_host_matches_any_host) {
  Config c = make_config();
  BOOST_TEST(match_route(c, "anything.example", "/login/form")->upstream == "login");
}

BOOST_AUTO_TEST_CASE(path_prefix_is_a_plain_prefix) {
  Config c = make_config();
  // "/login" also covers "/loginfoo": prefixes are byte prefixes, as documented.
  BOOST_TEST(match_route(c, "x", "/loginfoo")->upstream == "login");
  BOOST_TEST(match_route(c, "x", "/new")->upstream == "fallback");
}

BOOST_AUTO_TEST_CASE(no_route_matches_returns_null) {
  Config c;
  RouteConfig r;
  r.hosts = {"only.example"};
  r.path_prefix = "/";
  c.routes.push_back(r);
  BOOST_TEST(match_route(c, "other.example", "/") == nullptr);
}
