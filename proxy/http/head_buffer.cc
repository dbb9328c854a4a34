#include "proxy/http/head_buffer.h"

#include <event2/buffer.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace pforte::http {

namespace {

/// Where the first CR LF CR LF in `hay` ends, or 0: one memchr per line for its LF.
size_t end_of_crlf_crlf(std::string_view hay) {
  const char* p = hay.data();
  size_t from = 3;
  while (from < hay.size()) {
    const void* lf = std::memchr(p + from, '\n', hay.size() - from);
    if (lf == nullptr) return 0;
    size_t i = static_cast<size_t>(static_cast<const char*>(lf) - p);
    if (p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return i + 1;
    from = i + 1;
  }
  return 0;
}

/// Where the first LF LF in `hay` ends, or 0.
size_t end_of_lf_lf(std::string_view hay) {
  size_t at = hay.find("\n\n");
  return at == std::string_view::npos ? 0 : at + 2;
}

}  // namespace

HeadPeek peek_head(evbuffer* buf, size_t max_bytes) {
  HeadPeek out;
  size_t len = evbuffer_get_length(buf);
  if (len == 0) return out;
  size_t limit = std::min(len, max_bytes);
  size_t end = 0;
  // Usually the first chain holds the whole head (or all there is): search it in place.
  // evbuffer_search_range() compares at every CR, a call per line.
  evbuffer_iovec first;
  if (evbuffer_peek(buf, -1, nullptr, &first, 1) >= 1 && first.iov_len >= limit) {
    std::string_view head(static_cast<const char*>(first.iov_base), limit);
    end = end_of_crlf_crlf(head);
    // A bare LF somewhere in the head: let the strict parser see it and refuse it now.
    if (end == 0) end = end_of_lf_lf(head);
  } else {  // the same two searches across chains
    evbuffer_ptr range_end;
    evbuffer_ptr_set(buf, &range_end, limit, EVBUFFER_PTR_SET);
    evbuffer_ptr pos = evbuffer_search_range(buf, "\r\n\r\n", 4, nullptr, &range_end);
    if (pos.pos >= 0 && static_cast<size_t>(pos.pos) + 4 <= limit) {
      end = pos.pos + 4;
    } else {
      evbuffer_ptr lf = evbuffer_search_range(buf, "\n\n", 2, nullptr, &range_end);
      if (lf.pos >= 0 && static_cast<size_t>(lf.pos) + 2 <= limit) end = lf.pos + 2;
    }
  }
  if (end == 0) {
    out.too_large = len >= max_bytes;
    return out;
  }
  // A no-op for a head found in the first chain.
  unsigned char* p = evbuffer_pullup(buf, static_cast<ssize_t>(end));
  out.bytes = std::string_view(reinterpret_cast<const char*>(p), end);
  out.found = true;
  return out;
}

}  // namespace pforte::http
