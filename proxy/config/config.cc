#include "proxy/config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace pforte::config {

std::optional<size_t> Config::upstream_index(std::string_view name) const {
  for (size_t i = 0; i < upstreams.size(); ++i) {
    if (upstreams[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<SocketAddress> parse_socket_address(std::string_view text) {
  std::string_view host;
  std::string_view port;
  int family = AF_INET;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    family = AF_INET6;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  // inet_pton reads a C string: an embedded NUL would silently cut the host short.
  if (host.empty() || host.find('\0') != std::string_view::npos) return std::nullopt;
  if (port.empty() || port.size() > 5) return std::nullopt;
  uint32_t port_number = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    port_number = port_number * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port_number > 65535) return std::nullopt;

  SocketAddress result;
  result.text = std::string(text);
  const std::string host_z(host);
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port_number));
    if (inet_pton(AF_INET, host_z.c_str(), &sin.sin_addr) != 1) return std::nullopt;
    std::memcpy(&result.addr, &sin, sizeof(sin));
    result.len = sizeof(sin);
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(static_cast<uint16_t>(port_number));
    if (inet_pton(AF_INET6, host_z.c_str(), &sin6.sin6_addr) != 1) return std::nullopt;
    std::memcpy(&result.addr, &sin6, sizeof(sin6));
    result.len = sizeof(sin6);
  }
  return result;
}

namespace {

bool same_addresses(const std::vector<SocketAddress>& a, const std::vector<SocketAddress>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].text != b[i].text) return false;
  }
  return true;
}

}  // namespace

bool equivalent(const UpstreamConfig& a, const UpstreamConfig& b) {
  auto same_health = [](const std::optional<HealthConfig>& x,
                        const std::optional<HealthConfig>& y) {
    if (x.has_value() != y.has_value()) return false;
    if (!x) return true;
    return x->path == y->path && x->interval == y->interval && x->timeout == y->timeout &&
           x->fall == y->fall && x->rise == y->rise;
  };
  auto same_breaker = [](const std::optional<CircuitBreakerConfig>& x,
                         const std::optional<CircuitBreakerConfig>& y) {
    if (x.has_value() != y.has_value()) return false;
    if (!x) return true;
    return x->failure_ratio == y->failure_ratio && x->min_requests == y->min_requests &&
           x->window == y->window && x->open_for == y->open_for;
  };
  return a.name == b.name && same_addresses(a.servers, b.servers) &&
         same_addresses(a.backup, b.backup) && a.balance == b.balance &&
         a.connect_timeout == b.connect_timeout && a.response_timeout == b.response_timeout &&
         a.idle_timeout == b.idle_timeout && a.max_connections == b.max_connections &&
         a.max_pending == b.max_pending && same_health(a.health, b.health) &&
         same_breaker(a.circuit_breaker, b.circuit_breaker);
}

}  // namespace pforte::config
