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

}  // namespace pforte
