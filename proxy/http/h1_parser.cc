#include "proxy/http/h1_parser.h"

#include <event2/buffer.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>

namespace pforte::http {

namespace {

/// Empty lines tolerated before a request line (RFC 9112 §2.2 "at least one"; a few suffice).
constexpr size_t kMaxLeadingEmptyLines = 8;
/// Header fields per head; more is answered 431 like an over-long head.
constexpr size_t kMaxFields = 256;
/// Hex digits of a chunk size: 16 fill a uint64_t, so a 17th can only overflow.
constexpr size_t kMaxChunkSizeDigits = 16;
/// Longest chunk-size line including extensions, without its CRLF.
constexpr size_t kMaxChunkLine = 4096;
/// Longest trailer section including its lines' CRLFs and the final empty line.
constexpr size_t kMaxTrailerBytes = 16 * 1024;
/// Largest single evbuffer_remove_buffer call (its return value is an int).
constexpr size_t kMaxMove = size_t{1} << 30;

enum CharClass : uint8_t {
  kTchar = 1,       ///< RFC 9110 tchar
  kFieldChar = 2,   ///< field-value byte: SP, HTAB, VCHAR, obs-text
  kTargetChar = 4,  ///< request-target byte: VCHAR, obs-text (no SP, no CTL)
  kRegName = 8,     ///< RFC 3986 unreserved / sub-delims (reg-name without '%')
  kHexDigit = 16,
  kDigit = 32,
};

constexpr std::array<uint8_t, 256> make_char_table() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = c >= '0' && c <= '9';
    if (alpha || digit) v |= kTchar | kRegName;
    if (digit) v |= kDigit | kHexDigit;
    if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHexDigit;
    for (char s : std::string_view("!#$%&'*+-.^_`|~")) {
      if (c == static_cast<unsigned char>(s)) v |= kTchar;
    }
    for (char s : std::string_view("-._~!$&'()*+,;=")) {
      if (c == static_cast<unsigned char>(s)) v |= kRegName;
    }
    if ((c > 0x20 && c < 0x7f) || c >= 0x80) v |= kTargetChar | kFieldChar;
    if (c == ' ' || c == '\t') v |= kFieldChar;
    t[static_cast<size_t>(c)] = v;
  }
  return t;
}

constexpr std::array<uint8_t, 256> kChars = make_char_table();

bool has_class(char c, CharClass k) {
  return (kChars[static_cast<unsigned char>(c)] & k) != 0;
}

/// Index of the first byte of `s` at or after `from` that may not appear in a field value (a
/// control character other than HTAB, or DEL), or s.size(). Eight bytes at a time: values are
/// most of a head's bytes, and a word with no byte below 0x20 and none equal to 0x7f is valid
/// whole (bytes from 0x80 are obs-text, allowed).
size_t first_non_field_char(std::string_view s, size_t from) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kHigh = 0x8080808080808080;
  size_t i = from;
  while (i + 8 <= s.size()) {
    uint64_t x;
    std::memcpy(&x, s.data() + i, 8);
    uint64_t below_space = (x - 0x20 * kOnes) & ~x & kHigh;
    uint64_t y = x ^ (0x7f * kOnes);
    uint64_t del = (y - kOnes) & ~y & kHigh;
    if ((below_space | del) != 0) {
      for (size_t k = i; k < i + 8; ++k) {
        if (!has_class(s[k], kFieldChar)) return k;
      }
    }
    i += 8;
  }
  for (; i < s.size(); ++i) {
    if (!has_class(s[i], kFieldChar)) return i;
  }
  return s.size();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

/// Reason for a byte that may not appear where it was found: names the line-ending mistakes,
/// which are the ones that matter for request smuggling.
std::string_view bad_byte_reason(char c, std::string_view otherwise) {
  if (c == '\n') return "bare LF";
  if (c == '\r') return "bare CR";
  return otherwise;
}

