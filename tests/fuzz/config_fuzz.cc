// libFuzzer target for the config loader: any byte string must load or yield errors, never crash,
// hang or let an exception escape.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto result = pforte::config::load_config_text(text, "fuzz.toml");
  if (!result) {
    // Exercise the formatting too; every error needs a position.
    for (const pforte::config::ConfigError& error : result.error()) {
      if (error.line < 1 || error.column < 1 || error.to_string().empty()) __builtin_trap();
    }
  } else if ((*result)->listeners.empty() || (*result)->routes.empty()) {
    __builtin_trap();  // a valid config always has both
  }
  return 0;
}
