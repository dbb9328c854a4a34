#define BOOST_TEST_MODULE waiting_room_token
#include "modules/waiting_room/token.h"

#include <boost/test/unit_test.hpp>

using namespace pforte::modules::waiting_room;

namespace {

const std::string kKeyA = "a3f1c0ffee0123456789abcdef0123456789abcdef0123456789abcdef012345";
const std::string kKeyB = "b7e2deadbeef0123456789abcdef0123456789abcdef0123456789abcdef0123";

KeyRing ring(std::string_view text) {
  auto r = KeyRing::parse(text);
  BOOST_REQUIRE(r.has_value());
  return std::move(*r);
}

Token ticket() {
  Token t;
  t.kind = TokenKind::kTicket;
  t.room = "login";
  t.epoch = 0xdeadbeef;
  t.number = 123456;
  t.issued_at = 1'790'000'000;
  t.expires_at = 1'790'000'075;
  return t;
}

}  // namespace

BOOST_AUTO_TEST_CASE(ticket_and_admission_round_trip) {
  KeyRing keys = ring(kKeyA);
  Token t = ticket();
  auto d = decode(encode(t, keys), "login", t.issued_at, keys);
  BOOST_REQUIRE(d.has_value());
  BOOST_TEST((d->kind == TokenKind::kTicket));
  BOOST_TEST(d->room == "login");
  BOOST_TEST(d->epoch == 0xdeadbeefu);
  BOOST_TEST(d->number == 123456u);
  BOOST_TEST(d->issued_at == t.issued_at);
  BOOST_TEST(d->expires_at == t.expires_at);

  Token a = t;
  a.kind = TokenKind::kAdmission;
  a.number = UINT64_MAX;
  a.expires_at = a.issued_at + 900;
  auto e = decode(encode(a, keys), "login", a.issued_at + 899, keys);
  BOOST_REQUIRE(e.has_value());
  BOOST_TEST((e->kind == TokenKind::kAdmission));
  BOOST_TEST(e->number == UINT64_MAX);
}

BOOST_AUTO_TEST_CASE(scheduled_admission_round_trips_and_every_bit_counts) {
  KeyRing keys = ring(kKeyA);
  Token s = ticket();
  s.kind = TokenKind::kScheduled;
  s.admission = 987654321;
  s.not_before_ms = 1'790'000'012'345;
  const std::string text = encode(s, keys);
  auto d = decode(text, "login", s.issued_at, keys);
  BOOST_REQUIRE(d.has_value());
  BOOST_TEST((d->kind == TokenKind::kScheduled));
  BOOST_TEST(d->number == 123456u);
  BOOST_TEST(d->admission == 987654321u);
  BOOST_TEST(d->not_before_ms == 1'790'000'012'345);
  BOOST_TEST(text.size() < 120u);
  // Moving the due time earlier, or any other change, breaks the signature.
  for (size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    BOOST_TEST(!decode(bad, "login", s.issued_at, keys).has_value());
  }
  // Its fields are signed: a ticket is not read as a scheduled admission or the other way.
  Token plain = ticket();
  BOOST_TEST(decode(encode(plain, keys), "login", s.issued_at, keys)->not_before_ms == 0);
}

BOOST_AUTO_TEST_CASE(token_is_compact_base64url) {
  KeyRing keys = ring(kKeyA);
  std::string text = encode(ticket(), keys);
  BOOST_TEST(text.size() < 100u);
  BOOST_TEST(
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
      std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_single_bit_flip_is_rejected) {
  KeyRing keys = ring(kKeyA);
  Token t = ticket();
  const std::string text = encode(t, keys);
  for (size_t i = 0; i < text.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string altered = text;
      altered[i] = static_cast<char>(altered[i] ^ (1 << bit));
      auto d = decode(altered, "login", t.issued_at, keys);
      BOOST_TEST(!d.has_value(), "flip of bit " << bit << " at " << i << " accepted");
    }
  }
}

BOOST_AUTO_TEST_CASE(truncated_or_extended_token_is_rejected) {
  KeyRing keys = ring(kKeyA);
  Token t = ticket();
  const std::string text = encode(t, keys);
  for (size_t n = 0; n < text.size(); ++n) {
    BOOST_TEST(!decode(text.substr(0, n), "login", t.issued_at, keys).has_value());
  }
  BOOST_TEST(!decode(text + "A", "login", t.issued_at, keys).has_value());
  BOOST_TEST(!decode(text + "AAAA", "login", t.issued_at, keys).has_value());
  BOOST_TEST(!decode(text + "=", "login", t.issued_at, keys).has_value());
}

BOOST_AUTO_TEST_CASE(garbage_is_malformed) {
  KeyRing keys = ring(kKeyA);
  for (std::string_view s : {"", "x", "not a token", "====", "AAAA", "pforte_wr=abc"}) {
    auto d = decode(s, "login", 0, keys);
    BOOST_REQUIRE(!d.has_value());
    BOOST_TEST((d.error() == DecodeError::kMalformed));
  }
  auto d = decode(std::string(300, 'A'), "login", 0, keys);
  BOOST_TEST((d.error() == DecodeError::kMalformed));
}

