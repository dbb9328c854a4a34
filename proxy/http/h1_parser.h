// Strict HTTP/1.1 message-head parsing (RFC 9112) and chunked body decoding, for requests from
// downstream clients and responses from upstream servers. Pure: no I/O, no allocation beyond the
// output structures; every function may be called from any thread.
//
// Strictness (a proxy must not interpret a message differently from the server behind it):
// CRLF line endings only (a bare CR or bare LF is an error), no obs-fold, no whitespace between
// a field name and its colon, field names must be tokens, field values must not contain CR, LF
// or NUL, at most one Content-Length, never both Content-Length and Transfer-Encoding, chunked
// must be the final transfer coding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/headers.h"

struct evbuffer;

namespace pforte::http {

/// How the body of a message is delimited.
enum class BodyFraming : uint8_t {
  kNone,           ///< no body (no framing headers on a request; 1xx/204/304/HEAD responses)
  kContentLength,  ///< exactly `content_length` bytes follow
  kChunked,        ///< chunked transfer coding
  kUntilClose,     ///< response only: body runs until the server closes the connection
};

/// Outcome of a head parse.
enum class ParseStatus : uint8_t {
  kIncomplete,  ///< need more bytes (and the head so far is within the size limit)
  kComplete,    ///< a full head was parsed; `head_length` bytes were used
  kError,       ///< the message is invalid; see `error_status` and `error_reason`
};

/// A parsed request head. String views point into the buffer given to the parser.
struct RequestHead1 {
  std::string_view method;  ///< e.g. "GET"
  std::string_view target;  ///< request-target as sent (origin-form, absolute-form, ...)
  int version_minor = 1;    ///< 0 for HTTP/1.0, 1 for HTTP/1.1
  std::vector<std::pair<std::string_view, std::string_view>> fields;  ///< name, trimmed value
  std::string_view host;                     ///< the Host field value (empty if absent on HTTP/1.0)
  size_t head_length = 0;                    ///< bytes of the head including the final CRLF CRLF
  BodyFraming framing = BodyFraming::kNone;  ///< kNone, kContentLength or kChunked
  uint64_t content_length = 0;               ///< valid when framing == kContentLength
  bool keep_alive = true;         ///< false for "Connection: close" or HTTP/1.0 without keep-alive
  bool expect_continue = false;   ///< "Expect: 100-continue"
  bool upgrade = false;           ///< "Connection: upgrade" with an Upgrade field
  int error_status = 0;           ///< on kError: 400, 431, 501 or 505
  std::string_view error_reason;  ///< on kError: short static text for the log
};

/// A parsed response head. String views point into the buffer given to the parser.
struct ResponseHead1 {
  int status = 0;           ///< 100..999
  std::string_view reason;  ///< reason phrase (may be empty)
  int version_minor = 1;
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  size_t head_length = 0;
  BodyFraming framing = BodyFraming::kUntilClose;
  uint64_t content_length = 0;
  bool keep_alive = true;  ///< false if the server will close after this response
  int error_status = 0;    ///< on kError: 502
  std::string_view error_reason;
};

/// Parses a request head from the start of `buf`. Leading empty lines (CRLF) are skipped as
/// RFC 9112 §2.2 allows. If no complete head is found within `max_head_bytes`, returns kError
/// with status 431. `buf` may hold more than the head (pipelined requests, body bytes).
ParseStatus parse_request_head(std::string_view buf, size_t max_head_bytes, RequestHead1& out);

/// Parses a response head. `request_method` decides whether a body can follow (HEAD, CONNECT).
/// 1xx responses are returned as complete heads with framing kNone; the caller reads on.
ParseStatus parse_response_head(std::string_view buf, size_t max_head_bytes,
                                std::string_view request_method, ResponseHead1& out);

/// Incremental decoder of a chunked body. Moves decoded data from an input evbuffer to an
/// output evbuffer without copying the payload (evbuffer_remove_buffer), so it can stream a body
/// of any size with bounded memory.
class ChunkedDecoder {
 public:
  enum class Status : uint8_t { kNeedMore, kDone, kError };

  /// Consumes bytes from `in`, appends payload bytes to `out`. At most `max_out` payload bytes
  /// are moved per call (back-pressure: the caller decides how much it can take). Returns kDone
  /// once the last chunk and the trailer section have been consumed; bytes after it are left in
  /// `in`. Chunk extensions are skipped (bounded in length); trailer fields are collected.
  Status decode(evbuffer* in, evbuffer* out, size_t max_out = SIZE_MAX);

  /// Trailer fields received after the last chunk (valid after kDone).
  const Headers& trailers() const { return trailers_; }
  /// Total payload bytes decoded so far.
  uint64_t decoded_bytes() const { return decoded_; }
  /// Short reason for kError.
  std::string_view error_reason() const { return error_; }

 private:
  enum class State : uint8_t { kSize, kData, kDataCrlf, kTrailer, kDone, kError };
  State state_ = State::kSize;
  uint64_t remaining_ = 0;  ///< bytes left in the current chunk
  uint64_t decoded_ = 0;
  size_t trailer_bytes_ = 0;
  Headers trailers_;
  std::string_view error_;
};

/// Appends a chunked-encoding frame header for `len` payload bytes ("<hex>\r\n") to `out`.
void append_chunk_header(evbuffer* out, size_t len);

/// Appends the end of a chunked body to `out`: the last chunk ("0\r\n"), the `trailers` fields
/// if any, and the empty line.
void append_last_chunk(evbuffer* out, const Headers* trailers);

/// True if `c` is an RFC 9110 tchar.
bool is_tchar(char c);

}  // namespace pforte::http
