#include "proxy/http/head_buffer.h"

#include <event2/buffer.h>

#include <algorithm>

namespace pforte::http {

HeadPeek peek_head(evbuffer* buf, size_t max_bytes) {
  HeadPeek out;
  size_t len = evbuffer_get_length(buf);
  if (len == 0) return out;
  size_t limit = std::min(len, max_bytes);
  evbuffer_ptr range_end;
  evbuffer_ptr_set(buf, &range_end, limit, EVBUFFER_PTR_SET);
  evbuffer_ptr pos = evbuffer_search_range(buf, "\r\n\r\n", 4, nullptr, &range_end);
  size_t end = 0;
  if (pos.pos >= 0 && static_cast<size_t>(pos.pos) + 4 <= limit) {
    end = pos.pos + 4;
  } else {
    // A bare LF somewhere in the head: let the strict parser see it and refuse it now.
    evbuffer_ptr lf = evbuffer_search_range(buf, "\n\n", 2, nullptr, &range_end);
    if (lf.pos >= 0 && static_cast<size_t>(lf.pos) + 2 <= limit) end = lf.pos + 2;
  }
  if (end == 0) {
    out.too_large = len >= max_bytes;
    return out;
  }
  unsigned char* p = evbuffer_pullup(buf, static_cast<ssize_t>(end));
  out.bytes = std::string_view(reinterpret_cast<const char*>(p), end);
  out.found = true;
  return out;
}

}  // namespace pforte::http
