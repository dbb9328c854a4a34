#include "bench/origin/request.h"

#include "bench/origin/options.h"

namespace pforte::origin {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(token) for each comma-separated element of a list field.
template <class Fn>
void for_each_token(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& field : headers) {
    if (iequals(field.name, name)) return field.value;
  }
  return std::nullopt;
}

std::optional<ParseError> parse_request_head(std::string_view head, Request& out) {
  out.headers.clear();
  out.body_kind = BodyKind::kNone;
  out.content_length = 0;
  out.expect_continue = false;

  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return ParseError::kBadRequest;
  std::string_view line = head.substr(0, eol);
  head.remove_prefix(eol + 2);

  // request-line = method SP request-target SP HTTP-version
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return ParseError::kBadRequest;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return ParseError::kBadRequest;
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(out.method) || out.target.empty()) return ParseError::kBadRequest;
  for (char c : out.target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return ParseError::kBadRequest;
  }
  if (version.size() != 8 || !version.starts_with("HTTP/1.") || version[7] < '0' ||
      version[7] > '9') {
    return ParseError::kBadRequest;
  }
  out.minor_version = version[7] - '0';
  size_t question = out.target.find('?');
  out.path = out.target.substr(0, question);
  out.query =
      question == std::string_view::npos ? std::string_view() : out.target.substr(question + 1);

  bool saw_close = false;
  bool saw_keep_alive = false;
  bool saw_length = false;
  bool saw_transfer_encoding = false;
  bool chunked_last = false;
  while (true) {
    eol = head.find("\r\n");
    if (eol == std::string_view::npos) return ParseError::kBadRequest;
    line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return ParseError::kBadRequest;  // obs-fold
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return ParseError::kBadRequest;
    HeaderField field{line.substr(0, colon), trim(line.substr(colon + 1))};
    if (!is_token(field.name)) return ParseError::kBadRequest;
    for (char c : field.value) {
      if ((static_cast<unsigned char>(c) < ' ' && c != '\t') || c == 0x7f) {
        return ParseError::kBadRequest;
      }
    }
    if (out.headers.size() >= kMaxHeaderFields) return ParseError::kTooManyFields;
    out.headers.push_back(field);

    if (iequals(field.name, "content-length")) {
      auto length = parse_u64(field.value);
      if (!length || *length > (uint64_t{1} << 62)) return ParseError::kBadRequest;
      if (saw_length && *length != out.content_length) return ParseError::kBadRequest;
      saw_length = true;
      out.content_length = *length;
    } else if (iequals(field.name, "transfer-encoding")) {
      saw_transfer_encoding = true;
      for_each_token(field.value,
                     [&](std::string_view coding) { chunked_last = iequals(coding, "chunked"); });
    } else if (iequals(field.name, "connection")) {
      for_each_token(field.value, [&](std::string_view option) {
        if (iequals(option, "close")) saw_close = true;
        if (iequals(option, "keep-alive")) saw_keep_alive = true;
      });
    } else if (iequals(field.name, "expect")) {
      out.expect_continue = iequals(field.value, "100-continue");
    }
  }
  if (!head.empty()) return ParseError::kBadRequest;

  if (saw_transfer_encoding) {
    if (!chunked_last) return ParseError::kNotImplemented;
    // Both framings at once is a smuggling pattern; chunked wins and the connection closes.
    out.body_kind = BodyKind::kChunked;
    out.content_length = 0;
    if (saw_length) saw_close = true;
  } else if (saw_length && out.content_length > 0) {
    out.body_kind = BodyKind::kLength;
  }
  out.keep_alive = out.minor_version >= 1 ? !saw_close : (saw_keep_alive && !saw_close);
  return std::nullopt;
}

std::optional<std::string_view> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    if (name == key) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace pforte::origin
