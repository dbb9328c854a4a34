#include "bench/origin/options.h"

#include <charconv>

namespace pforte::origin {

std::string_view usage() {
  return "usage: pforte-origin --listen HOST:PORT [--listen ...] [--threads N]\n"
         "         [--port-file FILE] [--login-capacity N] [--login-service-ms MS]\n"
         "         [--login-overload slow|503] [--blog-mode healthy|slow|hung|dead]\n"
         "         [--blog-delay-ms MS] [--quiet]\n";
}

std::optional<uint64_t> parse_u64(std::string_view text) {
  uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<BlogMode> parse_blog_mode(std::string_view name) {
  if (name == "healthy") return BlogMode::kHealthy;
  if (name == "slow") return BlogMode::kSlow;
  if (name == "hung") return BlogMode::kHung;
  if (name == "dead") return BlogMode::kDead;
  return std::nullopt;
}

std::string_view blog_mode_name(BlogMode mode) {
  switch (mode) {
    case BlogMode::kHealthy:
      return "healthy";
    case BlogMode::kSlow:
      return "slow";
    case BlogMode::kHung:
      return "hung";
    case BlogMode::kDead:
      return "dead";
  }
  return "healthy";
}

namespace {

// "127.0.0.1:0", "[::1]:8080", "localhost:80".
std::optional<ListenAddress> parse_listen(std::string_view text) {
  ListenAddress out;
  std::string_view port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  auto value = parse_u64(port);
  if (out.host.empty() || !value || *value > 65535) return std::nullopt;
  out.port = static_cast<uint16_t>(*value);
  return out;
}

}  // namespace

std::expected<Options, std::string> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    if (arg.starts_with("--") && arg.find('=') != std::string_view::npos) {
      size_t eq = arg.find('=');
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg != "--quiet" && arg != "--help" && arg != "-h") {
      if (i + 1 >= argc) return std::unexpected(std::string(arg) + ": missing value");
      value = argv[++i];
    }
    auto number = [&](uint64_t max) -> std::expected<uint64_t, std::string> {
      auto n = parse_u64(value);
      if (!n || *n > max)
        return std::unexpected(std::string(arg) + ": bad number '" + std::string(value) + "'");
      return *n;
    };
    if (arg == "--listen") {
      auto listen = parse_listen(value);
      if (!listen)
        return std::unexpected(std::string("--listen: bad address '") + std::string(value) + "'");
      options.listen.push_back(std::move(*listen));
    } else if (arg == "--threads") {
      auto n = number(1024);
      if (!n || *n == 0)
        return std::unexpected(std::string("--threads: bad number '") + std::string(value) + "'");
      options.threads = static_cast<int>(*n);
    } else if (arg == "--port-file") {
      options.port_file = std::string(value);
    } else if (arg == "--login-capacity") {
      auto n = number(UINT32_MAX);
      if (!n) return std::unexpected(n.error());
      options.login_capacity = *n;
    } else if (arg == "--login-service-ms") {
      auto n = number(86'400'000);
      if (!n) return std::unexpected(n.error());
      options.login_service_ms = *n;
    } else if (arg == "--login-overload") {
      if (value == "slow") {
        options.login_overload = LoginOverload::kQueue;
      } else if (value == "503") {
        options.login_overload = LoginOverload::kReject;
      } else {
        return std::unexpected(std::string("--login-overload: expected slow or 503, got '") +
                               std::string(value) + "'");
      }
    } else if (arg == "--blog-mode") {
      auto mode = parse_blog_mode(value);
      if (!mode)
        return std::unexpected(std::string("--blog-mode: unknown mode '") + std::string(value) +
                               "'");
      options.blog_mode = *mode;
    } else if (arg == "--blog-delay-ms") {
      auto n = number(86'400'000);
      if (!n) return std::unexpected(n.error());
      options.blog_delay_ms = *n;
    } else if (arg == "--quiet") {
      options.quiet = true;
    } else if (arg == "--help" || arg == "-h") {
      return std::unexpected(std::string());
    } else {
      return std::unexpected(std::string("unknown option '") + std::string(arg) + "'");
    }
  }
  if (options.listen.empty()) return std::unexpected("at least one --listen is required");
  return options;
}

}  // namespace pforte::origin
