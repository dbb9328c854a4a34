// The waiting room: turns a spike of visitors on a route into a steady stream at the room's
// admit_rate, in arrival order, and tells each waiting visitor their place and wait.
//
// Phases (order 10: after request ids and admin, before the cache, so a waiting visitor costs
// the upstream nothing):
//   request        on routes with `waiting_room = "NAME"`: decide() with the `pforte_wr` cookie;
//                  pass, or answer with the waiting page (200, no-store) or, for JSON clients,
//                  429 + Retry-After + {"position","eta_seconds","retry_after"}.
//   admin          GET /waiting-room/NAME (state as JSON), POST /waiting-room/NAME/pause and
//                  /resume.
//   response_head  sets the new or renewed cookie (Secure on TLS).
//   log            the outcome ("passed", "admitted", "queued", ...) in LogRecord::waiting_room.
// Worker 0's instance also saves the rooms' state files every second.
#pragma once

#include <string_view>

#include "proxy/module/module.h"

namespace pforte::modules::waiting_room {

/// The waiting-room module's factory (registry order 10).
module::ModuleFactory factory();

/// True if an Accept value asks for JSON rather than a page (application/json or +json
/// acceptable, text/html not mentioned).
bool wants_json(std::string_view accept);

}  // namespace pforte::modules::waiting_room
