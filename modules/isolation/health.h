// Health of one upstream server, from two sources:
//  - active checks (a GET of the upstream's health `path` every `interval`, run elsewhere): the
//    server goes down after `fall` consecutive failed checks and comes back after `rise`
//    consecutive good ones;
//  - passive observation of real requests: `eject_after` consecutive failures (connect errors,
//    timeouts before the response head, 5xx) eject the server for a period that starts at
//    `eject_base` and doubles with each ejection in a row up to `eject_max`. When an ejection
//    ends the server is on probation: its next failure ejects it again at once (for the doubled
//    period), its next success clears the record.
// The server is up when both sources say so. Pure: the caller passes `now`.
//
// Shared by all workers: the recording functions take a small mutex for a few updates; is_up(),
// asked by the balancer for every pick, reads two atomics and takes no lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "proxy/common/sliding_window.h"
#include "proxy/config/config.h"

namespace pforte::modules::isolation {

using common::Clock;
using common::SlidingWindow;

/// Thresholds of both health sources.
struct HealthPolicy {
  uint32_t fall = 3;         ///< consecutive failed active checks that take a server down
  uint32_t rise = 2;         ///< consecutive good active checks that bring it back
  uint32_t eject_after = 5;  ///< consecutive failed requests that eject a server
  Clock::duration eject_base = std::chrono::seconds(1);  ///< first ejection
  Clock::duration eject_max = std::chrono::seconds(30);  ///< cap of the doubling

  /// The operator's `health` table for the active part; passive numbers keep their defaults.
  static HealthPolicy from_config(const config::HealthConfig& c);
};

/// What a recorded result changed, for logging and the `upstream_healthy` gauge.
enum class HealthChange : uint8_t { kNone, kWentDown, kWentUp, kEjected };

class ServerHealth {
 public:
  /// Servers start up: a reload or restart must not take a whole upstream out of rotation until
  /// its checks come in.
  explicit ServerHealth(const HealthPolicy& policy = {});
  ServerHealth(const ServerHealth&) = delete;
  ServerHealth& operator=(const ServerHealth&) = delete;

  /// Active check result. kWentDown / kWentUp when the check state flips.
  HealthChange record_check(bool ok);
  /// A real request reached the server and got an acceptable answer.
  void record_success();
  /// A real request failed at the server (connect error, timeout, 5xx). kEjected if it was
  /// ejected by this failure.
  HealthChange record_failure(Clock::time_point now);

  /// Up by active checks and not ejected at `now`.
  bool is_up(Clock::time_point now) const;
  /// Up by active checks (ignoring ejection).
  bool check_up() const { return check_up_.load(std::memory_order_relaxed); }
  /// When the current ejection ends (a time in the past if not ejected).
  Clock::time_point ejected_until() const;

  /// Replaces the thresholds (config reload) keeping the state.
  void set_policy(const HealthPolicy& policy);

 private:
  mutable std::mutex mutex_;
  HealthPolicy policy_;
  uint32_t check_streak_ = 0;    ///< consecutive checks contradicting the current check state
  uint32_t failure_streak_ = 0;  ///< consecutive failed requests
  uint32_t ejections_ = 0;       ///< ejections in a row without a success between them
  std::atomic<bool> check_up_{true};
  std::atomic<Clock::rep> ejected_until_{Clock::time_point::min().time_since_epoch().count()};
};

}  // namespace pforte::modules::isolation
