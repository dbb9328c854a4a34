#define BOOST_TEST_MODULE config_loader
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "proxy/config/config.h"
#include "proxy/config/loader.h"

namespace {

using pforte::Millis;
using namespace pforte::config;
using Errors = std::vector<std::string>;

/// Raw strings below start with a newline for readability; drop it so the first line of the
/// document is line 1.
std::string doc(std::string_view text) {
  if (text.starts_with('\n')) text.remove_prefix(1);
  return std::string(text);
}

/// The smallest valid config; tests append to it or replace parts of it.
const std::string kListener = doc(R"(
[[listener]]
address = "127.0.0.1:8080"
)");
const std::string kUpstream = doc(R"(
[upstream.app]
servers = ["127.0.0.1:9000"]
)");
const std::string kRoute = doc(R"(
[[route]]
upstream = "app"
)");
const std::string kMinimal = kListener + kUpstream + kRoute;  // lines 1..6

Errors errors_of(std::string_view text, const std::vector<ModuleConfigParser>& modules = {}) {
  Errors out;
  auto result = load_config_text(text, "t.toml", modules);
  if (!result) {
    for (const ConfigError& e : result.error()) out.push_back(e.to_string());
  }
  return out;
}

std::shared_ptr<const Config> load_ok(std::string_view text,
                                      const std::vector<ModuleConfigParser>& modules = {}) {
  auto result = load_config_text(text, "t.toml", modules);
  if (!result) {
    for (const ConfigError& e : result.error()) BOOST_TEST_MESSAGE(e.to_string());
    BOOST_FAIL("config did not load");
  }
  return *result;
}

std::string ip_of(const SocketAddress& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a.addr)->sin_addr, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a.addr)->sin6_addr, buf,
              sizeof buf);
  }
  return buf;
}

int port_of(const SocketAddress& a) {
  if (a.addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&a.addr)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&a.addr)->sin6_port);
}

std::filesystem::path source_dir() {
  if (const char* dir = std::getenv("PFORTE_SOURCE_DIR")) return dir;
  // tests/unit/proxy/config/loader_test.cc -> the repository root.
  return std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "..";
}