/// Result of looking for the next line of a head.
enum class LineKind : uint8_t {
  kLine,      ///< a complete line; `next` is the offset after its CRLF
  kPartial,   ///< no CRLF yet; `line` holds the bytes seen so far
  kTooLarge,  ///< the line cannot end within the head size limit
  kBareCr,    ///< a CR not followed by LF
};

/// Finds the line starting at `pos` in `buf`, where the head may not extend past `limit` bytes.
/// `line` excludes the CRLF; for anything but kLine it holds the bytes that are there so the
/// caller can still report a bad byte before saying "incomplete" or "too large".
LineKind next_line(std::string_view buf, size_t limit, size_t pos, std::string_view& line,
                   size_t& next) {
  size_t scan_end = std::min(buf.size(), limit);
  const char* start = buf.data() + pos;
  const void* cr = pos < scan_end ? std::memchr(start, '\r', scan_end - pos) : nullptr;
  if (cr == nullptr) {
    line = buf.substr(pos, scan_end - pos);
    return buf.size() >= limit ? LineKind::kTooLarge : LineKind::kPartial;
  }
  size_t c = static_cast<size_t>(static_cast<const char*>(cr) - buf.data());
  line = buf.substr(pos, c - pos);
  if (c + 1 >= limit) return LineKind::kTooLarge;  // the LF would be byte limit + 1
  if (c + 1 >= buf.size()) return LineKind::kPartial;
  if (buf[c + 1] != '\n') return LineKind::kBareCr;
  next = c + 2;
  return LineKind::kLine;
}

/// Checks a request line, or while `complete` is false the part of it received so far (so bad
/// bytes are refused before the line ends). Returns 0 or an error status with `reason`.
int parse_request_line(std::string_view line, bool complete, RequestHead1& out,
                       std::string_view& reason) {
  size_t n = line.size();
  size_t i = 0;
  while (i < n && has_class(line[i], kTchar)) ++i;
  if (i == n) {
    if (!complete) return 0;
    reason = "malformed request line";
    return 400;
  }
  if (i == 0 || line[i] != ' ') {
    reason = bad_byte_reason(line[i], "invalid method");
    return 400;
  }
  out.method = line.substr(0, i);
  size_t t = ++i;
  while (i < n && has_class(line[i], kTargetChar)) ++i;
  if (i == n) {
    if (!complete) return 0;
    reason = "malformed request line";
    return 400;
  }
  if (i == t || line[i] != ' ') {
    reason = bad_byte_reason(line[i], "invalid request-target");
    return 400;
  }
  out.target = line.substr(t, i - t);
  std::string_view version = line.substr(i + 1);
  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
  static constexpr std::string_view kPattern = "HTTP/0.0";
  if (version.size() > kPattern.size()) {
    reason = "invalid HTTP version";
    return 400;
  }
  for (size_t k = 0; k < version.size(); ++k) {
    bool ok = kPattern[k] == '0' ? has_class(version[k], kDigit) : version[k] == kPattern[k];
    if (!ok) {
      reason = bad_byte_reason(version[k], "invalid HTTP version");
      return 400;
    }
  }
  if (!complete) return 0;
  if (version.size() != kPattern.size()) {
    reason = "invalid HTTP version";
    return 400;
  }
  if (version[5] != '1' || version[7] > '1') {
    reason = "unsupported HTTP version";
    return 505;
  }
  out.version_minor = version[7] - '0';
  return 0;
}

