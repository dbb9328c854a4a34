#include "bench/origin/body_reader.h"

namespace pforte::origin {
namespace {

// Finds the next CRLF-terminated line; copies it (without CRLF) into `line` and drains it.
// Returns its length, -1 if incomplete, -2 if longer than `capacity`.
ptrdiff_t take_line(evbuffer* in, char* line, size_t capacity) {
  size_t eol_len = 0;
  evbuffer_ptr eol = evbuffer_search_eol(in, nullptr, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
  if (eol.pos < 0) return evbuffer_get_length(in) > capacity ? -2 : -1;
  size_t length = static_cast<size_t>(eol.pos);
  if (length > capacity) return -2;
  evbuffer_remove(in, line, length);
  evbuffer_drain(in, eol_len);
  return static_cast<ptrdiff_t>(length);
}

}  // namespace

std::optional<BodyReader::Status> BodyReader::read_chunk_size(evbuffer* in) {
  char line[kMaxLine];
  ptrdiff_t length = take_line(in, line, sizeof line);
  if (length == -1) return Status::kNeedMore;
  if (length < 0) return Status::kError;
  uint64_t size = 0;
  ptrdiff_t i = 0;
  for (; i < length; ++i) {
    char c = line[i];
    int digit = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
    if (digit < 0) break;
    if (size >> 59) return Status::kError;
    size = size * 16 + static_cast<uint64_t>(digit);
  }
  // At least one digit; then nothing, or chunk extensions after optional whitespace.
  if (i == 0) return Status::kError;
  if (i < length && line[i] != ';' && line[i] != ' ' && line[i] != '\t') return Status::kError;
  if (size == 0) {
    state_ = State::kTrailer;
  } else {
    left_ = size;
    state_ = State::kData;
  }
  return std::nullopt;
}

std::optional<BodyReader::Status> BodyReader::read_trailer_line(evbuffer* in) {
  char line[kMaxLine];
  ptrdiff_t length = take_line(in, line, sizeof line);
  if (length == -1) return Status::kNeedMore;
  if (length < 0) return Status::kError;
  if (length == 0) {
    state_ = State::kDone;
    return std::nullopt;
  }
  trailer_bytes_ += static_cast<size_t>(length);
  if (trailer_bytes_ > kMaxTrailer) return Status::kError;
  return std::nullopt;
}

}  // namespace pforte::origin
