// Listening sockets: one per worker per listener, bound with SO_REUSEPORT so that the kernel
// spreads connections over the workers and no worker ever hands a connection to another.
#pragma once

#include <expected>
#include <string>

#include "proxy/config/config.h"

namespace pforte::net {

/// Opens a non-blocking, close-on-exec listening socket on `address` with SO_REUSEADDR and
/// SO_REUSEPORT. Returns the fd or a message.
std::expected<int, std::string> open_listen_socket(const config::SocketAddress& address,
                                                   int backlog = 4096);

/// The address a socket is bound to (to learn the port chosen for port 0).
config::SocketAddress bound_address(int fd);

/// "ip" or "ip:port" text of a socket address ("[v6]:port" for IPv6 with a port).
std::string address_text(const sockaddr* addr, bool with_port);

}  // namespace pforte::net
