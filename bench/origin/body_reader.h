// Reads a request body off a connection's input buffer, Content-Length or chunked, and hands
// the payload bytes to a sink without copying them. Worker thread only.
#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "bench/origin/request.h"

namespace pforte::origin {

class BodyReader {
 public:
  enum class Status {
    kDone,      // the whole body (and chunked trailer) has been consumed
    kNeedMore,  // input exhausted; call again when more arrives
    kPaused,    // the sink asked to stop; call again when it can take more
    kError,     // malformed chunked framing
  };

  void start(BodyKind kind, uint64_t length) {
    state_ = kind == BodyKind::kChunked ? State::kChunkSize
             : length > 0               ? State::kData
                                        : State::kDone;
    left_ = kind == BodyKind::kLength ? length : 0;
    chunked_ = kind == BodyKind::kChunked;
    trailer_bytes_ = 0;
  }
  bool done() const { return state_ == State::kDone; }

  // Consumes what `in` holds of the body. sink(n) must remove exactly the first n bytes of `in`
  // (move or drain them) and returns false to pause.
  template <class Sink>
  Status read(evbuffer* in, Sink&& sink) {
    while (true) {
      switch (state_) {
        case State::kDone:
          return Status::kDone;
        case State::kData: {
          size_t available = evbuffer_get_length(in);
          if (available == 0) return Status::kNeedMore;
          size_t n = available < left_ ? available : static_cast<size_t>(left_);
          left_ -= n;
          if (left_ == 0) state_ = chunked_ ? State::kDataEnd : State::kDone;
          if (!sink(n)) return state_ == State::kDone ? Status::kDone : Status::kPaused;
          break;
        }
        case State::kChunkSize: {
          auto status = read_chunk_size(in);
          if (status) return *status;
          break;
        }
        case State::kDataEnd: {
          if (evbuffer_get_length(in) < 2) return Status::kNeedMore;
          char crlf[2];
          evbuffer_remove(in, crlf, 2);
          if (crlf[0] != '\r' || crlf[1] != '\n') return Status::kError;
          state_ = State::kChunkSize;
          break;
        }
        case State::kTrailer: {
          auto status = read_trailer_line(in);
          if (status) return *status;
          break;
        }
      }
    }
  }

 private:
  enum class State { kChunkSize, kData, kDataEnd, kTrailer, kDone };
  static constexpr size_t kMaxLine = 4096;
  static constexpr size_t kMaxTrailer = 64 * 1024;

  // Returns a status to stop with, or nullopt to continue in the new state.
  std::optional<Status> read_chunk_size(evbuffer* in);
  std::optional<Status> read_trailer_line(evbuffer* in);

  State state_ = State::kDone;  // where in the framing we are
  uint64_t left_ = 0;           // payload bytes left in the body or current chunk
  bool chunked_ = false;        // chunked framing (else Content-Length)
  size_t trailer_bytes_ = 0;    // trailer size so far, bounded by kMaxTrailer
};

}  // namespace pforte::origin
