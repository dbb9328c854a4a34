#include "proxy/common/units.h"

#include <limits>
#include <string_view>

namespace pforte {
namespace {

/// Splits "<digits><suffix>" and returns the value of the digits, or nullopt if there are none or
/// they overflow uint64_t.
std::optional<uint64_t> leading_number(std::string_view text, std::string_view& suffix) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  suffix = text.substr(i);
  return value;
}

/// value * factor, or nullopt if the product exceeds `max`.
std::optional<uint64_t> checked_multiply(uint64_t value, uint64_t factor, uint64_t max) {
  if (factor != 0 && value > max / factor) return std::nullopt;
  return value * factor;
}

}  // namespace

std::optional<Millis> parse_duration(std::string_view text) {
  std::string_view unit;
  const std::optional<uint64_t> value = leading_number(text, unit);
  if (!value) return std::nullopt;

  uint64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1'000;
  } else if (unit == "m") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else if (unit == "d") {
    factor = 86'400'000;
  } else if (unit.empty() && *value == 0) {
    return Millis{0};  // a bare "0" needs no unit
  } else {
    return std::nullopt;
  }
  const auto max = static_cast<uint64_t>(std::numeric_limits<Millis::rep>::max());
  const std::optional<uint64_t> ms = checked_multiply(*value, factor, max);
  if (!ms) return std::nullopt;
  return Millis{static_cast<Millis::rep>(*ms)};
}

std::optional<uint64_t> parse_size(std::string_view text) {
  std::string_view unit;
  const std::optional<uint64_t> value = leading_number(text, unit);
  if (!value) return std::nullopt;

  constexpr uint64_t kKi = 1024;
  constexpr uint64_t kK = 1000;
  uint64_t factor = 0;
  if (unit.empty() || unit == "B") {
    factor = 1;
  } else if (unit == "KiB") {
    factor = kKi;
  } else if (unit == "MiB") {
    factor = kKi * kKi;
  } else if (unit == "GiB") {
    factor = kKi * kKi * kKi;
  } else if (unit == "TiB") {
    factor = kKi * kKi * kKi * kKi;
  } else if (unit == "KB") {
    factor = kK;
  } else if (unit == "MB") {
    factor = kK * kK;
  } else if (unit == "GB") {
    factor = kK * kK * kK;
  } else {
    return std::nullopt;
  }
  return checked_multiply(*value, factor, std::numeric_limits<uint64_t>::max());
}

}  // namespace pforte
