// The waiting room's config: the `[waiting_room.NAME]` tables and the route key
// `waiting_room = "NAME"`. Parsing is pure (no file is opened here): secret_file, template and
// state_file are read by prepare() (shared.h), which points its errors at the positions kept here.
//
//   [waiting_room.login]
//   admit_rate = 200            # required, > 0: visitors let in per second
//   admit_burst = 400           # >= 1; default admit_rate
//   session_ttl = "15m"         # how long an admission lasts (renewed while active)
//   refresh = "10s"             # base poll interval of the waiting page
//   jitter = 0.5                # 0..1 (exclusive of 1)
//   secret_file = "/etc/pforte/waiting-room.key"   # required
//   template = "/etc/pforte/waiting-room.html"     # optional
//   opens_at = "2026-12-01T08:00:00+01:00"         # optional, RFC 3339
//   state_file = "/var/lib/pforte/login.room"      # optional: tickets survive a restart
//
// Thread affinity: the parsed structs are immutable and shared by all workers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/module/module.h"

namespace pforte::modules::waiting_room {

/// Where a key's value is written, for messages about files it names.
struct Position {
  int line = 0;
  int column = 0;
};

/// One `[waiting_room.NAME]`.
struct RoomConfig {
  std::string name;
  double admit_rate = 0;        ///< visitors let in per second (> 0)
  double admit_burst = 0;       ///< bucket capacity (>= 1); admit_rate if not given
  int64_t session_ttl_s = 900;  ///< lifetime of an admission; renewed after half of it
  double refresh_s = 10;        ///< base poll interval of the waiting page
  double jitter = 0.5;          ///< poll = refresh × U(1 − jitter, 1 + jitter)
  std::string secret_file;      ///< HMAC keys, one a line (first signs)
  std::string template_file;    ///< operator page; empty = the built-in page
  std::string opens_at;         ///< as written; empty = open from the start
  int64_t opens_at_us = 0;      ///< unix µs; 0 = open from the start
  std::string state_file;       ///< where the room state is saved; empty = not saved
  Position at;                  ///< the table header
  Position secret_file_at;
  Position template_at;
  Position state_file_at;
};

/// The parsed `[waiting_room]` section: the rooms in the order they are written.
struct SectionConfig : config::ModuleConfig {
  std::vector<RoomConfig> rooms;
  /// Index of the room named `name`, or nullopt.
  std::optional<size_t> find(std::string_view name) const;
};

/// A route's `waiting_room = "NAME"`.
struct RouteRoomConfig : config::ModuleConfig {
  std::string room;
  size_t room_index = 0;  ///< into SectionConfig::rooms
};

/// Parses an RFC 3339 date-time with an offset ("2026-12-01T08:00:00+01:00",
/// "2026-12-01T07:00:00Z", fractions allowed) into unix µs. nullopt if invalid.
std::optional<int64_t> parse_rfc3339(std::string_view text);

/// The section and route-key parsers for config::load_config_*.
config::ModuleConfigParser config_parser();

}  // namespace pforte::modules::waiting_room
