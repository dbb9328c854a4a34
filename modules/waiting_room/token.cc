#include "modules/waiting_room/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cassert>
#include <optional>

namespace pforte::modules::waiting_room {

namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kMacBytes = 32;
// version, kind, room_len, one room byte, four one-byte varints.
constexpr size_t kMinPayload = 3 + 1 + 4;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::string b64url_encode(const uint8_t* data, size_t n) {
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

// Strict: no padding, no other characters, and the unused low bits of the last
// character must be zero, so that one byte string has exactly one text.
std::optional<std::vector<uint8_t>> b64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = b64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return std::nullopt;  // non-zero unused bits
  return out;
}

void put_varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

// Minimal LEB128 only: a trailing zero byte after a continuation, or more than
// 64 bits, fails.
std::optional<uint64_t> get_varint(const uint8_t*& p, const uint8_t* end) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return std::nullopt;
    uint8_t b = *p++;
    if (shift == 63 && b > 1) return std::nullopt;
    v |= uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) {
      if (b == 0 && shift != 0) return std::nullopt;
      return v;
    }
  }
  return std::nullopt;
}

std::array<uint8_t, kMacBytes> mac(std::string_view key, const uint8_t* data, size_t n) {
  std::array<uint8_t, kMacBytes> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data, n, out.data(), &len);
  assert(len == kMacBytes);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string_view to_string(DecodeError e) {
  switch (e) {
    case DecodeError::kMalformed:
      return "malformed";
    case DecodeError::kBadSignature:
      return "bad signature";
    case DecodeError::kExpired:
      return "expired";
    case DecodeError::kOtherRoom:
      return "other room";
  }
  return "?";
}

std::expected<KeyRing, std::string> KeyRing::parse(std::string_view text) {
  KeyRing ring;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    if (line.size() < kMinKeyBytes) {
      return std::unexpected("line " + std::to_string(line_no) + ": key shorter than " +
                             std::to_string(kMinKeyBytes) + " bytes");
    }
    ring.keys_.emplace_back(line);
  }
  if (ring.keys_.empty()) return std::unexpected(std::string("no key"));
  return ring;
}

KeyRing::~KeyRing() {
  for (std::string& k : keys_) OPENSSL_cleanse(k.data(), k.size());
}

std::string encode(const Token& token, const KeyRing& keys) {
  assert(!token.room.empty() && token.room.size() <= kMaxRoomName);
  assert(token.issued_at >= 0 && token.expires_at >= token.issued_at);
  std::vector<uint8_t> buf;
  buf.reserve(3 + token.room.size() + 6 * 10 + kMacBytes);
  buf.push_back(kVersion);
  buf.push_back(static_cast<uint8_t>(token.kind));
  buf.push_back(static_cast<uint8_t>(token.room.size()));
  buf.insert(buf.end(), token.room.begin(), token.room.end());
  put_varint(buf, token.epoch);
  put_varint(buf, token.number);
  put_varint(buf, static_cast<uint64_t>(token.issued_at));
  put_varint(buf, static_cast<uint64_t>(token.expires_at - token.issued_at));
  if (token.kind == TokenKind::kScheduled) {
    assert(token.not_before_ms >= 0);
    put_varint(buf, token.admission);
    put_varint(buf, static_cast<uint64_t>(token.not_before_ms));
  }
  std::array<uint8_t, kMacBytes> tag = mac(keys.signing_key(), buf.data(), buf.size());
  buf.insert(buf.end(), tag.begin(), tag.end());
  return b64url_encode(buf.data(), buf.size());
}

