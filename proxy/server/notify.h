// systemd readiness notification (sd_notify protocol) without libsystemd: one datagram to the
// unix socket named by $NOTIFY_SOCKET ("@name" = abstract namespace). Does nothing when the
// variable is unset, so pforte runs the same outside systemd. Main thread.
#pragma once

#include <string_view>

namespace pforte::server {

/// Sends `state` (e.g. "READY=1\nSTATUS=serving"). Returns false if there is no socket or the
/// send failed (never fatal: the service manager then times out and says so).
bool notify_service_manager(std::string_view state);

/// "RELOADING=1\nMONOTONIC_USEC=<now>" as systemd's Type=notify-reload expects it.
bool notify_reloading();

}  // namespace pforte::server
