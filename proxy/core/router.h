// Routing: the first [[route]] whose host list and path prefix match a request wins. Pure.
#pragma once

#include <string>
#include <string_view>

#include "proxy/config/config.h"

namespace pforte::core {

/// Lower-cases a Host / :authority value and strips the port and a trailing dot
/// ("School.Example:443" -> "school.example", "[::1]:80" -> "[::1]").
std::string normalize_host(std::string_view authority);

/// The first route of `config` matching `host` (already normalized) and `path`, or nullptr.
const config::RouteConfig* match_route(const config::Config& config, std::string_view host,
                                       std::string_view path);

}  // namespace pforte::core
