// The health board: one process-wide record per upstream server that says whether the server may
// get requests. The isolation module writes it (active checks, passive ejection); the core's
// upstream pools read it on every server choice, so backups take over only when no primary is
// healthy. Kept apart from both so that the core does not depend on a module, and keyed by
// upstream name and server address so that a server's health survives a reload that keeps it.
//
// Thread-safe: entries are created under a mutex and never removed (a config names a bounded set
// of servers); the fields are atomics read without a lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace pforte::module {

/// The health of one server as the pools see it.
struct ServerHealthFlags {
  using Clock = std::chrono::steady_clock;

  /// False while active checks say the server is down.
  std::atomic<bool> checks_up{true};
  /// Passive ejection: no requests before this time (steady clock ticks; min = not ejected).
  std::atomic<Clock::rep> ejected_until{Clock::time_point::min().time_since_epoch().count()};

  /// Up by checks and not ejected at `now`. Lock-free.
  bool up(Clock::time_point now) const {
    return checks_up.load(std::memory_order_relaxed) &&
           ejected_until.load(std::memory_order_relaxed) <= now.time_since_epoch().count();
  }
  void set_ejected_until(Clock::time_point t) {
    ejected_until.store(t.time_since_epoch().count(), std::memory_order_relaxed);
  }
};

class HealthBoard {
 public:
  /// The record of `server` (the address as written in the config) of upstream `upstream`,
  /// created healthy on first use. The reference stays valid for the life of the process.
  ServerHealthFlags& server(std::string_view upstream, std::string_view server);

 private:
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ServerHealthFlags>, std::less<>> servers_;
};

/// The process-wide board.
HealthBoard& health_board();

}  // namespace pforte::module
