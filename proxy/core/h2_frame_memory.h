// The memory nghttp2 allocates for one HTTP/2 session, with the session's frame buffer kept
// where its pages can be given back while the connection is idle.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>

namespace pforte::core {

/// An nghttp2_mem for one session (nghttp2_session_server_new3). Everything goes to malloc,
/// except that the session's outgoing frame buffer (16,394 bytes, allocated when the session is
/// created and kept until it is deleted) is page-aligned, so that trim() can give its
/// pages back to the kernel: an idle connection then holds none of them. What the buffer holds
/// is dead once nghttp2 has nothing left to send (it resets the buffer after every frame), and a
/// page given back reads as zeros and is faulted in again by the next frame written into it.
///
/// Declared before the session it serves, so that it outlives it; not movable (nghttp2 keeps
/// a pointer to it).
class H2FrameMemory {
 public:
  H2FrameMemory();
  H2FrameMemory(const H2FrameMemory&) = delete;
  H2FrameMemory& operator=(const H2FrameMemory&) = delete;
  ~H2FrameMemory();

  nghttp2_mem* mem() { return &mem_; }
  /// Around nghttp2_session_*_new3: the frame buffer is the allocation of exactly its size made
  /// then (the session's other buffers are smaller; later ones are never taken for it).
  void expect_frame_buffer(bool on) { expecting_ = on; }
  /// Gives the frame buffer's pages back (one madvise). Only while nghttp2 has nothing to send
  /// (nghttp2_session_want_write() is 0 and the session is not being terminated). Returns the
  /// bytes given back: 0 if there is no frame buffer.
  size_t trim();
  /// The frame buffer, or null (tests).
  const void* frame_buffer() const { return frame_; }

 private:
  static void* do_malloc(size_t size, void* self);
  static void do_free(void* ptr, void* self);
  static void* do_calloc(size_t n, size_t size, void* self);
  static void* do_realloc(void* ptr, size_t size, void* self);

  nghttp2_mem mem_;
  void* frame_ = nullptr;
  size_t frame_bytes_ = 0;  ///< rounded up to whole pages
  bool expecting_ = false;
};

}  // namespace pforte::core