/// Checks a status line (or its received part, while `complete` is false). The reason phrase
/// may be empty and the SP before an empty one may be missing. Returns false with `reason`.
bool parse_status_line(std::string_view line, bool complete, ResponseHead1& out,
                       std::string_view& reason) {
  // "HTTP/" DIGIT "." DIGIT SP 3DIGIT
  static constexpr std::string_view kPattern = "HTTP/0.0 000";
  size_t n = line.size();
  for (size_t k = 0; k < std::min(n, kPattern.size()); ++k) {
    bool ok = kPattern[k] == '0' ? has_class(line[k], kDigit) : line[k] == kPattern[k];
    if (!ok) {
      reason = bad_byte_reason(line[k], "malformed status line");
      return false;
    }
  }
  if (n > kPattern.size()) {
    if (line[kPattern.size()] != ' ') {
      reason = bad_byte_reason(line[kPattern.size()], "malformed status line");
      return false;
    }
    if (size_t k = first_non_field_char(line, kPattern.size() + 1); k < n) {
      reason = bad_byte_reason(line[k], "invalid reason phrase");
      return false;
    }
  }
  if (!complete) return true;
  if (n < kPattern.size()) {
    reason = "malformed status line";
    return false;
  }
  if (line[5] != '1' || line[7] > '1') {
    reason = "unsupported HTTP version";
    return false;
  }
  out.version_minor = line[7] - '0';
  out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (out.status < 100) {
    reason = "invalid status code";
    return false;
  }
  out.reason = n > kPattern.size() ? line.substr(kPattern.size() + 1) : std::string_view();
  return true;
}

/// Checks a field line `name ":" OWS value OWS` (or its received part, while `complete` is
/// false) and yields the name and the OWS-trimmed value. Returns false with `reason`.
bool parse_field_line(std::string_view line, bool complete, std::string_view& name,
                      std::string_view& value, std::string_view& reason) {
  size_t n = line.size();
  if (n > 0 && is_ows(line[0])) {
    reason = "obs-fold or whitespace before field name";
    return false;
  }
  size_t i = 0;
  while (i < n && has_class(line[i], kTchar)) ++i;
  if (i == n) {
    if (complete) reason = "field line without colon";
    return !complete;
  }
  if (line[i] != ':') {
    reason = is_ows(line[i]) ? "whitespace before colon"
                             : bad_byte_reason(line[i], "invalid field name");
    return false;
  }
  if (i == 0) {
    reason = "empty field name";
    return false;
  }
  if (size_t k = first_non_field_char(line, i + 1); k < n) {
    reason = bad_byte_reason(line[k], "invalid byte in field value");
    return false;
  }
  name = line.substr(0, i);
  size_t b = i + 1;
  size_t e = n;
  while (b < e && is_ows(line[b])) ++b;
  while (e > b && is_ows(line[e - 1])) --e;
  value = line.substr(b, e - b);
  return true;
}

/// What a line's end says about the head: 0 = a complete line, -1 = need more bytes, else the
/// error status (with `reason`). Shared by the start line and field line readers.
int line_end_status(LineKind kind, int bad_status, int too_large_status, std::string_view& reason) {
  switch (kind) {
    case LineKind::kLine:
      return 0;
    case LineKind::kPartial:
      return -1;
    case LineKind::kTooLarge:
      reason = "head too large";
      return too_large_status;
    case LineKind::kBareCr:
      reason = "bare CR";
      return bad_status;
  }
  return bad_status;
}

using Fields = std::vector<std::pair<std::string_view, std::string_view>>;

/// Reads the field lines after the start line at `pos` until the empty line. Returns 0 with
/// `pos` just past the head, -1 if incomplete, or an error status with `reason`.
/// `too_large_status` is what an over-long head or too many fields get.
int parse_fields(std::string_view buf, size_t limit, size_t& pos, Fields& fields, int bad_status,
                 int too_large_status, std::string_view& reason) {
  for (;;) {
    std::string_view line;
    size_t next = 0;
    LineKind kind = next_line(buf, limit, pos, line, next);
    if (kind == LineKind::kLine && line.empty()) {
      pos = next;
      return 0;
    }
    std::string_view name;
    std::string_view value;
    if (!parse_field_line(line, kind == LineKind::kLine, name, value, reason)) return bad_status;
    if (int st = line_end_status(kind, bad_status, too_large_status, reason)) return st;
    if (fields.size() >= kMaxFields) {
      reason = "too many header fields";
      return too_large_status;
    }
    fields.emplace_back(name, value);
    pos = next;
  }
}

/// Content-Length = 1*DIGIT; at most 19 digits so it fits a uint64_t.
bool parse_content_length(std::string_view v, uint64_t& out) {
  if (v.empty() || v.size() > 19) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (!has_class(c, kDigit)) return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  out = n;
  return true;
}