BOOST_AUTO_TEST_CASE(cookie_of_another_room_is_refused) {
  KeyRing keys = ring(kKeyA);
  Token t = ticket();
  auto d = decode(encode(t, keys), "registration", t.issued_at, keys);
  BOOST_REQUIRE(!d.has_value());
  BOOST_TEST((d.error() == DecodeError::kOtherRoom));
}

BOOST_AUTO_TEST_CASE(expired_admission_is_refused_at_the_exact_boundary) {
  KeyRing keys = ring(kKeyA);
  Token a = ticket();
  a.kind = TokenKind::kAdmission;
  const std::string text = encode(a, keys);
  BOOST_TEST(decode(text, "login", a.expires_at - 1, keys).has_value());
  auto d = decode(text, "login", a.expires_at, keys);
  BOOST_REQUIRE(!d.has_value());
  BOOST_TEST((d.error() == DecodeError::kExpired));
  BOOST_TEST((decode(text, "login", a.expires_at + 3600, keys).error() == DecodeError::kExpired));
}

BOOST_AUTO_TEST_CASE(rotated_ring_signs_with_new_key_and_verifies_old) {
  KeyRing old_ring = ring(kKeyA);
  KeyRing rotated = ring(kKeyB + "\n" + kKeyA + "\n");
  KeyRing new_only = ring(kKeyB);
  Token t = ticket();
  const std::string by_old = encode(t, old_ring);
  BOOST_TEST(decode(by_old, "login", t.issued_at, rotated).has_value());
  const std::string by_rotated = encode(t, rotated);
  BOOST_TEST(by_rotated != by_old);
  BOOST_TEST(decode(by_rotated, "login", t.issued_at, new_only).has_value());
  BOOST_TEST(
      (decode(by_rotated, "login", t.issued_at, old_ring).error() == DecodeError::kBadSignature));
}

BOOST_AUTO_TEST_CASE(token_forged_with_a_wrong_key_has_a_bad_signature) {
  KeyRing ours = ring(kKeyA);
  KeyRing theirs = ring(kKeyB);
  Token t = ticket();
  t.expires_at = t.issued_at + 10 * 365 * 86400;  // a stretched ticket
  auto d = decode(encode(t, theirs), "login", t.issued_at, ours);
  BOOST_REQUIRE(!d.has_value());
  BOOST_TEST((d.error() == DecodeError::kBadSignature));
}

BOOST_AUTO_TEST_CASE(key_file_skips_comments_and_rejects_short_keys) {
  auto ok = KeyRing::parse("# rotated 2026-01\n\n  " + kKeyB + "  \r\n" + kKeyA + "\n");
  BOOST_REQUIRE(ok.has_value());
  BOOST_TEST(ok->size() == 2u);
  BOOST_TEST(ok->signing_key() == kKeyB);

  auto short_key = KeyRing::parse(kKeyA + "\n\ntoo-short-012345678901234567890\n");
  BOOST_REQUIRE(!short_key.has_value());
  BOOST_TEST(short_key.error() == "line 3: key shorter than 32 bytes");
  BOOST_TEST(KeyRing::parse(std::string(32, 'k')).has_value());
  BOOST_TEST(!KeyRing::parse(std::string(31, 'k')).has_value());
  BOOST_TEST(!KeyRing::parse("# only a comment\n").has_value());
  BOOST_TEST(!KeyRing::parse("").has_value());
}

BOOST_AUTO_TEST_CASE(cookie_is_found_among_others) {
  BOOST_TEST(find_cookie("a=1; pforte_wr=abc-_; b=2") == "abc-_");
  BOOST_TEST(find_cookie("pforte_wr=\"xyz\"") == "xyz");
  BOOST_TEST(find_cookie("pforte_wrx=1; xpforte_wr=2") == "");
  BOOST_TEST(find_cookie("") == "");
}

BOOST_AUTO_TEST_CASE(the_platform_gets_every_cookie_but_the_room_token) {
  BOOST_TEST(without_cookie("a=1; pforte_wr=abc; b=2") == "a=1; b=2");
  BOOST_TEST(without_cookie("pforte_wr=abc") == "");
  BOOST_TEST(without_cookie(" pforte_wr = x ;sid=7;") == "sid=7");
  BOOST_TEST(without_cookie("pforte_wrx=1; xpforte_wr=2") == "pforte_wrx=1; xpforte_wr=2");
  BOOST_TEST(without_cookie("flag; pforte_wr=a; pforte_wr=b") == "flag");
}

BOOST_AUTO_TEST_CASE(set_cookie_is_httponly_lax_and_secure_on_tls) {
  BOOST_TEST(set_cookie_value("tok", 900, true) ==
             "pforte_wr=tok; Path=/; Max-Age=900; HttpOnly; SameSite=Lax; Secure");
  BOOST_TEST(set_cookie_value("tok", 60, false) ==
             "pforte_wr=tok; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
}
