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

}  // namespace pforte::config