/// Host = uri-host [ ":" port ] (RFC 9110 §7.2). Empty is allowed (RFC 9112 §3.2); IPvFuture
/// literals and userinfo are not.
bool valid_host(std::string_view h) {
  size_t i = 0;
  if (h.empty()) return true;
  if (h[0] == '[') {
    size_t close = h.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (i = 1; i < close; ++i) {
      if (!has_class(h[i], kHexDigit) && h[i] != ':' && h[i] != '.') return false;
    }
    i = close + 1;
  } else {
    while (i < h.size() && h[i] != ':') {
      if (h[i] == '%') {
        if (i + 2 >= h.size() || !has_class(h[i + 1], kHexDigit) ||
            !has_class(h[i + 2], kHexDigit)) {
          return false;
        }
        i += 3;
        continue;
      }
      if (!has_class(h[i], kRegName)) return false;
      ++i;
    }
    if (i == 0) return false;  // a port without a host
  }
  if (i == h.size()) return true;
  if (h[i] != ':') return false;
  std::string_view port = h.substr(i + 1);
  if (port.size() > 5) return false;
  return std::all_of(port.begin(), port.end(), [](char c) { return has_class(c, kDigit); });
}

/// What the Transfer-Encoding fields of a message say, all fields taken as one list.
struct TransferCodings {
  bool present = false;       ///< at least one Transfer-Encoding field
  int chunked = 0;            ///< times "chunked" appears
  bool last_chunked = false;  ///< "chunked" is the final coding
  bool other = false;         ///< a coding other than chunked appears
};

void add_codings(std::string_view value, TransferCodings& te) {
  te.present = true;
  for_each_token(value, [&](std::string_view coding) {
    bool chunked = iequals(coding, "chunked");
    te.chunked += chunked ? 1 : 0;
    te.other = te.other || !chunked;
    te.last_chunked = chunked;
  });
}

/// The Connection options a head may carry.
struct ConnectionOptions {
  bool close = false;
  bool keep_alive = false;
  bool upgrade = false;
};

void add_connection(std::string_view value, ConnectionOptions& c) {
  for_each_token(value, [&](std::string_view option) {
    c.close = c.close || iequals(option, "close");
    c.keep_alive = c.keep_alive || iequals(option, "keep-alive");
    c.upgrade = c.upgrade || iequals(option, "upgrade");
  });
}

template <typename Head>
ParseStatus fail(Head& out, int status, std::string_view reason) {
  out.error_status = status;
  out.error_reason = reason;
  return ParseStatus::kError;
}

/// Resets `out` for a new parse, keeping the capacity of its field vector.
template <typename Head>
void reset(Head& out) {
  Fields fields = std::move(out.fields);
  fields.clear();
  if (fields.capacity() < 32) fields.reserve(32);
  out = Head{};
  out.fields = std::move(fields);
}

ParseStatus request_semantics(RequestHead1& out) {
  size_t host_count = 0;
  size_t cl_count = 0;
  std::string_view cl_value;
  TransferCodings te;
  ConnectionOptions conn;
  bool has_upgrade = false;
  for (const auto& [name, value] : out.fields) {
    if (iequals(name, "host")) {
      ++host_count;
      out.host = value;
    } else if (iequals(name, "content-length")) {
      ++cl_count;
      cl_value = value;
    } else if (iequals(name, "transfer-encoding")) {
      add_codings(value, te);
    } else if (iequals(name, "connection")) {
      add_connection(value, conn);
    } else if (iequals(name, "expect")) {
      out.expect_continue = out.expect_continue || iequals(value, "100-continue");
    } else if (iequals(name, "upgrade")) {
      has_upgrade = true;
    }
  }
  if (host_count > 1) return fail(out, 400, "multiple host");
  if (host_count == 0 && out.version_minor == 1) return fail(out, 400, "missing host");
  if (!valid_host(out.host)) return fail(out, 400, "invalid host");
  if (cl_count > 1) return fail(out, 400, "multiple content-length");
  if (cl_count == 1 && !parse_content_length(cl_value, out.content_length)) {
    return fail(out, 400, "invalid content-length");
  }
  if (te.present) {
    if (out.version_minor == 0) return fail(out, 400, "transfer-encoding in HTTP/1.0");
    if (cl_count > 0) return fail(out, 400, "content-length with transfer-encoding");
    if (te.chunked > 1) return fail(out, 400, "chunked applied twice");
    if (!te.last_chunked) return fail(out, 400, "chunked is not the final transfer coding");
    if (te.other) return fail(out, 501, "unsupported transfer coding");
    out.framing = BodyFraming::kChunked;
  } else if (cl_count == 1) {
    out.framing = BodyFraming::kContentLength;
  }
  out.keep_alive = out.version_minor == 1 ? !conn.close : conn.keep_alive && !conn.close;
  out.upgrade = conn.upgrade && has_upgrade;
  return ParseStatus::kComplete;
}

