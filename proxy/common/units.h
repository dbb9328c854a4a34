// Parsing of the duration and size strings operators write in the config ("250ms", "64KiB").
// Pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pforte {

using Millis = std::chrono::milliseconds;

/// Parses "<integer><unit>" with unit one of ms, s, m, h, d ("250ms", "10s", "5m", "1h", "1d").
/// A bare "0" is zero. No spaces, no fractions, no negative values. nullopt if invalid or if the
/// value overflows.
std::optional<Millis> parse_duration(std::string_view text);

/// Parses "<integer><unit>" with unit one of B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB
/// (powers of 1000); a bare integer means bytes. nullopt if invalid or if the value overflows.
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace pforte
