// Synthetic content of pforte-origin: deterministic bodies, checksums and the fixed pages.
// Everything here is immutable after first use and safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pforte::origin {

inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
inline constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// FNV-1a 64-bit; pass the previous result as `hash` to continue over more data.
inline uint64_t fnv1a64_bytes(const void* data, size_t size, uint64_t hash = kFnvOffset) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= p[i];
    hash *= kFnvPrime;
  }
  return hash;
}
inline uint64_t fnv1a64(std::string_view text, uint64_t hash = kFnvOffset) {
  return fnv1a64_bytes(text.data(), text.size(), hash);
}

// Number formatting for the hot path (snprintf costs more than the rest of a small response).
// `out` must hold 20 bytes; each returns the length written.
size_t format_decimal(char* out, uint64_t value);
size_t format_hex(char* out, uint64_t value);
// Exactly 16 lowercase hex digits.
void format_hex16(char* out, uint64_t value);

// Bodies are a 4 KiB block of printable lines repeated; a name picks the starting phase.
inline constexpr size_t kPatternPeriod = 4096;
// Largest piece pattern_at() can return contiguously; bodies are sent in pieces of this size.
inline constexpr size_t kPieceSize = 64 * 1024;

// Phase of the pattern for a name (the same name always gives the same bytes).
uint64_t pattern_seed(std::string_view name);
// Pointer to at least kPieceSize bytes of the body seeded by `seed`, starting at `offset`.
// Points into static storage that lives as long as the process (fit for evbuffer references).
const char* pattern_at(uint64_t seed, uint64_t offset);

// A /static/<name> asset.
struct StaticAsset {
  uint64_t size = 0;              // body length
  std::string_view content_type;  // Content-Type value
};
// Looks up app.css, logo.png, app.js or <n>.bin (n <= 4 GiB).
std::optional<StaticAsset> find_static_asset(std::string_view name);

// Fixed date sent as Last-Modified of static assets.
inline constexpr std::string_view kLastModified = "Mon, 02 Mar 2020 08:00:00 GMT";

// GET /news/fallback; also the stub block of the SSI page (nginx does not run SSI inside a block).
inline constexpr std::string_view kNewsFallback =
    "<ul class=\"news fallback\"><li>News are unavailable right now.</li></ul>\n";

std::string_view home_page();      // GET /: the blog as an ESI include
std::string_view home_page_ssi();  // GET /ssi: the same page, the blog as an nginx SSI include
std::string_view login_page();     // GET /login

}  // namespace pforte::origin
