// What the heap takes for an allocation, for memory accounting (the cache's charge, a head's
// heap_bytes()).
#pragma once

#include <cstdint>

namespace pforte {

/// Bytes an n-byte request costs the allocator, by glibc malloc's rule: an 8-byte header,
/// 16-byte granularity.
constexpr uint64_t allocation_bytes(uint64_t n) {
  return n == 0 ? 0 : (n + 8 + 15) & ~uint64_t{15};
}

}  // namespace pforte