/// A stand-in module for the tests: remembers what the loader handed it.
struct FakeModuleConfig : ModuleConfig {
  std::string value;
  const ModuleConfig* section = nullptr;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(valid_configs)

BOOST_AUTO_TEST_CASE(design_example_without_modules_loads_into_the_documented_values) {
  const auto config = load_ok(doc(R"(
[global]
workers = "auto"
access_log = "-"
error_log = "-"
log_level = "info"
drain_timeout = "30s"

[limits]
header_timeout = "10s"
idle_timeout = "60s"
max_header_bytes = "64KiB"
max_body_bytes = "16MiB"
max_connections = 100000
h2_max_concurrent_streams = 128

[[listener]]
address = "0.0.0.0:443"
tls = { cert = "/etc/pforte/site.crt", key = "/etc/pforte/site.key" }
[[listener]]
address = "[::]:80"

[admin]
address = "127.0.0.1:9901"

[upstream.platform]
servers = ["10.0.0.11:8080", "10.0.0.12:8080"]
backup = ["10.1.0.11:8080"]
balance = "least_conn"
connect_timeout = "1s"
response_timeout = "30s"
max_connections = 512
max_pending = 1024
health = { path = "/health", interval = "2s", timeout = "1s", fall = 3, rise = 2 }
circuit_breaker = { failure_ratio = 0.5, min_requests = 20, window = "10s", open_for = "5s" }

[upstream.blog]
servers = ["10.0.0.31:80"]
response_timeout = "2s"
max_connections = 16

[[route]]
host = ["schule.example"]
path_prefix = "/static/"
upstream = "platform"

[[route]]
path_prefix = "/news/"
upstream = "blog"

[[route]]
path_prefix = "/login"
upstream = "platform"

[[route]]
path_prefix = "/"
upstream = "platform"
)"));

  BOOST_TEST(config->global.workers == 0);
  BOOST_TEST(config->global.access_log == "-");
  BOOST_TEST(config->global.error_log == "-");
  BOOST_TEST((config->global.log_level == LogLevel::kInfo));
  BOOST_TEST(config->global.drain_timeout.count() == 30'000);

  BOOST_TEST(config->limits.header_timeout.count() == 10'000);
  BOOST_TEST(config->limits.idle_timeout.count() == 60'000);
  BOOST_TEST(config->limits.max_header_bytes == 64u * 1024);
  BOOST_TEST(config->limits.max_body_bytes == 16u * 1024 * 1024);
  BOOST_TEST(config->limits.max_connections == 100'000u);
  BOOST_TEST(config->limits.h2_max_concurrent_streams == 128u);

  BOOST_TEST_REQUIRE(config->listeners.size() == 2u);
  BOOST_TEST(config->listeners[0].address.text == "0.0.0.0:443");
  BOOST_TEST(config->listeners[0].address.addr.ss_family == AF_INET);
  BOOST_TEST(config->listeners[0].address.len == sizeof(sockaddr_in));
  BOOST_TEST(port_of(config->listeners[0].address) == 443);
  BOOST_TEST_REQUIRE(config->listeners[0].tls.has_value());
  BOOST_TEST(config->listeners[0].tls->cert == "/etc/pforte/site.crt");
  BOOST_TEST(config->listeners[0].tls->key == "/etc/pforte/site.key");
  BOOST_TEST(config->listeners[1].address.addr.ss_family == AF_INET6);
  BOOST_TEST(config->listeners[1].address.len == sizeof(sockaddr_in6));
  BOOST_TEST(ip_of(config->listeners[1].address) == "::");
  BOOST_TEST(port_of(config->listeners[1].address) == 80);
  BOOST_TEST(!config->listeners[1].tls.has_value());

  BOOST_TEST_REQUIRE(config->admin.has_value());
  BOOST_TEST(ip_of(config->admin->address) == "127.0.0.1");
  BOOST_TEST(port_of(config->admin->address) == 9901);

  // Upstreams keep the order they were written in.
  BOOST_TEST_REQUIRE(config->upstreams.size() == 2u);
  const UpstreamConfig& platform = config->upstreams[0];
  BOOST_TEST(platform.name == "platform");
  BOOST_TEST_REQUIRE(platform.servers.size() == 2u);
  BOOST_TEST(ip_of(platform.servers[0]) == "10.0.0.11");
  BOOST_TEST(port_of(platform.servers[0]) == 8080);
  BOOST_TEST(platform.servers[1].text == "10.0.0.12:8080");
  BOOST_TEST_REQUIRE(platform.backup.size() == 1u);
  BOOST_TEST(ip_of(platform.backup[0]) == "10.1.0.11");
  BOOST_TEST((platform.balance == Balance::kLeastConn));
  BOOST_TEST(platform.connect_timeout.count() == 1'000);
  BOOST_TEST(platform.response_timeout.count() == 30'000);
  BOOST_TEST(platform.max_connections == 512u);
  BOOST_TEST(platform.max_pending == 1024u);
  BOOST_TEST_REQUIRE(platform.health.has_value());
  BOOST_TEST(platform.health->path == "/health");
  BOOST_TEST(platform.health->interval.count() == 2'000);
  BOOST_TEST(platform.health->timeout.count() == 1'000);
  BOOST_TEST(platform.health->fall == 3u);
  BOOST_TEST(platform.health->rise == 2u);
  BOOST_TEST_REQUIRE(platform.circuit_breaker.has_value());
  BOOST_TEST(platform.circuit_breaker->failure_ratio == 0.5);
  BOOST_TEST(platform.circuit_breaker->min_requests == 20u);
  BOOST_TEST(platform.circuit_breaker->window.count() == 10'000);
  BOOST_TEST(platform.circuit_breaker->open_for.count() == 5'000);

  const UpstreamConfig& blog = config->upstreams[1];
  BOOST_TEST(blog.name == "blog");
  BOOST_TEST(blog.servers.size() == 1u);
  BOOST_TEST(blog.backup.empty());
  BOOST_TEST((blog.balance == Balance::kRoundRobin));
  BOOST_TEST(blog.response_timeout.count() == 2'000);
  BOOST_TEST(blog.max_connections == 16u);
  BOOST_TEST(!blog.health.has_value());
  BOOST_TEST(!blog.circuit_breaker.has_value());

  BOOST_TEST_REQUIRE(config->routes.size() == 4u);
  BOOST_TEST(config->routes[0].index == 0u);
  BOOST_TEST(config->routes[0].hosts == std::vector<std::string>{"schule.example"});
  BOOST_TEST(config->routes[0].path_prefix == "/static/");
  BOOST_TEST(config->routes[0].upstream == "platform");
  BOOST_TEST(config->routes[0].upstream_index == 0u);
  BOOST_TEST(config->routes[1].index == 1u);
  BOOST_TEST(config->routes[1].hosts.empty());
  BOOST_TEST(config->routes[1].upstream_index == 1u);
  BOOST_TEST(config->routes[2].path_prefix == "/login");
  BOOST_TEST(config->routes[3].index == 3u);
  BOOST_TEST(config->routes[3].path_prefix == "/");
  BOOST_TEST(config->routes[3].upstream_index == 0u);
  BOOST_TEST(config->modules.empty());
}

BOOST_AUTO_TEST_CASE(non_default_values_are_read_not_assumed) {
  const auto config = load_ok(kMinimal + doc(R"(
[global]
workers = 8
access_log = "/var/log/pforte/access.log"
error_log = "off"
log_level = "debug"
drain_timeout = "0"

[limits]
header_timeout = "250ms"
idle_timeout = "5m"
max_header_bytes = 8192
max_body_bytes = "1GB"
max_connections = 7
h2_max_concurrent_streams = 65535

[upstream.side]
servers = ["[::1]:81"]
idle_timeout = "1h"
max_pending = 0
health = { path = "/ping", interval = "1d", timeout = "3s", fall = 1, rise = 5 }
circuit_breaker = { failure_ratio = 1, min_requests = 1, window = "1m", open_for = "1h" }
)"));
  BOOST_TEST(config->global.workers == 8);
  BOOST_TEST(config->global.access_log == "/var/log/pforte/access.log");
  BOOST_TEST(config->global.error_log == "off");
  BOOST_TEST((config->global.log_level == LogLevel::kDebug));
  BOOST_TEST(config->global.drain_timeout.count() == 0);
  BOOST_TEST(config->limits.header_timeout.count() == 250);
  BOOST_TEST(config->limits.idle_timeout.count() == 300'000);
  BOOST_TEST(config->limits.max_header_bytes == 8192u);
  BOOST_TEST(config->limits.max_body_bytes == 1'000'000'000u);
  BOOST_TEST(config->limits.max_connections == 7u);
  BOOST_TEST(config->limits.h2_max_concurrent_streams == 65535u);
  BOOST_TEST_REQUIRE(config->upstreams.size() == 2u);
  const UpstreamConfig& side = config->upstreams[1];
  BOOST_TEST(side.name == "side");
  BOOST_TEST(ip_of(side.servers[0]) == "::1");
  BOOST_TEST(port_of(side.servers[0]) == 81);
  BOOST_TEST(side.idle_timeout.count() == 3'600'000);
  BOOST_TEST(side.max_pending == 0u);
  BOOST_TEST(side.health->path == "/ping");
  BOOST_TEST(side.health->interval.count() == 86'400'000);
  BOOST_TEST(side.health->fall == 1u);
  BOOST_TEST(side.health->rise == 5u);
  BOOST_TEST(side.circuit_breaker->failure_ratio == 1.0);
  BOOST_TEST(side.circuit_breaker->min_requests == 1u);
}

BOOST_AUTO_TEST_CASE(left_out_sections_and_keys_take_their_defaults) {
  const auto config = load_ok(kMinimal);
  const GlobalConfig global_defaults;
  const LimitsConfig limits_defaults;
  const UpstreamConfig upstream_defaults;
  BOOST_TEST(config->global.workers == global_defaults.workers);
  BOOST_TEST(config->global.drain_timeout.count() == global_defaults.drain_timeout.count());
  BOOST_TEST(config->limits.max_header_bytes == limits_defaults.max_header_bytes);
  BOOST_TEST(config->limits.h2_max_concurrent_streams == limits_defaults.h2_max_concurrent_streams);
  BOOST_TEST(!config->admin.has_value());
  BOOST_TEST(config->upstreams[0].max_connections == upstream_defaults.max_connections);
  BOOST_TEST(config->upstreams[0].connect_timeout.count() ==
             upstream_defaults.connect_timeout.count());
  BOOST_TEST(config->routes[0].path_prefix == "/");
  BOOST_TEST(config->routes[0].hosts.empty());
  BOOST_TEST(config->source_path.empty());
}

BOOST_AUTO_TEST_CASE(health_and_breaker_tables_fill_left_out_keys_with_defaults) {
  const auto config = load_ok(kListener + kRoute + doc(R"(
[upstream.app]
servers = ["127.0.0.1:9000"]
health = { path = "/up" }
[upstream.app.circuit_breaker]
window = "30s"
)"));
  const UpstreamConfig& app = config->upstreams[0];
  BOOST_TEST_REQUIRE(app.health.has_value());
  BOOST_TEST(app.health->path == "/up");
  BOOST_TEST(app.health->interval.count() == HealthConfig{}.interval.count());
  BOOST_TEST_REQUIRE(app.circuit_breaker.has_value());
  BOOST_TEST(app.circuit_breaker->window.count() == 30'000);
  BOOST_TEST(app.circuit_breaker->failure_ratio == CircuitBreakerConfig{}.failure_ratio);
}

BOOST_AUTO_TEST_CASE(admin_without_address_listens_on_loopback_9901) {
  const auto config = load_ok(kMinimal + "[admin]\n");
  BOOST_TEST_REQUIRE(config->admin.has_value());
  BOOST_TEST(config->admin->address.text == "127.0.0.1:9901");
  BOOST_TEST(ip_of(config->admin->address) == "127.0.0.1");
  BOOST_TEST(port_of(config->admin->address) == 9901);
}

BOOST_AUTO_TEST_CASE(route_hosts_are_lower_cased_and_star_means_any) {
  const auto config = load_ok(kListener + kUpstream + doc(R"(
[[route]]
host = "Schule.EXAMPLE"
upstream = "app"
[[route]]
host = ["a.example", "B.example"]
upstream = "app"
[[route]]
host = "*"
upstream = "app"
[[route]]
host = ["a.example", "*"]
upstream = "app"
)"));
  BOOST_TEST(config->routes[0].hosts == std::vector<std::string>{"schule.example"});
  BOOST_TEST((config->routes[1].hosts == std::vector<std::string>{"a.example", "b.example"}));
  BOOST_TEST(config->routes[2].hosts.empty());
  BOOST_TEST(config->routes[3].hosts.empty());
}

BOOST_AUTO_TEST_CASE(port_zero_is_allowed_and_two_port_zero_listeners_do_not_collide) {
  const auto config = load_ok(kUpstream + kRoute + doc(R"(
[[listener]]
address = "127.0.0.1:0"
[[listener]]
address = "127.0.0.1:0"
[[listener]]
address = "[::1]:65535"
)"));
  BOOST_TEST_REQUIRE(config->listeners.size() == 3u);
  BOOST_TEST(port_of(config->listeners[0].address) == 0);
  BOOST_TEST(port_of(config->listeners[2].address) == 65535);
}

BOOST_AUTO_TEST_CASE(sizes_accept_plain_integers_as_bytes) {
  const auto config = load_ok(kMinimal + "[limits]\nmax_body_bytes = 0\nmax_header_bytes = 1\n");
  BOOST_TEST(config->limits.max_body_bytes == 0u);
  BOOST_TEST(config->limits.max_header_bytes == 1u);
}

BOOST_AUTO_TEST_CASE(config_upstream_index_finds_upstreams_by_name) {
  const auto config = load_ok(kMinimal + "[upstream.b]\nservers = [\"127.0.0.1:1\"]\n");
  BOOST_TEST(config->upstream_index("app").value_or(99) == 0u);
  BOOST_TEST(config->upstream_index("b").value_or(99) == 1u);
  BOOST_TEST(!config->upstream_index("c").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(toml_syntax_error_reports_its_line_and_column) {
  const Errors errors = errors_of(kMinimal + "[global]\nworkers = \n");
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].starts_with("t.toml:8:11: "), errors[0]);
}

BOOST_AUTO_TEST_CASE(redefined_key_is_a_syntax_error) {
  const Errors errors = errors_of(kMinimal + "[global]\nworkers = 1\nworkers = 2\n");
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].starts_with("t.toml:9:"), errors[0]);
}

BOOST_AUTO_TEST_CASE(unknown_key_in_global_reports_the_key_position) {
  BOOST_TEST(errors_of(kMinimal + "[global]\n  wokers = 4\n") ==
                 Errors{R"(t.toml:8:3: unknown key "wokers" in [global])"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_reported_in_every_table) {
  const Errors errors = errors_of(doc(R"(
[[listener]]
address = "127.0.0.1:8080"
port = 1
tls = { cert = "c", key = "k", ca = "x" }
[limits]
max_conns = 1
[admin]
adress = "127.0.0.1:1"
[upstream.app]
servers = ["127.0.0.1:9000"]
retries = 3
health = { pth = "/" }
circuit_breaker = { ratio = 0.5 }
[[route]]
upstream = "app"
cahce = true
)"));
  const Errors expected = {
      R"(t.toml:3:1: unknown key "port" in [[listener]])",
      R"(t.toml:4:32: unknown key "ca" in tls)",
      R"(t.toml:6:1: unknown key "max_conns" in [limits])",
      R"(t.toml:8:1: unknown key "adress" in [admin])",
      R"(t.toml:11:1: unknown key "retries" in [upstream.app])",
      R"(t.toml:12:12: unknown key "pth" in health of [upstream.app])",
      R"(t.toml:13:21: unknown key "ratio" in circuit_breaker of [upstream.app])",
      R"(t.toml:16:1: route 0: unknown key "cahce")",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unknown_top_level_sections_and_keys_are_errors) {
  const Errors errors = errors_of(kMinimal + doc(R"(
[cache]
memory = "512MiB"
[[rules]]
x = 1
[waiting_room.login]
admit_rate = 200
)") + "stray = 1\n");
  // A top-level key after a table header belongs to that table, so `stray` is written first.
  const Errors errors2 = errors_of("stray = 1\n" + kMinimal + "[cache]\nmemory = \"1MiB\"\n");
  BOOST_TEST(errors2 == (Errors{R"(t.toml:1:1: unknown key "stray")",
                                R"(t.toml:8:2: unknown section [cache])"}),
             boost::test_tools::per_element());
  BOOST_TEST(errors == (Errors{R"(t.toml:7:2: unknown section [cache])",
                               R"(t.toml:9:3: unknown section [[rules]])",
                               R"(t.toml:11:2: unknown section [waiting_room])"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(module_route_keys_are_errors_while_no_module_claims_them) {
  const Errors errors = errors_of(kListener + kUpstream + doc(R"(
[[route]]
upstream = "app"
cache = { enabled = true }
waiting_room = "login"
fragments = { enabled = true }
)"));
  BOOST_TEST(errors == (Errors{R"(t.toml:7:1: route 0: unknown key "cache")",
                               R"(t.toml:8:1: route 0: unknown key "waiting_room")",
                               R"(t.toml:9:1: route 0: unknown key "fragments")"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(wrong_types_name_the_key_and_the_expected_shape) {
  const Errors errors = errors_of(kListener + kRoute + doc(R"(
[global]
workers = "many"
access_log = 1
log_level = "verbose"
drain_timeout = 30
[upstream.app]
servers = "127.0.0.1:9000"
backup = ["127.0.0.1:1", 2]
balance = "random"
max_connections = 0
max_pending = -1
)"));
  const Errors expected = {
      R"(t.toml:6:11: "workers" must be "auto" or an integer from 1 to 1024)",
      R"(t.toml:7:14: "access_log" must be a string)",
      R"(t.toml:8:13: "log_level" must be one of "debug", "info", "warn", "error")",
      R"(t.toml:9:17: "drain_timeout" must be a duration string such as "10s" or "250ms")",
      R"(t.toml:11:11: "servers" must be an array of "host:port" strings)",
      R"(t.toml:12:26: "backup" must be an array of "host:port" strings)",
      R"(t.toml:13:11: "balance" must be "round_robin" or "least_conn")",
      R"(t.toml:14:19: "max_connections" must be an integer >= 1)",
      R"(t.toml:15:15: "max_pending" must be an integer >= 0)",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(integers_outside_their_range_are_errors) {
  const Errors errors = errors_of(kMinimal + doc(R"(
[global]
workers = 1025
[limits]
h2_max_concurrent_streams = 65536
max_connections = 0
[upstream.big]
servers = ["127.0.0.1:1"]
max_connections = 4294967296
health = { fall = 0 }
)"));
  const Errors expected = {
      R"(t.toml:8:11: "workers" must be "auto" or an integer from 1 to 1024)",
      R"(t.toml:10:29: "h2_max_concurrent_streams" must be an integer from 1 to 65535)",
      R"(t.toml:11:19: "max_connections" must be an integer >= 1)",
      R"(t.toml:14:19: "max_connections" is too large (at most 4294967295))",
      R"(t.toml:15:19: "fall" must be an integer >= 1)",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_duration_points_at_the_value_and_shows_examples) {
  const Errors errors = errors_of(kMinimal + doc(R"(
[limits]
header_timeout = "10x"
idle_timeout = "60"
[upstream.b]
servers = ["127.0.0.1:1"]
connect_timeout = "0s"
)"));
  const Errors expected = {
      R"(t.toml:8:18: invalid duration "10x" (use e.g. "250ms", "10s", "5m"))",
      R"(t.toml:9:16: invalid duration "60" (missing unit: write e.g. "60s" or "60ms"))",
      R"(t.toml:12:19: "connect_timeout" must be greater than 0)",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_size_points_at_the_value_and_shows_examples) {
  const Errors errors = errors_of(kMinimal + doc(R"(
[limits]
max_header_bytes = "64kb"
max_body_bytes = -1
)"));
  const Errors expected = {
      R"(t.toml:8:20: invalid size "64kb" (use e.g. "64KiB", "16MiB", or a number of bytes))",
      R"(t.toml:9:18: "max_body_bytes" must not be negative)",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_addresses_are_rejected_with_the_accepted_forms) {
  const Errors errors = errors_of(kRoute + doc(R"(
[[listener]]
address = "localhost:80"
[[listener]]
address = "::1:80"
[[listener]]
address = "127.0.0.1:65536"
[[listener]]
address = "127.0.0.1"
[[listener]]
address = 80
[upstream.app]
servers = ["10.0.0.1:80", "10.0.0.300:80", "[fe80::1]x:80"]
)"));
  const std::string hint = R"( (use "IP:port" or "[IPv6]:port"; host names are not resolved))";
  const Errors expected = {
      R"(t.toml:4:11: invalid address "localhost:80")" + hint,
      R"(t.toml:6:11: invalid address "::1:80")" + hint,
      R"(t.toml:8:11: invalid address "127.0.0.1:65536")" + hint,
      R"(t.toml:10:11: invalid address "127.0.0.1")" + hint,
      R"(t.toml:12:11: "address" must be a string "IP:port")",
      R"(t.toml:14:27: invalid address "10.0.0.300:80")" + hint,
      R"(t.toml:14:44: invalid address "[fe80::1]x:80")" + hint,
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(duplicate_listener_address_names_the_first_one) {
  const Errors errors = errors_of(kUpstream + kRoute + doc(R"(
[[listener]]
address = "[::]:443"
[[listener]]
address = "[0::0]:443"
[[listener]]
address = "0.0.0.0:443"
)"));
  BOOST_TEST(errors == (Errors{R"(t.toml:8:11: duplicate listener address "[0::0]:443" )"
                               R"((already used on line 6))"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(admin_address_may_not_be_a_listener_address) {
  BOOST_TEST(
      errors_of(kMinimal + "[admin]\naddress = \"127.0.0.1:8080\"\n") ==
          Errors{R"(t.toml:7:1: admin address "127.0.0.1:8080" is also a [[listener]] address)"},
      boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(missing_required_keys_point_at_their_table) {
  const Errors errors = errors_of(doc(R"(
[[listener]]
tls = { cert = "/c" }
[upstream.app]
balance = "least_conn"
[[route]]
path_prefix = "/"
)"));
  const Errors expected = {
      R"(t.toml:1:1: missing "address" in [[listener]])",
      R"(t.toml:2:7: missing "key" in tls)",
      R"(t.toml:3:1: missing "servers" in [upstream.app])",
      R"(t.toml:5:1: route 0: missing "upstream")",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_document_needs_a_listener_and_a_route) {
  BOOST_TEST(errors_of("") == (Errors{"t.toml:1:1: at least one [[listener]] is required",
                                      "t.toml:1:1: at least one [[route]] is required"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sections_of_the_wrong_shape_are_errors) {
  const Errors errors = errors_of(doc(R"(
global = 1
route = []
[listener]
address = "127.0.0.1:1"
[upstream]
app = 1
)"));
  const Errors expected = {
      R"(t.toml:1:10: "global" must be a table ([global]))",
      R"(t.toml:2:9: "route" must be an array of tables: write [[route]])",
      R"(t.toml:3:1: "listener" must be an array of tables: write [[listener]])",
      R"(t.toml:6:7: [upstream.app] must be a table)",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(servers_must_not_be_empty_and_names_must_be_simple) {
  const Errors errors = errors_of(kListener + kRoute + doc(R"(
[upstream.app]
servers = []
[upstream."my app"]
servers = ["127.0.0.1:1"]
)"));
  const Errors expected = {
      R"(t.toml:6:11: "servers" must list at least one "IP:port")",
      R"(t.toml:7:11: invalid upstream name "my app" (use letters, digits, "_" and "-"))",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(route_naming_unknown_upstream_reports_its_line_and_column) {
  const Errors errors = errors_of(kListener + kUpstream + doc(R"(
[[route]]
upstream = "app"
[[route]]
upstream = "app"
[[route]]
path_prefix = "/login"
upstream = "plaform"
)"));
  BOOST_TEST(errors == Errors{R"(t.toml:11:12: route 2: unknown upstream "plaform")"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(route_hosts_and_prefix_are_checked) {
  const Errors errors = errors_of(kListener + kUpstream + doc(R"(
[[route]]
host = []
path_prefix = "static/"
upstream = "app"
[[route]]
host = ["a.example", 1, ""]
upstream = "app"
[[route]]
host = 7
upstream = "app"
)"));
  const Errors expected = {
      R"(t.toml:6:8: route 0: "host" must not be an empty array (leave it out or write "*" for any host))",
      R"(t.toml:7:15: route 0: "path_prefix" must start with "/")",
      R"(t.toml:10:22: route 1: "host" must be a string or an array of strings)",
      R"(t.toml:10:25: route 1: a host must not be empty (write "*" for any host))",
      R"(t.toml:13:8: route 2: "host" must be a string or an array of strings)",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(breaker_ratio_must_be_in_zero_to_one) {
  const Errors errors = errors_of(kListener + kRoute + doc(R"(
[upstream.app]
servers = ["127.0.0.1:1"]
circuit_breaker = { failure_ratio = 0 }
[upstream.b]
servers = ["127.0.0.1:1"]
circuit_breaker = { failure_ratio = 1.5 }
[upstream.c]
servers = ["127.0.0.1:1"]
circuit_breaker = { failure_ratio = nan }
[upstream.d]
servers = ["127.0.0.1:1"]
circuit_breaker = { failure_ratio = "half" }
)"));
  const std::string message = R"("failure_ratio" must be a number greater than 0 and at most 1)";
  const Errors expected = {
      "t.toml:7:37: " + message,
      "t.toml:10:37: " + message,
      "t.toml:13:37: " + message,
      "t.toml:16:37: " + message,
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(health_path_must_be_absolute_and_tls_fields_strings) {
  const Errors errors = errors_of(kUpstream + kRoute + doc(R"(
[[listener]]
address = "127.0.0.1:443"
tls = { cert = "", key = 1 }
[upstream.h]
servers = ["127.0.0.1:1"]
health = { path = "health" }
)"));
  const Errors expected = {
      R"(t.toml:7:16: "cert" must not be empty)",
      R"(t.toml:7:26: "key" must be a string)",
      R"(t.toml:10:19: "path" must start with "/")",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_problem_is_reported_in_document_order_not_just_the_first) {
  const Errors errors = errors_of(doc(R"(
[global]
wokers = 4
log_level = "loud"

[[listener]]
address = "127.0.0.1:99999"

[upstream.platform]
servers = ["10.0.0.11:8080"]
connect_timeout = "1 s"

[[route]]
upstream = "plaform"
)"));
  const Errors expected = {
      R"(t.toml:2:1: unknown key "wokers" in [global])",
      R"(t.toml:3:13: "log_level" must be one of "debug", "info", "warn", "error")",
      R"(t.toml:6:11: invalid address "127.0.0.1:99999" (use "IP:port" or "[IPv6]:port"; host names are not resolved))",
      R"(t.toml:10:19: invalid duration "1 s" (use e.g. "250ms", "10s", "5m"))",
      R"(t.toml:13:12: route 0: unknown upstream "plaform")",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(config_error_prints_as_file_line_column_message) {
  const ConfigError error{"/etc/pforte/pforte.toml", 12, 3, "something is wrong"};
  BOOST_TEST(error.to_string() == "/etc/pforte/pforte.toml:12:3: something is wrong");
}

BOOST_AUTO_TEST_CASE(fuzz_like_garbage_is_an_error_not_a_crash) {
  BOOST_TEST(!errors_of(std::string("\0\xff\xfe[[", 5)).empty());
  BOOST_TEST(!errors_of(std::string(300, '[')).empty());
  BOOST_TEST(!errors_of("a = " + std::string(300, '[')).empty());
  // toml++ 3.3 bugs worked around in loader.cc: a bad first character in a table header, and a
  // non-ASCII letter where the parser looks for whitespace.
  BOOST_TEST(!errors_of("[[[1]]]\n").empty());
  BOOST_TEST(!errors_of("[{listener]]\n").empty());
  BOOST_TEST(!errors_of(kMinimal + "[upstream.sch\xc3\xbcler]\nservers = []\n").empty());
  BOOST_TEST(!errors_of("s = \"\"\"\\\n\xc2\xa7\"\"\"\n").empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(modules)

BOOST_AUTO_TEST_CASE(registered_module_receives_its_section_and_route_key) {
  std::vector<std::string> seen;
  ModuleConfigParser cache;
  cache.name = "cache";
  cache.parse_section = [&seen](const toml::node& node,
                                ErrorSink&) -> std::shared_ptr<const ModuleConfig> {
    auto config = std::make_shared<FakeModuleConfig>();
    config->value = node.as_table()->get("memory")->value_or(std::string("?"));
    seen.push_back("section " + config->value);
    return config;
  };
  cache.parse_route = [&seen](const toml::node& node, const ModuleConfig* section,
                              ErrorSink&) -> std::shared_ptr<const ModuleConfig> {
    auto config = std::make_shared<FakeModuleConfig>();
    config->value = node.as_table()->get("default_ttl")->value_or(std::string("?"));
    config->section = section;
    seen.push_back("route " + config->value);
    return config;
  };

  const auto config = load_ok(kListener + kUpstream + doc(R"(
[cache]
memory = "512MiB"
[[route]]
path_prefix = "/static/"
upstream = "app"
cache = { enabled = true, default_ttl = "1h" }
[[route]]
upstream = "app"
)"),
                              {cache});
  BOOST_TEST(seen == (std::vector<std::string>{"section 512MiB", "route 1h"}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(config->modules.count("cache") == 1u);
  const ModuleConfig* section = config->modules.at("cache").get();
  BOOST_TEST(static_cast<const FakeModuleConfig*>(section)->value == "512MiB");
  BOOST_TEST_REQUIRE(config->routes[0].modules.count("cache") == 1u);
  const auto* route =
      static_cast<const FakeModuleConfig*>(config->routes[0].modules.at("cache").get());
  BOOST_TEST(route->value == "1h");
  BOOST_TEST(route->section == section);
  BOOST_TEST(config->routes[1].modules.empty());
}

BOOST_AUTO_TEST_CASE(module_route_key_without_section_gets_a_null_section) {
  const ModuleConfig* seen_section = reinterpret_cast<const ModuleConfig*>(1);
  ModuleConfigParser room;
  room.name = "waiting_room";
  room.parse_section = [](const toml::node&, ErrorSink&) {
    return std::make_shared<const FakeModuleConfig>();
  };
  room.parse_route = [&seen_section](const toml::node&, const ModuleConfig* section,
                                     ErrorSink&) -> std::shared_ptr<const ModuleConfig> {
    seen_section = section;
    return nullptr;
  };
  const auto config =
      load_ok(kListener + kUpstream + kRoute + "waiting_room = \"login\"\n", {room});
  BOOST_TEST(seen_section == nullptr);
  BOOST_TEST(config->routes[0].modules.empty());
  BOOST_TEST(config->modules.empty());
}

BOOST_AUTO_TEST_CASE(module_errors_join_the_loader_errors_in_order) {
  ModuleConfigParser frag;
  frag.name = "fragments";
  frag.parse_section = [](const toml::node& node, ErrorSink& errors) {
    errors.add(node, "fragments: bad section");
    return std::shared_ptr<const ModuleConfig>();
  };
  frag.parse_route = [](const toml::node& node, const ModuleConfig*, ErrorSink& errors) {
    errors.add(node, "fragments: bad route setting");
    return std::shared_ptr<const ModuleConfig>();
  };
  const Errors errors = errors_of(kListener + kUpstream + doc(R"(
[[route]]
upstream = "nope"
fragments = 5
[fragments]
x = 1
)"),
                                  {frag});
  const Errors expected = {
      R"(t.toml:6:12: route 0: unknown upstream "nope")",
      R"(t.toml:7:13: fragments: bad route setting)",
      R"(t.toml:8:1: fragments: bad section)",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(throwing_module_parser_becomes_a_config_error) {
  ModuleConfigParser bad;
  bad.name = "cache";
  bad.parse_route = [](const toml::node&, const ModuleConfig*,
                       ErrorSink&) -> std::shared_ptr<const ModuleConfig> {
    throw std::runtime_error("boom");
  };
  const Errors errors = errors_of(kMinimal + "cache = 1\n", {bad});
  BOOST_TEST(
      errors == Errors{R"(t.toml:7:9: route 0: module "cache" could not parse its settings: boom)"},
      boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(files)

BOOST_AUTO_TEST_CASE(missing_file_is_an_error_at_line_one) {
  const auto result = load_config_file("/nonexistent/pforte.toml");
  BOOST_TEST_REQUIRE(!result.has_value());
  BOOST_TEST_REQUIRE(result.error().size() == 1u);
  BOOST_TEST(result.error()[0].to_string() ==
             "/nonexistent/pforte.toml:1:1: cannot read: No such file or directory");
}

BOOST_AUTO_TEST_CASE(directory_is_an_unreadable_file) {
  const auto result = load_config_file("/");
  BOOST_TEST_REQUIRE(!result.has_value());
  BOOST_TEST(result.error()[0].to_string() == "/:1:1: cannot read: Is a directory");
}

BOOST_AUTO_TEST_CASE(shipped_example_config_loads_without_errors) {
  const std::string path = (source_dir() / "conf" / "pforte.toml").string();
  // The core alone: the module sections and route keys the example uses are taken by stand-ins
  // (the modules' own tests and integration tests check them for real).
  std::vector<ModuleConfigParser> stand_ins;
  for (const char* name : {"waiting_room", "fragments"}) {
    ModuleConfigParser stand_in;
    stand_in.name = name;
    stand_in.parse_section = [](const toml::node&, ErrorSink&) {
      return std::make_shared<FakeModuleConfig>();
    };
    stand_in.parse_route = [](const toml::node&, const ModuleConfig*, ErrorSink&) {
      return std::make_shared<FakeModuleConfig>();
    };
    stand_ins.push_back(std::move(stand_in));
  }
  const auto result = load_config_file(path, stand_ins);
  if (!result) {
    for (const ConfigError& e : result.error()) BOOST_TEST_MESSAGE(e.to_string());
  }
  BOOST_TEST_REQUIRE(result.has_value());
  const Config& config = **result;
  BOOST_TEST(config.source_path == path);
  BOOST_TEST(!config.listeners.empty());
  BOOST_TEST(!config.routes.empty());
  BOOST_TEST(config.admin.has_value());
}

BOOST_AUTO_TEST_CASE(errors_in_a_file_carry_its_path) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "pforte_loader_test_bad.toml";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    BOOST_TEST_REQUIRE(f != nullptr);
    std::fputs("[global]\nworkers = 0\n", f);
    std::fclose(f);
  }
  const auto result = load_config_file(path.string());
  std::filesystem::remove(path);
  BOOST_TEST_REQUIRE(!result.has_value());
  BOOST_TEST(result.error()[0].to_string() ==
             path.string() + R"(:1:1: at least one [[listener]] is required)");
  BOOST_TEST(result.error()[2].to_string() ==
             path.string() + R"(:2:11: "workers" must be "auto" or an integer from 1 to 1024)");
}

BOOST_AUTO_TEST_SUITE_END()
