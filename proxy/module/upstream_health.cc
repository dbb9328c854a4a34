#include "proxy/module/upstream_health.h"

namespace pforte::module {

ServerHealthFlags& HealthBoard::server(std::string_view upstream, std::string_view server) {
  std::string key;
  key.reserve(upstream.size() + 1 + server.size());
  key.append(upstream).append(1, ' ').append(server);  // ' ' cannot occur in either part
  std::lock_guard lock(mutex_);
  auto it = servers_.find(key);
  if (it == servers_.end()) {
    it = servers_.emplace(std::move(key), std::make_unique<ServerHealthFlags>()).first;
  }
  return *it->second;
}

HealthBoard& health_board() {
  static HealthBoard board;
  return board;
}

}  // namespace pforte::module
