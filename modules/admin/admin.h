// The admin module: what an operator reads on the admin listener ([admin] address, loopback by
// default). Hooks only the admin phase:
//   GET /metrics      Prometheus text format: every registered metric plus each module's values
//   GET /status       an HTML page an operator understands in five seconds
//   GET /status.json  the same facts as JSON
// Other admin paths (PURGE, /waiting-room/NAME/...) belong to the modules that own them; this
// one runs early (order 5) but proceeds for anything it does not serve.
#pragma once

#include <string>

#include "proxy/module/module.h"

namespace pforte::modules::admin {

/// The /status.json document for `generation`. Any thread.
std::string status_json(const module::Generation& generation);
/// The /status HTML page for `generation`. Any thread.
std::string status_html(const module::Generation& generation);
/// The /metrics text for `generation`. Any thread.
std::string metrics_text(const module::Generation& generation);

module::ModuleFactory factory();

}  // namespace pforte::modules::admin