ParseStatus response_semantics(std::string_view request_method, ResponseHead1& out) {
  bool has_cl = false;
  bool bad_cl = false;
  bool conflicting_cl = false;
  TransferCodings te;
  ConnectionOptions conn;
  for (const auto& [name, value] : out.fields) {
    if (iequals(name, "content-length")) {
      // Identical repeats, as fields or as a list, are one value (RFC 9110 §8.6).
      bool any = false;
      for_each_token(value, [&](std::string_view item) {
        uint64_t n = 0;
        any = true;
        if (!parse_content_length(item, n)) {
          bad_cl = true;
        } else if (has_cl && n != out.content_length) {
          conflicting_cl = true;
        } else {
          has_cl = true;
          out.content_length = n;
        }
      });
      bad_cl = bad_cl || !any;
    } else if (iequals(name, "transfer-encoding")) {
      add_codings(value, te);
    } else if (iequals(name, "connection")) {
      add_connection(value, conn);
    }
  }
  if (bad_cl) return fail(out, 502, "invalid content-length");
  if (conflicting_cl) return fail(out, 502, "conflicting content-length");
  if (te.present) {
    if (out.version_minor == 0) return fail(out, 502, "transfer-encoding in HTTP/1.0");
    if (has_cl) return fail(out, 502, "content-length with transfer-encoding");
    if (te.chunked > 1) return fail(out, 502, "chunked applied twice");
  }
  bool no_body = iequals(request_method, "HEAD") || out.status < 200 || out.status == 204 ||
                 out.status == 304 || (iequals(request_method, "CONNECT") && out.status < 300);
  if (no_body) {
    out.framing = BodyFraming::kNone;
  } else if (te.present) {
    // RFC 9112 §6.3 item 4: a response whose final coding is not chunked runs until close.
    out.framing = te.last_chunked ? BodyFraming::kChunked : BodyFraming::kUntilClose;
  } else if (has_cl) {
    out.framing = BodyFraming::kContentLength;
  } else {
    out.framing = BodyFraming::kUntilClose;
  }
  out.keep_alive = !conn.close && (out.version_minor == 1 || conn.keep_alive) &&
                   out.framing != BodyFraming::kUntilClose;
  return ParseStatus::kComplete;
}

}  // namespace

bool is_tchar(char c) {
  return has_class(c, kTchar);
}

ParseStatus parse_request_head(std::string_view buf, size_t max_head_bytes, RequestHead1& out) {
  reset(out);
  size_t pos = 0;
  size_t empty_lines = 0;
  for (;;) {
    std::string_view line;
    size_t next = 0;
    LineKind kind = next_line(buf, max_head_bytes, pos, line, next);
    if (kind == LineKind::kLine && line.empty()) {
      if (++empty_lines > kMaxLeadingEmptyLines) {
        return fail(out, 400, "too many empty lines before request");
      }
      pos = next;
      continue;
    }
    std::string_view reason;
    if (int status = parse_request_line(line, kind == LineKind::kLine, out, reason)) {
      return fail(out, status, reason);
    }
    if (int st = line_end_status(kind, 400, 431, reason)) {
      return st < 0 ? ParseStatus::kIncomplete : fail(out, st, reason);
    }
    pos = next;
    break;
  }
  std::string_view reason;
  int status = parse_fields(buf, max_head_bytes, pos, out.fields, 400, 431, reason);
  if (status < 0) return ParseStatus::kIncomplete;
  if (status > 0) return fail(out, status, reason);
  out.head_length = pos;
  return request_semantics(out);
}

