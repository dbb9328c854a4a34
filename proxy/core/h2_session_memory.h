// The memory nghttp2 allocates for one HTTP/2 session, with the two buffers an idle session need
// not keep resident placed where their pages can be given back.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>

namespace pforte::core {

/// An nghttp2_mem for one session (nghttp2_session_server_new3). Everything goes to malloc,
/// except two allocations the session makes when it is created and keeps until it is deleted,
/// which are page-aligned so that trim() can give their pages back to the kernel while the
/// connection is idle (a page given back reads as zeros and is faulted in again when written):
/// - the outgoing frame buffer (16,394 bytes). What it holds is dead once nghttp2 has nothing
///   left to send (it resets the buffer after every frame).
/// - the table of open streams (256 buckets of 16 bytes). A bucket without a stream is all zeros
///   (nghttp2 clears the buckets it empties), so a table without streams is a page of zeros,
///   which reads the same after it is given back. trim() checks that it is.
///
/// Declared before the session it serves, so that it outlives it; not movable (nghttp2 keeps
/// a pointer to it).
class H2SessionMemory {
 public:
  H2SessionMemory();
  H2SessionMemory(const H2SessionMemory&) = delete;
  H2SessionMemory& operator=(const H2SessionMemory&) = delete;
  ~H2SessionMemory();

  nghttp2_mem* mem() { return &mem_; }
  /// Around nghttp2_session_*_new3: the frame buffer and the stream table are allocations of
  /// exactly their sizes made then (the session's other buffers are of other sizes; later
  /// allocations are never taken for them).
  void expect_session_new(bool on) { expecting_ = on; }
  /// Gives back the frame buffer's pages (one madvise), and the stream table's if it holds only
  /// zeros. Only while nghttp2 has nothing to send (nghttp2_session_want_write() is 0 and the
  /// session is not being terminated). Returns the bytes given back.
  size_t trim();
  /// The frame buffer and the stream table, or null (tests).
  const void* frame_buffer() const { return frame_.at; }
  const void* stream_table() const { return table_.at; }

 private:
  /// A page-aligned allocation of whole pages.
  struct Block {
    void* at = nullptr;
    size_t bytes = 0;
  };

  static void* do_malloc(size_t size, void* self);
  static void do_free(void* ptr, void* self);
  static void* do_calloc(size_t n, size_t size, void* self);
  static void* do_realloc(void* ptr, size_t size, void* self);
  static void* take(Block& block, size_t size);

  nghttp2_mem mem_;
  Block frame_;
  Block table_;
  bool expecting_ = false;
};

}  // namespace pforte::core
