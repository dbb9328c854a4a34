// Command line of pforte-origin, the origin simulator behind tests, the demo and benchmarks.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pforte::origin {

// How /news/latest behaves; changeable at runtime through POST /_origin/blog.
enum class BlogMode : int {
  kHealthy = 0,  // answer at once
  kSlow = 1,     // answer after the blog delay
  kHung = 2,     // read the request, never answer, keep the connection open
  kDead = 3,     // close the connection without answering
};

// What POST /login does when every login slot is taken.
enum class LoginOverload {
  kReject,  // 503 with Retry-After: 1 at once
  kQueue,   // hold the request until a slot frees
};

// One --listen address as given on the command line.
struct ListenAddress {
  std::string host;   // numeric IPv4/IPv6 address or a resolvable name, without brackets
  uint16_t port = 0;  // 0 = ephemeral; the real port is printed on start
};

struct Options {
  std::vector<ListenAddress> listen;  // at least one
  int threads = 1;                    // worker threads, each with its own loop
  std::string port_file;              // written with the real ports, one per line
  uint64_t login_capacity = 500;      // logins in flight at once; 0 = unlimited
  uint64_t login_service_ms = 20;     // simulated work per login
  LoginOverload login_overload = LoginOverload::kReject;  // beyond capacity
  BlogMode blog_mode = BlogMode::kHealthy;                // initial /news/latest behaviour
  uint64_t blog_delay_ms = 2000;                          // delay of BlogMode::kSlow
  bool quiet = false;                                     // no informational messages on stderr
};

// Parses argv; the error names the offending argument.
std::expected<Options, std::string> parse_options(int argc, char** argv);

std::string_view usage();

std::optional<BlogMode> parse_blog_mode(std::string_view name);
std::string_view blog_mode_name(BlogMode mode);

// Parses a whole string of decimal digits; nullopt on anything else or overflow.
std::optional<uint64_t> parse_u64(std::string_view text);

}  // namespace pforte::origin
