// The waiting rooms of one config generation, shared by all workers: per room its RoomState,
// AdmissionLedger, KeyRing, page template and wait-time histogram.
//
// prepare() (main thread; also run by `pforte -t`, so it reads files but never writes any):
//   - reads secret_file and template (errors "FILE:LINE:COL: ..." at the key's value);
//   - keeps a room's state and ledger from the previous generation when the name matches and
//     admit_rate, admit_burst and opens_at are unchanged; with changed settings the state is
//     carried over through serialize()/restore(), so no ticket loses its place;
//   - otherwise restores the state from state_file if it exists (a damaged file is logged and
//     the room starts afresh, with a new epoch).
// save() writes each room's state_file (temp file + rename); the module's worker 0 calls it every
// second and shutdown() at stop.
//
// Thread affinity: after prepare() everything is immutable or atomic; any thread.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "modules/waiting_room/admission_ledger.h"
#include "modules/waiting_room/config.h"
#include "modules/waiting_room/decide.h"
#include "modules/waiting_room/room_state.h"
#include "modules/waiting_room/token.h"
#include "proxy/module/module.h"

namespace pforte::modules::waiting_room {

/// How long a waiting visitor's ticket stays valid after their next poll is due.
inline constexpr int64_t kGraceSeconds = 60;

/// One room at run time.
struct Room {
  Room(RoomConfig c, KeyRing k) : config(std::move(c)), keys(std::move(k)) {}

  RoomConfig config;
  KeyRing keys;
  std::shared_ptr<RoomState> state;           ///< shared with the next generation if compatible
  std::shared_ptr<AdmissionLedger> ledger;    ///< likewise
  std::string template_text;                  ///< the operator's page; empty = built-in
  module::Histogram* wait_seconds = nullptr;  ///< process-wide, registered at prepare

  /// What decide() needs.
  Gate gate() const;
  /// {"room":..,"queue_length":..,...}: the room's state for the admin listener and /status.json.
  std::string json(int64_t now_us) const;
};

class WaitingRoomShared : public module::ModuleShared {
 public:
  /// Builds the rooms of `config` at `now_us` (unix µs). `previous`: the running generation's
  /// state (may be null, or another module's type after a registry change).
  static std::expected<std::shared_ptr<WaitingRoomShared>, std::string> prepare(
      const config::Config& config, const std::shared_ptr<module::ModuleShared>& previous,
      int64_t now_us);

  const std::vector<std::unique_ptr<Room>>& rooms() const { return rooms_; }
  /// The room named `name`, or null.
  const Room* find(std::string_view name) const;
  /// True if any room has a state_file.
  bool persists() const;
  /// Writes every room's state_file now. Failures are logged (once per room until it works again).
  void save(int64_t now_us) const;

  void write_metrics(module::MetricsWriter& out) const override;
  void write_status_json(std::string& out) const override;
  void write_status_html(std::string& out) const override;
  void shutdown() override;

 private:
  std::vector<std::unique_ptr<Room>> rooms_;
  mutable std::vector<uint8_t> save_failed_;  ///< per room; written by the saving thread only
};

/// Writes `data` to `path` atomically: `path`.tmp, then rename. Returns an error text on failure.
std::expected<void, std::string> write_file_atomically(const std::string& path,
                                                       std::string_view data);

}  // namespace pforte::modules::waiting_room
