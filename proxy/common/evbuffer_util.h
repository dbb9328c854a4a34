// Moving bytes between evbuffers for writing.
#pragma once

#include <event2/buffer.h>

#include <cstddef>

namespace pforte {

/// Moves `n` bytes from the front of `src` to the end of `dst`. Without `coalesce` the chains
/// move without copying. With `coalesce` the bytes are copied into `dst`'s tail chain: a TLS
/// bufferevent calls SSL_write once per chain, and every SSL_write is a record and a syscall, so
/// a few large chains beat many small ones by far more than the cost of one memcpy.
inline void move_bytes(evbuffer* dst, evbuffer* src, size_t n, bool coalesce) {
  if (!coalesce) {
    evbuffer_remove_buffer(src, dst, n);
    return;
  }
  evbuffer_iovec vec[2];
  int nvec = evbuffer_reserve_space(dst, static_cast<ev_ssize_t>(n), vec, 2);
  if (nvec <= 0) {
    evbuffer_remove_buffer(src, dst, n);
    return;
  }
  size_t left = n;
  for (int i = 0; i < nvec && left > 0; ++i) {
    size_t take = vec[i].iov_len < left ? vec[i].iov_len : left;
    evbuffer_remove(src, vec[i].iov_base, take);
    vec[i].iov_len = take;
    left -= take;
  }
  evbuffer_commit_space(dst, vec, nvec);
}

/// Moves all of `src` to the end of `dst` as contiguous pieces of at most `piece` bytes (one copy).
/// For TLS: bufferevent_openssl calls SSL_write once per chain, so 16 KiB chains become full-size
/// TLS records, one write each, instead of a record and a syscall per small frame.
inline void move_in_pieces(evbuffer* dst, evbuffer* src, size_t piece) {
  size_t left = evbuffer_get_length(src);
  while (left > 0) {
    size_t n = left < piece ? left : piece;
    evbuffer_iovec vec;
    if (evbuffer_reserve_space(dst, static_cast<ev_ssize_t>(n), &vec, 1) != 1) {
      evbuffer_add_buffer(dst, src);
      return;
    }
    evbuffer_remove(src, vec.iov_base, n);
    vec.iov_len = n;
    evbuffer_commit_space(dst, &vec, 1);
    left -= n;
  }
}

}  // namespace pforte