ParseStatus parse_response_head(std::string_view buf, size_t max_head_bytes,
                                std::string_view request_method, ResponseHead1& out) {
  reset(out);
  std::string_view line;
  size_t pos = 0;
  LineKind kind = next_line(buf, max_head_bytes, 0, line, pos);
  std::string_view reason;
  if (!parse_status_line(line, kind == LineKind::kLine, out, reason)) {
    return fail(out, 502, reason);
  }
  if (int st = line_end_status(kind, 502, 502, reason)) {
    return st < 0 ? ParseStatus::kIncomplete : fail(out, st, reason);
  }
  int status = parse_fields(buf, max_head_bytes, pos, out.fields, 502, 502, reason);
  if (status < 0) return ParseStatus::kIncomplete;
  if (status > 0) return fail(out, status, reason);
  out.head_length = pos;
  return response_semantics(request_method, out);
}

// --- Chunked decoding ----------------------------------------------------------------------

namespace {

/// Result of looking for a CRLF-terminated line at the start of an evbuffer.
enum class EvLine : uint8_t { kFound, kNeedMore, kTooLong, kBareLf };

/// Looks for a line of at most `max_len` bytes (CRLF included) at the start of `in` and makes
/// it contiguous; only the first `max_len` bytes are ever scanned, so a huge buffer without a
/// line end costs no more than a short one. On kFound, `line` excludes the CRLF and stays valid
/// until `in` is modified.
EvLine read_line(evbuffer* in, size_t max_len, std::string_view& line) {
  size_t window = std::min(evbuffer_get_length(in), max_len);
  evbuffer_ptr ptr;
  if (evbuffer_ptr_set(in, &ptr, 0, EVBUFFER_PTR_SET) != 0) return EvLine::kNeedMore;
  size_t off = 0;
  size_t lf = SIZE_MAX;
  while (off < window) {
    evbuffer_iovec v;
    if (evbuffer_peek(in, static_cast<ev_ssize_t>(window - off), &ptr, &v, 1) < 1) break;
    size_t len = std::min(v.iov_len, window - off);
    if (const void* p = std::memchr(v.iov_base, '\n', len)) {
      lf = off +
           static_cast<size_t>(static_cast<const char*>(p) - static_cast<const char*>(v.iov_base));
      break;
    }
    off += len;
    if (off < window && evbuffer_ptr_set(in, &ptr, len, EVBUFFER_PTR_ADD) != 0) break;
  }
  if (lf == SIZE_MAX) {
    return evbuffer_get_length(in) >= max_len ? EvLine::kTooLong : EvLine::kNeedMore;
  }
  const unsigned char* data = evbuffer_pullup(in, static_cast<ev_ssize_t>(lf + 1));
  if (data == nullptr || lf == 0 || data[lf - 1] != '\r') return EvLine::kBareLf;
  line = std::string_view(reinterpret_cast<const char*>(data), lf - 1);
  return EvLine::kFound;
}

/// chunk-size [ chunk-ext ]: 1*16HEXDIG, then optionally BWS ";" and extension bytes, which are
/// skipped (no CTLs but HTAB).
bool parse_chunk_size(std::string_view line, uint64_t& size, std::string_view& reason) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < line.size() && has_class(line[i], kHexDigit)) {
    if (i == kMaxChunkSizeDigits) {
      reason = "chunk size too large";
      return false;
    }
    n = (n << 4) | static_cast<uint64_t>(hex_value(line[i]));
    ++i;
  }
  if (i == 0) {
    reason = "invalid chunk size";
    return false;
  }
  size_t j = i;
  while (j < line.size() && is_ows(line[j])) ++j;
  if (j < line.size() && line[j] != ';') {
    reason = "invalid chunk size";
    return false;
  }
  if (j == line.size() && j != i) {
    reason = "whitespace after chunk size";
    return false;
  }
  for (size_t k = j; k < line.size(); ++k) {
    if (!has_class(line[k], kFieldChar)) {
      reason = bad_byte_reason(line[k], "invalid chunk extension");
      return false;
    }
  }
  size = n;
  return true;
}

}  // namespace

