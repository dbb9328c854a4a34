// The waiting-room cookie `pforte_wr`: a ticket (a place in the line) or an admission (the right to
// pass), signed with HMAC-SHA256 so that no client can forge, alter or stretch it.
//
// Wire form (before base64url without padding):
//   version(1) kind(1) room_len(1) room(room_len) varint epoch, varint number, varint issued_at,
//   varint lifetime (= expires_at - issued_at), for a scheduled admission also varint admission and
//   varint not_before_ms, then HMAC-SHA256 (32 bytes) over all of it.
// Varints are LEB128 and must be minimal; base64url must be canonical (no padding, zero unused
// bits), so every text has exactly one meaning and any altered character fails.
//
// Pure: no I/O, the clock is passed in. Thread affinity: a KeyRing is immutable after parse() and
// may be shared by all workers; encode() and decode() are reentrant.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace pforte::modules::waiting_room {

/// The cookie name, the same for every room (a cookie of another room is a new
/// arrival here).
inline constexpr std::string_view kCookieName = "pforte_wr";
/// Longest room name a token carries (config validation enforces it).
inline constexpr size_t kMaxRoomName = 64;
/// Longer cookie values are rejected before any work.
inline constexpr size_t kMaxTokenText = 256;

enum class TokenKind : uint8_t {
  kTicket = 1,     ///< a place in the line; `number` is the raw ticket number
  kAdmission = 2,  ///< admitted; `number` is the admission id the room counts uses for
  kScheduled = 3,  ///< admitted from `not_before_ms` on (a token reserved for a called ticket
                   ///< that found none free); `number` is the raw ticket, `admission` the id
};

/// One decoded (and verified) cookie.
struct Token {
  TokenKind kind = TokenKind::kTicket;
  std::string room;        ///< the room that issued it (at most kMaxRoomName bytes)
  uint32_t epoch = 0;      ///< the room state's epoch: a room restarted without its state file
                           ///< has a new epoch, so its old cookies become new arrivals
  uint64_t number = 0;     ///< ticket: raw ticket number; admission: admission id (use-bound key:
                           ///< the room's AdmissionLedger meters requests per admission id)
  int64_t issued_at = 0;   ///< unix seconds; ticket: first arrival (kept on renewal, for the
                           ///< wait-time metric); admission: when it was admitted
  int64_t expires_at = 0;  ///< unix seconds; valid while now < expires_at
  uint64_t admission = 0;  ///< kScheduled: the admission id it becomes
  int64_t not_before_ms = 0;  ///< kScheduled: unix milliseconds from which it passes
};

/// Why a cookie was refused. The caller treats every one of them as a new
/// arrival.
enum class DecodeError : uint8_t {
  kMalformed,     ///< bad base64url, length, version, kind or varint
  kBadSignature,  ///< no key of the ring produced its MAC
  kExpired,       ///< now >= expires_at
  kOtherRoom,     ///< signed by us, but for another room
};

std::string_view to_string(DecodeError e);

/// HMAC keys, from the `secret_file` text: one key per line, used as its bytes
/// (e.g. the output of `openssl rand -hex 32`). Blank lines and lines starting
/// with '#' are skipped; surrounding whitespace is trimmed. The first key
/// signs; every key verifies, so rotation is: add the new key as the first
/// line, reload, and drop the old one after the longest cookie lifetime. Key
/// bytes are wiped on destruction. Immutable after parse(); share it between
/// workers.
class KeyRing {
 public:
  static constexpr size_t kMinKeyBytes = 32;

  /// Parses the key file text. Errors name the line: "line 3: key shorter than
  /// 32 bytes".
  static std::expected<KeyRing, std::string> parse(std::string_view text);

  KeyRing(KeyRing&&) = default;
  KeyRing& operator=(KeyRing&&) = default;
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;
  ~KeyRing();

  size_t size() const { return keys_.size(); }
  /// The signing key.
  std::string_view signing_key() const { return keys_.front(); }
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  KeyRing() = default;
  std::vector<std::string> keys_;  ///< never empty after parse()
};

/// Encodes and signs `token` with the ring's first key. Precondition:
/// token.room is 1 to kMaxRoomName bytes and expires_at >= issued_at >= 0.
std::string encode(const Token& token, const KeyRing& keys);

/// Decodes a cookie value, verifies its MAC with every key (constant time per
/// key), and checks that it belongs to `room` and has not expired at `now`
/// (unix seconds).
std::expected<Token, DecodeError> decode(std::string_view text, std::string_view room, int64_t now,
                                         const KeyRing& keys);

/// The value of the `pforte_wr` cookie in one Cookie header value ("a=1;
/// pforte_wr=xyz"), or empty if there is none.
std::string_view find_cookie(std::string_view cookie_header);

/// `cookie_header` without any `pforte_wr` pair (what the platform gets: the token is pforte's
/// business only). Empty if nothing else was in it.
std::string without_cookie(std::string_view cookie_header);

/// A Set-Cookie value: HttpOnly, SameSite=Lax, Path=/, Secure if `tls`; Max-Age
/// = `max_age` seconds (the browser may drop it then; the signed expiry is what
/// counts).
std::string set_cookie_value(std::string_view token_text, int64_t max_age, bool tls);

}  // namespace pforte::modules::waiting_room
