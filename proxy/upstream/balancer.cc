#include "proxy/upstream/balancer.h"

namespace pforte::upstream {

std::optional<size_t> Balancer::pick(std::span<const ServerView> servers) {
  for (auto [backup, up] : {std::pair{false, true}, {true, true}, {false, false}, {true, false}}) {
    if (auto i = pick_among(servers, backup, up)) return i;
  }
  return std::nullopt;
}

std::optional<size_t> Balancer::pick_among(std::span<const ServerView> servers, bool backup,
                                           bool up) {
  const size_t n = servers.size();
  std::optional<size_t> best;
  for (size_t k = 0; k < n; ++k) {
    size_t i = (cursor_ + k) % n;
    const ServerView& s = servers[i];
    if (s.backup != backup || s.up != up || s.excluded) continue;
    if (kind_ == config::Balance::kRoundRobin) {
      best = i;
      break;
    }
    if (!best || s.in_flight < servers[*best].in_flight) best = i;
  }
  if (best) cursor_ = *best + 1;
  return best;
}

}  // namespace pforte::upstream