ChunkedDecoder::Status ChunkedDecoder::decode(evbuffer* in, evbuffer* out, size_t max_out) {
  size_t budget = max_out;
  auto error = [this](std::string_view reason) {
    state_ = State::kError;
    error_ = reason;
    return Status::kError;
  };
  for (;;) {
    switch (state_) {
      case State::kDone:
        return Status::kDone;
      case State::kError:
        return Status::kError;
      case State::kSize: {
        std::string_view line;
        switch (read_line(in, kMaxChunkLine + 2, line)) {
          case EvLine::kFound:
            break;
          case EvLine::kNeedMore:
            return Status::kNeedMore;
          case EvLine::kTooLong:
            return error("chunk size line too long");
          case EvLine::kBareLf:
            return error("bare LF in chunk size line");
        }
        std::string_view reason;
        uint64_t size = 0;
        if (!parse_chunk_size(line, size, reason)) return error(reason);
        evbuffer_drain(in, line.size() + 2);
        remaining_ = size;
        state_ = size == 0 ? State::kTrailer : State::kData;
        break;
      }
      case State::kData: {
        if (remaining_ == 0) {
          state_ = State::kDataCrlf;
          break;
        }
        size_t n = std::min({static_cast<size_t>(std::min<uint64_t>(remaining_, kMaxMove)),
                             evbuffer_get_length(in), budget});
        if (n == 0) return Status::kNeedMore;
        int moved = evbuffer_remove_buffer(in, out, n);
        if (moved < 0 || static_cast<size_t>(moved) != n) return error("evbuffer move failed");
        remaining_ -= n;
        decoded_ += n;
        budget -= n;
        break;
      }
      case State::kDataCrlf: {
        char crlf[2];
        ev_ssize_t got = evbuffer_copyout(in, crlf, 2);
        if ((got >= 1 && crlf[0] != '\r') || (got == 2 && crlf[1] != '\n')) {
          return error("missing CRLF after chunk data");
        }
        if (got < 2) return Status::kNeedMore;
        evbuffer_drain(in, 2);
        state_ = State::kSize;
        break;
      }
      case State::kTrailer: {
        std::string_view line;
        switch (read_line(in, kMaxTrailerBytes - trailer_bytes_, line)) {
          case EvLine::kFound:
            break;
          case EvLine::kNeedMore:
            return Status::kNeedMore;
          case EvLine::kTooLong:
            return error("trailer section too large");
          case EvLine::kBareLf:
            return error("bare LF in trailer section");
        }
        size_t used = line.size() + 2;
        if (line.empty()) {
          evbuffer_drain(in, used);
          state_ = State::kDone;
          return Status::kDone;
        }
        std::string_view name;
        std::string_view value;
        std::string_view reason;
        if (!parse_field_line(line, true, name, value, reason)) return error(reason);
        trailers_.add(name, value);
        trailer_bytes_ += used;
        evbuffer_drain(in, used);
        break;
      }
    }
  }
}

void append_chunk_header(evbuffer* out, size_t len) {
  evbuffer_add_printf(out, "%zx\r\n", len);
}

void append_last_chunk(evbuffer* out, const Headers* trailers) {
  evbuffer_add(out, "0\r\n", 3);
  if (trailers) {
    for (const Field& f : *trailers) {
      evbuffer_add_printf(out, "%.*s: %.*s\r\n", static_cast<int>(f.name.size()), f.name.data(),
                          static_cast<int>(f.value.size()), f.value.data());
    }
  }
  evbuffer_add(out, "\r\n", 2);
}

}  // namespace pforte::http
