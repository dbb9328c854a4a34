// needs: modules/waiting_room/token.cc
// libFuzzer target for the waiting-room cookie: decoding arbitrary cookie text never crashes and
// never yields a valid token, and whatever a valid token encodes to decodes back to itself.
//
// tests/fuzz/CMakeLists.txt links fuzz targets against pforte_config and pforte_http only, so this
// translation unit compiles the codec itself.
#include "modules/waiting_room/token.cc"  // NOLINT(bugprone-suspicious-include)

#include <cstdlib>
#include <string_view>

namespace wr = pforte::modules::waiting_room;

namespace {

const wr::KeyRing& keys() {
  static const wr::KeyRing ring = *wr::KeyRing::parse(
      "fuzz-key-0000000000000000000000000000000000000000000000000000000000\n"
      "fuzz-key-1111111111111111111111111111111111111111111111111111111111\n");
  return ring;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // Random input must never carry a valid MAC.
  auto decoded = wr::decode(text, "login", 0, keys());
  if (decoded.has_value()) std::abort();
  // The cookie finder takes any header text.
  (void)wr::find_cookie(text);

  // Round trip: a token built from the input bytes decodes to itself.
  if (size >= 3) {
    wr::Token t;
    t.kind = (data[0] & 1) ? wr::TokenKind::kTicket : wr::TokenKind::kAdmission;
    size_t room_len = 1 + data[1] % wr::kMaxRoomName;
    std::string_view rest = text.substr(2);
    t.room = std::string(rest.substr(0, room_len));
    if (t.room.empty()) t.room = "r";
    uint64_t n = 0;
    for (size_t i = 0; i < size && i < 8; ++i) n = (n << 8) | data[i];
    t.number = n;
    t.epoch = static_cast<uint32_t>(n >> 7);
    t.issued_at = static_cast<int64_t>(n % 4'000'000'000);
    t.expires_at = t.issued_at + 1 + static_cast<int64_t>(data[2]);
    std::string encoded = wr::encode(t, keys());
    auto back = wr::decode(encoded, t.room, t.issued_at, keys());
    if (!back || back->number != t.number || back->room != t.room || back->kind != t.kind ||
        back->epoch != t.epoch || back->issued_at != t.issued_at ||
        back->expires_at != t.expires_at) {
      std::abort();
    }
  }
  return 0;
}