std::expected<Token, DecodeError> decode(std::string_view text, std::string_view room, int64_t now,
                                         const KeyRing& keys) {
  if (text.size() > kMaxTokenText) return std::unexpected(DecodeError::kMalformed);
  std::optional<std::vector<uint8_t>> raw = b64url_decode(text);
  if (!raw || raw->size() < kMinPayload + kMacBytes) {
    return std::unexpected(DecodeError::kMalformed);
  }
  const size_t payload = raw->size() - kMacBytes;
  const uint8_t* given = raw->data() + payload;
  // Try every key; each comparison is constant time, and there are only a few
  // keys.
  bool verified = false;
  for (const std::string& key : keys.keys()) {
    std::array<uint8_t, kMacBytes> want = mac(key, raw->data(), payload);
    verified |= CRYPTO_memcmp(want.data(), given, kMacBytes) == 0;
  }
  if (!verified) return std::unexpected(DecodeError::kBadSignature);

  const uint8_t* p = raw->data();
  const uint8_t* end = p + payload;
  Token t;
  if (*p++ != kVersion) return std::unexpected(DecodeError::kMalformed);
  uint8_t kind = *p++;
  if (kind != static_cast<uint8_t>(TokenKind::kTicket) &&
      kind != static_cast<uint8_t>(TokenKind::kAdmission) &&
      kind != static_cast<uint8_t>(TokenKind::kScheduled)) {
    return std::unexpected(DecodeError::kMalformed);
  }
  t.kind = static_cast<TokenKind>(kind);
  size_t room_len = *p++;
  if (room_len == 0 || room_len > kMaxRoomName || static_cast<size_t>(end - p) < room_len) {
    return std::unexpected(DecodeError::kMalformed);
  }
  t.room.assign(reinterpret_cast<const char*>(p), room_len);
  p += room_len;
  std::optional<uint64_t> epoch = get_varint(p, end);
  std::optional<uint64_t> number = get_varint(p, end);
  std::optional<uint64_t> issued = get_varint(p, end);
  std::optional<uint64_t> lifetime = get_varint(p, end);
  if (!epoch || !number || !issued || !lifetime || *epoch > UINT32_MAX || *issued > INT64_MAX / 2 ||
      *lifetime > INT64_MAX / 2) {
    return std::unexpected(DecodeError::kMalformed);
  }
  if (t.kind == TokenKind::kScheduled) {
    std::optional<uint64_t> admission = get_varint(p, end);
    std::optional<uint64_t> not_before = get_varint(p, end);
    if (!admission || !not_before || *not_before > INT64_MAX / 2) {
      return std::unexpected(DecodeError::kMalformed);
    }
    t.admission = *admission;
    t.not_before_ms = static_cast<int64_t>(*not_before);
  }
  if (p != end) return std::unexpected(DecodeError::kMalformed);
  t.epoch = static_cast<uint32_t>(*epoch);
  t.number = *number;
  t.issued_at = static_cast<int64_t>(*issued);
  t.expires_at = t.issued_at + static_cast<int64_t>(*lifetime);
  if (t.room != room) return std::unexpected(DecodeError::kOtherRoom);
  if (now >= t.expires_at) return std::unexpected(DecodeError::kExpired);
  return t;
}

namespace {

/// Calls `fn(pair, is_ours)` for each non-empty `name=value` (or bare) pair of a Cookie header
/// value, trimmed; `is_ours` says whether its name is `pforte_wr`. Stops when `fn` returns false.
template <class Fn>
void for_each_cookie(std::string_view header, Fn&& fn) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header.remove_prefix(semi == std::string_view::npos ? header.size() : semi + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    bool ours = eq != std::string_view::npos && trim(pair.substr(0, eq)) == kCookieName;
    if (!fn(pair, ours)) return;
  }
}

}  // namespace

std::string_view find_cookie(std::string_view header) {
  std::string_view value;
  for_each_cookie(header, [&](std::string_view pair, bool ours) {
    if (!ours) return true;
    value = trim(pair.substr(pair.find('=') + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return false;
  });
  return value;
}

std::string without_cookie(std::string_view header) {
  std::string out;
  for_each_cookie(header, [&](std::string_view pair, bool ours) {
    if (ours) return true;
    if (!out.empty()) out.append("; ");
    out.append(pair);
    return true;
  });
  return out;
}

std::string set_cookie_value(std::string_view token_text, int64_t max_age, bool tls) {
  std::string v;
  v.reserve(token_text.size() + 80);
  v.append(kCookieName).append("=").append(token_text);
  v.append("; Path=/; Max-Age=").append(std::to_string(max_age < 0 ? 0 : max_age));
  v.append("; HttpOnly; SameSite=Lax");
  if (tls) v.append("; Secure");
  return v;
}

}  // namespace pforte::modules::waiting_room
