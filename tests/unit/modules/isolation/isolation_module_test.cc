#define BOOST_TEST_MODULE isolation_module
#include <boost/test/unit_test.hpp>

#include "modules/isolation/health_checker.h"
#include "modules/isolation/isolation.h"

using pforte::modules::isolation::check_passed;
using pforte::modules::isolation::IsolationShared;
using pforte::modules::isolation::parse_status_line;

namespace {

std::shared_ptr<const pforte::config::Config> load(std::string_view upstreams) {
  std::string text = R"(
[[listener]]
address = "127.0.0.1:8080"
[[route]]
upstream = "blog"
)";
  text.append(upstreams);
  auto r = pforte::config::load_config_text(text, "t.toml");
  BOOST_REQUIRE(r);
  return *r;
}

constexpr std::string_view kTwo = R"(
[upstream.blog]
servers = ["127.0.0.1:9001"]
max_connections = 2
max_pending = 1
circuit_breaker = { min_requests = 1, open_for = "5s" }
[upstream.platform]
servers = ["127.0.0.1:9002", "127.0.0.1:9003"]
backup = ["127.0.0.1:9004"]
)";

}  // namespace

BOOST_AUTO_TEST_CASE(status_lines_are_parsed) {
  BOOST_TEST(*parse_status_line("HTTP/1.1 200 OK") == 200);
  BOOST_TEST(*parse_status_line("HTTP/1.0 503") == 503);
  BOOST_TEST(!parse_status_line("HTTP/1.1 20 OK"));
  BOOST_TEST(!parse_status_line("HTTP/2 200"));
  BOOST_TEST(!parse_status_line("HTTP/1.1 2000 OK"));
  BOOST_TEST(!parse_status_line("SSH-2.0-OpenSSH"));
  BOOST_TEST(!parse_status_line(""));
  BOOST_TEST(check_passed(204));
  BOOST_TEST(check_passed(302));
  BOOST_TEST(!check_passed(404));
  BOOST_TEST(!check_passed(500));
}

BOOST_AUTO_TEST_CASE(a_reload_keeps_the_state_of_unchanged_upstreams) {
  IsolationShared first(*load(kTwo), nullptr);
  auto guard = first.upstream(0)->bulkhead().try_acquire();
  BOOST_TEST(first.upstream(0)->bulkhead().in_flight() == 1u);

  // Same names and servers, new limits: same state, new limits.
  std::string changed(kTwo);
  changed.replace(changed.find("max_connections = 2"), 19, "max_connections = 5");
  IsolationShared second(*load(changed), &first);
  BOOST_TEST(second.upstream(0) == first.upstream(0));
  BOOST_TEST(second.upstream(0)->bulkhead().in_flight() == 1u);
  BOOST_TEST(second.upstream(0)->bulkhead().max_connections() == 5u);
  BOOST_TEST(second.upstream(1) == first.upstream(1));

  // Other servers: a new state.
  std::string moved(kTwo);
  moved.replace(moved.find("127.0.0.1:9004"), 14, "127.0.0.1:9005");
  IsolationShared third(*load(moved), &second);
  BOOST_TEST(third.upstream(0) == first.upstream(0));
  BOOST_TEST(third.upstream(1) != first.upstream(1));
}

BOOST_AUTO_TEST_CASE(metrics_and_status_show_breakers_bulkheads_and_health) {
  IsolationShared shared(*load(kTwo), nullptr);
  auto& blog = *shared.upstream(0);
  auto now = pforte::modules::isolation::Clock::now();
  auto permit = blog.breaker().allow(now);
  blog.breaker().record(permit, false, now);  // min_requests 1: opens
  auto guard = blog.bulkhead().try_acquire();
  auto* server = shared.upstream(1)->server("127.0.0.1:9003");
  BOOST_REQUIRE(server);
  server->health.record_check(false);
  server->health.record_check(false);
  server->health.record_check(false);  // fall 3
  server->publish();

  pforte::module::MetricsWriter out;
  shared.write_metrics(out);
  std::string text = out.text();
  BOOST_TEST(text.find("pforte_circuit_open{upstream=\"blog\"} 1") != std::string::npos, text);
  BOOST_TEST(text.find("pforte_circuit_open{upstream=\"platform\"} 0") != std::string::npos);
  BOOST_TEST(text.find("pforte_upstream_in_flight{upstream=\"blog\"} 1") != std::string::npos);
  BOOST_TEST(
      text.find("pforte_upstream_healthy{upstream=\"platform\",server=\"127.0.0.1:9003\"} 0") !=
      std::string::npos);
  BOOST_TEST(
      text.find("pforte_upstream_healthy{upstream=\"platform\",server=\"127.0.0.1:9004\"} 1") !=
      std::string::npos);
  BOOST_TEST(!pforte::module::health_board().server("platform", "127.0.0.1:9003").up(now));

  std::string json;
  shared.write_status_json(json);
  BOOST_TEST(
      json.find(R"({"name":"blog","in_flight":1,"max_connections":2,"pending":0,)"
                R"("max_pending":1,"circuit":{"enabled":true,"state":"open")") != std::string::npos,
      json);
  BOOST_TEST(json.find(R"({"address":"127.0.0.1:9003","backup":false,"healthy":false,)"
                       R"("checks_up":false,"ejected_for_ms":0})") != std::string::npos);
  BOOST_TEST(json.find(R"("address":"127.0.0.1:9004","backup":true,"healthy":true)") !=
             std::string::npos);
  std::string html;
  shared.write_status_html(html);
  BOOST_TEST(html.find("127.0.0.1:9003: <b>down</b>, checks failing") != std::string::npos, html);
  BOOST_TEST(html.find("open (") != std::string::npos);
}
