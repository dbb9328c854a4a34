#include "proxy/core/h2_session_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace pforte::core {

namespace {

// nghttp2's frame buffer: a frame header, one byte of padding length and the largest payload
// (NGHTTP2_FRAMEBUF_CHUNKLEN, internal to nghttp2). If a version changes it, no buffer matches
// and nothing is trimmed.
constexpr size_t kFrameBufferSize = 9 + 1 + 16384;
// nghttp2's stream table (nghttp2_map): 2^8 buckets of a 32-bit hash, a 32-bit stream id and a
// pointer, zeroed by calloc. Likewise internal: another size is simply not trimmed.
constexpr size_t kStreamTableSize = 256 * 16;

size_t page_size() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

bool all_zero(const void* p, size_t bytes) {
  const auto* words = static_cast<const uint64_t*>(p);
  uint64_t any = 0;
  for (size_t i = 0; i < bytes / sizeof(uint64_t); ++i) any |= words[i];
  return any == 0;
}

}  // namespace

H2SessionMemory::H2SessionMemory()
    : mem_{this, &H2SessionMemory::do_malloc, &H2SessionMemory::do_free,
           &H2SessionMemory::do_calloc, &H2SessionMemory::do_realloc} {}

H2SessionMemory::~H2SessionMemory() {
  // Only if the session was never deleted.
  std::free(frame_.at);
  std::free(table_.at);
}

size_t H2SessionMemory::trim() {
  size_t given = 0;
  if (frame_.at && madvise(frame_.at, frame_.bytes, MADV_DONTNEED) == 0) given += frame_.bytes;
  if (table_.at && all_zero(table_.at, table_.bytes) &&
      madvise(table_.at, table_.bytes, MADV_DONTNEED) == 0) {
    given += table_.bytes;
  }
  return given;
}

void* H2SessionMemory::take(Block& block, size_t size) {
  const size_t page = page_size();
  const size_t bytes = (size + page - 1) / page * page;
  void* p = std::aligned_alloc(page, bytes);
  if (!p) return nullptr;
  block.at = p;
  block.bytes = bytes;
  return p;
}

void* H2SessionMemory::do_malloc(size_t size, void* self) {
  auto* m = static_cast<H2SessionMemory*>(self);
  if (!m->expecting_ || m->frame_.at || size != kFrameBufferSize) return std::malloc(size);
  return take(m->frame_, size);
}

void H2SessionMemory::do_free(void* ptr, void* self) {
  auto* m = static_cast<H2SessionMemory*>(self);
  if (ptr) {
    if (ptr == m->frame_.at) m->frame_ = {};
    if (ptr == m->table_.at) m->table_ = {};  // (nghttp2 moved to a larger table)
  }
  std::free(ptr);
}

void* H2SessionMemory::do_calloc(size_t n, size_t size, void* self) {
  auto* m = static_cast<H2SessionMemory*>(self);
  // Only where the table is whole pages: a larger page would hold more than the table.
  if (!m->expecting_ || m->table_.at || n * size != kStreamTableSize ||
      kStreamTableSize % page_size() != 0) {
    return std::calloc(n, size);
  }
  void* p = take(m->table_, kStreamTableSize);
  if (p) std::memset(p, 0, kStreamTableSize);
  return p;
}

void* H2SessionMemory::do_realloc(void* ptr, size_t size, void* self) {
  auto* m = static_cast<H2SessionMemory*>(self);
  if (!ptr) return do_malloc(size, self);  // how nghttp2 allocates a buffer's memory
  const Block* block = ptr == m->frame_.at   ? &m->frame_
                       : ptr == m->table_.at ? &m->table_
                                             : nullptr;
  if (!block) return std::realloc(ptr, size);
  // A taken buffer resized (nghttp2 resizes neither, today): it becomes an ordinary allocation,
  // and trim() no longer touches it.
  void* p = std::malloc(size);
  if (!p) return nullptr;
  std::memcpy(p, ptr, size < block->bytes ? size : block->bytes);
  do_free(ptr, self);
  return p;
}

}  // namespace pforte::core
