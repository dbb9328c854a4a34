// Finding a complete message head at the front of an evbuffer without linearizing the body.
#pragma once

#include <cstddef>
#include <string_view>

struct evbuffer;

namespace pforte::http {

/// Result of looking for a head at the front of a buffer.
struct HeadPeek {
  std::string_view bytes;  ///< contiguous view of the head through its final CRLF CRLF, if found
  bool found = false;      ///< a complete head is present
  bool too_large = false;  ///< no head end within `max_bytes`
};

/// Looks for the end of a head ("\r\n\r\n") within the first `max_bytes` of `buf` and, if found,
/// linearizes just the head (bounded by max_bytes) and returns a view of it. The view is valid
/// until `buf` is modified. Also accepts a head that ends with bare "\n\n" in the search so that
/// the parser can reject it with a precise error instead of waiting for more bytes.
HeadPeek peek_head(evbuffer* buf, size_t max_bytes);

}  // namespace pforte::http
