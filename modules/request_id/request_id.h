// Request ids: every request gets an id that follows it upstream, back to the client and into the
// access log, so an operator can match a user's report to log lines on the edge and the platform.
//
// Phases: request (keep a well-formed incoming X-Request-Id, else make one, and forward it),
// response_head (echo it to the client), log (record it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/module/module.h"

namespace pforte::modules::request_id {

/// True if `id` may be passed on as is: 1..128 characters of [A-Za-z0-9._:-].
bool is_acceptable(std::string_view id);

/// Generates ids: 32 lower-case hex digits from a per-worker xoshiro256** stream seeded from the
/// kernel. Not for secrets; unique enough to find a request in logs.
class Generator {
 public:
  Generator();
  explicit Generator(uint64_t seed);
  static constexpr size_t kIdSize = 32;
  /// Writes the next id (kIdSize characters) to `out`; returns kIdSize.
  size_t next(char* out);
  std::string next();

 private:
  uint64_t s_[4];
  uint64_t next64();
};

module::ModuleFactory factory();

}  // namespace pforte::modules::request_id
