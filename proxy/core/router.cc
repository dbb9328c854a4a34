#include "proxy/core/router.h"

namespace pforte::core {

std::string normalize_host(std::string_view authority) {
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else {
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string out(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

const config::RouteConfig* match_route(const config::Config& config, std::string_view host,
                                       std::string_view path) {
  for (const config::RouteConfig& route : config.routes) {
    if (!route.hosts.empty()) {
      bool host_ok = false;
      for (const std::string& h : route.hosts) {
        if (h == "*" || h == host) {
          host_ok = true;
          break;
        }
      }
      if (!host_ok) continue;
    }
    if (path.starts_with(route.path_prefix)) return &route;
  }
  return nullptr;
}

}  // namespace pforte::core
