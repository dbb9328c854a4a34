// The validated, immutable configuration snapshot. Built once by the loader
// (proxy/config/loader.h) and then shared read-only by all workers through
// std::shared_ptr<const Config>; a reload builds a new snapshot and swaps the pointer, so requests
// in flight keep the snapshot they started with.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/units.h"

namespace pforte::config {

/// A parsed socket address ("127.0.0.1:8080", "[::1]:443", "0.0.0.0:80").
struct SocketAddress {
  std::string text;         ///< as written in the config
  sockaddr_storage addr{};  ///< resolved numeric address (no DNS)
  socklen_t len = 0;        ///< length of `addr`
};

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };

/// [global]
struct GlobalConfig {
  int workers = 0;               ///< worker threads; 0 = "auto" (one per core)
  std::string access_log = "-";  ///< file path, "-" = stdout, "off"
  std::string error_log = "-";   ///< file path, "-" = stderr
  LogLevel log_level = LogLevel::kInfo;
  Millis drain_timeout{30'000};  ///< SIGTERM: how long in-flight requests may finish
};

/// [limits]
struct LimitsConfig {
  Millis header_timeout{10'000};  ///< time to receive a complete request head
  Millis idle_timeout{60'000};    ///< idle keep-alive / h2 connection timeout
  uint64_t max_header_bytes = 64 * 1024;
  uint64_t max_body_bytes = 16ull * 1024 * 1024;
  uint64_t max_connections = 100'000;  ///< per process; beyond it accept pauses
  uint32_t h2_max_concurrent_streams = 128;
};

/// The `tls` table of a listener.
struct TlsConfig {
  std::string cert;  ///< PEM certificate chain file
  std::string key;   ///< PEM private key file
  int line = 0;      ///< where the `tls` table is written, for messages about its files
  int column = 0;
};

/// One [[listener]].
struct ListenerConfig {
  SocketAddress address;
  std::optional<TlsConfig> tls;  ///< set: TLS with ALPN h2/http/1.1; unset: cleartext h1 + h2c
};

/// [admin]
struct AdminConfig {
  SocketAddress address;  ///< default 127.0.0.1:9901
};

enum class Balance : uint8_t { kRoundRobin, kLeastConn };

/// The `health` table of an upstream.
struct HealthConfig {
  std::string path = "/health";
  Millis interval{2'000};
  Millis timeout{1'000};
  uint32_t fall = 3;
  uint32_t rise = 2;
};

/// The `circuit_breaker` table of an upstream.
struct CircuitBreakerConfig {
  double failure_ratio = 0.5;
  uint32_t min_requests = 20;
  Millis window{10'000};
  Millis open_for{5'000};
};

/// One [upstream.NAME].
struct UpstreamConfig {
  std::string name;
  std::vector<SocketAddress> servers;  ///< primaries (at least one)
  std::vector<SocketAddress> backup;   ///< used only when no primary is healthy
  Balance balance = Balance::kRoundRobin;
  Millis connect_timeout{1'000};
  Millis response_timeout{30'000};  ///< until the response head arrives
  Millis idle_timeout{60'000};      ///< pooled keep-alive connection lifetime when idle
  uint32_t max_connections = 512;   ///< bulkhead: concurrent requests to this upstream
  uint32_t max_pending = 1024;      ///< waiting for a connection; beyond: fail fast
  std::optional<HealthConfig> health;
  std::optional<CircuitBreakerConfig> circuit_breaker;
};

/// True if `a` and `b` configure the same upstream (servers, balance, timeouts, limits, health,
/// breaker), so a reload may keep its connections and state.
bool equivalent(const UpstreamConfig& a, const UpstreamConfig& b);

/// Module-owned configuration: a module's parse() returns one of these (subclass it).
struct ModuleConfig {
  virtual ~ModuleConfig() = default;
};

/// One [[route]]. First match wins.
struct RouteConfig {
  size_t index = 0;                ///< position in Config::routes, used as the route's name
  std::vector<std::string> hosts;  ///< lower-case; empty = any host ("*")
  std::string path_prefix = "/";
  std::string upstream;       ///< name of the upstream
  size_t upstream_index = 0;  ///< index into Config::upstreams
  /// Per-route module settings by module name (e.g. "cache"), parsed by that module.
  std::map<std::string, std::shared_ptr<const ModuleConfig>, std::less<>> modules;
};

/// The whole validated configuration.
struct Config {
  std::string source_path;  ///< file it was loaded from
  GlobalConfig global;
  LimitsConfig limits;
  std::vector<ListenerConfig> listeners;
  std::optional<AdminConfig> admin;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
  /// Top-level module sections by module name (e.g. "cache" -> [cache]), parsed by that module.
  std::map<std::string, std::shared_ptr<const ModuleConfig>, std::less<>> modules;

  /// Index of the upstream named `name`, or nullopt.
  std::optional<size_t> upstream_index(std::string_view name) const;
};

/// Parses a numeric "IPv4:port" or "[IPv6]:port" (port 0..65535; no host names, no DNS).
/// nullopt if `text` is not of that form.
std::optional<SocketAddress> parse_socket_address(std::string_view text);

}  // namespace pforte::config
