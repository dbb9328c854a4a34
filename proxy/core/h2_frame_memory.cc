#include "proxy/core/h2_frame_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace pforte::core {

namespace {

// nghttp2's frame buffer: a frame header, one byte of padding length and the largest payload
// (NGHTTP2_FRAMEBUF_CHUNKLEN, internal to nghttp2). If a version changes it, no buffer matches
// and nothing is trimmed.
constexpr size_t kFrameBufferSize = 9 + 1 + 16384;

size_t page_size() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

H2FrameMemory::H2FrameMemory()
    : mem_{this, &H2FrameMemory::do_malloc, &H2FrameMemory::do_free, &H2FrameMemory::do_calloc,
           &H2FrameMemory::do_realloc} {}

H2FrameMemory::~H2FrameMemory() {
  std::free(frame_);  // only if the session was never deleted
}

size_t H2FrameMemory::trim() {
  if (!frame_) return 0;
  if (madvise(frame_, frame_bytes_, MADV_DONTNEED) != 0) return 0;
  return frame_bytes_;
}

void* H2FrameMemory::do_malloc(size_t size, void* self) {
  auto* m = static_cast<H2FrameMemory*>(self);
  if (!m->expecting_ || m->frame_ || size != kFrameBufferSize) return std::malloc(size);
  const size_t page = page_size();
  const size_t bytes = (size + page - 1) / page * page;
  void* p = std::aligned_alloc(page, bytes);
  if (!p) return nullptr;
  m->frame_ = p;
  m->frame_bytes_ = bytes;
  return p;
}

void H2FrameMemory::do_free(void* ptr, void* self) {
  auto* m = static_cast<H2FrameMemory*>(self);
  if (ptr && ptr == m->frame_) {
    m->frame_ = nullptr;
    m->frame_bytes_ = 0;
  }
  std::free(ptr);
}

void* H2FrameMemory::do_calloc(size_t n, size_t size, void*) {
  return std::calloc(n, size);
}

void* H2FrameMemory::do_realloc(void* ptr, size_t size, void* self) {
  auto* m = static_cast<H2FrameMemory*>(self);
  if (!ptr) return do_malloc(size, self);  // how nghttp2 allocates a buffer's memory
  if (ptr != m->frame_) return std::realloc(ptr, size);
  // The frame buffer resized (nghttp2 does not, today): it becomes an ordinary allocation.
  void* p = std::malloc(size);
  if (!p) return nullptr;
  std::memcpy(p, ptr, size < m->frame_bytes_ ? size : m->frame_bytes_);
  do_free(ptr, self);
  return p;
}

}  // namespace pforte::core
