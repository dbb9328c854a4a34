// The process: loads the config, opens logs, TLS contexts and listening sockets, starts the
// workers and handles signals on the main thread (SIGTERM drain, SIGINT fast stop, SIGHUP reload,
// SIGUSR1 log reopen).
#pragma once

#include <memory>
#include <string>

#include "proxy/module/module.h"

namespace pforte::server {

/// Runs pforte with the validated, prepared `generation` until stopped. Returns the process exit
/// code.
int run(std::shared_ptr<const module::Generation> generation);

}  // namespace pforte::server
