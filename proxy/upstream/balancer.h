// Server selection for one upstream: round robin or least connections over the servers that are
// up, backups only when no primary is up. Pure: the caller passes each server's state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "proxy/config/config.h"

namespace pforte::upstream {

/// What the balancer needs to know about one server.
struct ServerView {
  bool backup = false;     ///< from the upstream's `backup` list
  bool up = true;          ///< not marked down by health checks or recent failures
  bool excluded = false;   ///< already tried for this request
  uint32_t in_flight = 0;  ///< requests in progress to it (least_conn)
};

/// Picks servers; one instance per upstream per worker. Worker thread only.
class Balancer {
 public:
  explicit Balancer(config::Balance kind) : kind_(kind) {}

  /// Index of the server to use, or nullopt if every server is excluded. Preference: primaries
  /// that are up; else backups that are up; else primaries that are down (a last try beats
  /// certain failure); else backups that are down. (The pool excludes servers that just failed
  /// outright: UpstreamPool::server_failed.)
  std::optional<size_t> pick(std::span<const ServerView> servers);

 private:
  std::optional<size_t> pick_among(std::span<const ServerView> servers, bool backup, bool up);

  config::Balance kind_;
  size_t cursor_ = 0;  ///< round-robin position, also breaks least_conn ties
};

}  // namespace pforte::upstream
