#define BOOST_TEST_MODULE units
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "proxy/common/units.h"

using pforte::Millis;
using pforte::parse_duration;
using pforte::parse_size;

BOOST_AUTO_TEST_SUITE(duration)

BOOST_AUTO_TEST_CASE(every_unit_scales_to_milliseconds) {
  BOOST_TEST((parse_duration("250ms") == Millis{250}));
  BOOST_TEST((parse_duration("10s") == Millis{10'000}));
  BOOST_TEST((parse_duration("5m") == Millis{300'000}));
  BOOST_TEST((parse_duration("1h") == Millis{3'600'000}));
  BOOST_TEST((parse_duration("1d") == Millis{86'400'000}));
}

BOOST_AUTO_TEST_CASE(bare_zero_is_zero_and_zero_with_unit_too) {
  BOOST_TEST((parse_duration("0") == Millis{0}));
  BOOST_TEST((parse_duration("0s") == Millis{0}));
  BOOST_TEST((parse_duration("0ms") == Millis{0}));
}

BOOST_AUTO_TEST_CASE(a_number_without_unit_is_rejected_unless_zero) {
  BOOST_TEST(!parse_duration("10").has_value());
  BOOST_TEST(!parse_duration("1").has_value());
}

BOOST_AUTO_TEST_CASE(malformed_durations_are_rejected) {
  for (const char* text : {"", "s", "ms", "10x", "10 s", " 10s", "10s ", "-5s", "+5s", "1.5s",
                           "10S", "10sec", "10ms5", "5mm", "1e3ms", "0x10s", "10s\n"}) {
    BOOST_TEST_INFO("text: \"" << text << "\"");
    BOOST_TEST(!parse_duration(text).has_value());
  }
}

BOOST_AUTO_TEST_CASE(embedded_nul_is_rejected) {
  BOOST_TEST(!parse_duration(std::string("10s\0", 4)).has_value());
}

BOOST_AUTO_TEST_CASE(largest_representable_duration_is_accepted_and_one_more_overflows) {
  const int64_t max = std::numeric_limits<Millis::rep>::max();
  BOOST_TEST((parse_duration(std::to_string(max) + "ms") == Millis{max}));
  BOOST_TEST(!parse_duration(std::to_string(static_cast<uint64_t>(max) + 1) + "ms").has_value());
  BOOST_TEST(!parse_duration(std::to_string(max / 1000 + 1) + "s").has_value());
  BOOST_TEST(!parse_duration("99999999999999999999999999ms").has_value());
  BOOST_TEST(!parse_duration("200000000000000d").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(size)

BOOST_AUTO_TEST_CASE(binary_units_are_powers_of_1024) {
  BOOST_TEST((parse_size("64KiB") == std::optional<uint64_t>(64 * 1024)));
  BOOST_TEST((parse_size("16MiB") == std::optional<uint64_t>(16ull << 20)));
  BOOST_TEST((parse_size("2GiB") == std::optional<uint64_t>(2ull << 30)));
  BOOST_TEST((parse_size("1TiB") == std::optional<uint64_t>(1ull << 40)));
}

BOOST_AUTO_TEST_CASE(decimal_units_are_powers_of_1000) {
  BOOST_TEST((parse_size("64KB") == std::optional<uint64_t>(64'000)));
  BOOST_TEST((parse_size("3MB") == std::optional<uint64_t>(3'000'000)));
  BOOST_TEST((parse_size("1GB") == std::optional<uint64_t>(1'000'000'000)));
}

BOOST_AUTO_TEST_CASE(bare_integer_and_b_mean_bytes) {
  BOOST_TEST((parse_size("0") == std::optional<uint64_t>(0)));
  BOOST_TEST((parse_size("4096") == std::optional<uint64_t>(4096)));
  BOOST_TEST((parse_size("512B") == std::optional<uint64_t>(512)));
}

BOOST_AUTO_TEST_CASE(malformed_sizes_are_rejected) {
  for (const char* text : {"", "KiB", "10QB", "10 KiB", "-1", "1.5MiB", "10kib", "10kb", "10K",
                           "10Ki", "10TB", "10iB", "64KiB "}) {
    BOOST_TEST_INFO("text: \"" << text << "\"");
    BOOST_TEST(!parse_size(text).has_value());
  }
}

BOOST_AUTO_TEST_CASE(overflowing_sizes_are_rejected) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  BOOST_TEST((parse_size(std::to_string(max)) == std::optional<uint64_t>(max)));
  BOOST_TEST(!parse_size("18446744073709551616").has_value());
  BOOST_TEST((parse_size("16777215TiB") == std::optional<uint64_t>(16777215ull << 40)));
  BOOST_TEST(!parse_size("16777216TiB").has_value());
  BOOST_TEST(!parse_size("18446744073709552GB").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
