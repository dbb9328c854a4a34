#include "modules/cache/key.h"

#include <algorithm>
#include <cstring>
#include <random>

namespace pforte::modules::cache {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

/// Appends `s` lower-cased: one append, then the fold in place.
void append_lower(std::string& out, std::string_view s) {
  size_t start = out.size();
  out.append(s);
  for (size_t i = start; i < out.size(); ++i) out[i] = lower(out[i]);
}

struct SipKey {
  uint64_t k0;
  uint64_t k1;
};

const SipKey& sip_key() {
  static const SipKey key = [] {
    std::random_device rd;
    auto draw = [&] { return (static_cast<uint64_t>(rd()) << 32) ^ rd(); };
    return SipKey{draw(), draw()};
  }();
  return key;
}

constexpr uint64_t rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

struct SipState {
  uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
  void absorb(uint64_t m) {
    v3 ^= m;
    round();  // SipHash-1-3: one compression round
    v0 ^= m;
  }
};

uint64_t load_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// Trims, and collapses runs of spaces and tabs to one space.
void append_normalized(std::string& out, std::string_view value) {
  bool first_element = true;
  http::for_each_token(value, [&](std::string_view element) {
    if (!first_element) out += ',';
    first_element = false;
    bool space = false;
    for (char c : element) {
      if (c == ' ' || c == '\t') {
        space = true;
        continue;
      }
      if (space) out += ' ';
      space = false;
      out += c;
    }
  });
}

}  // namespace

uint64_t hash_key(std::string_view data) {
  const SipKey& k = sip_key();
  SipState s{k.k0 ^ 0x736f6d6570736575ULL, k.k1 ^ 0x646f72616e646f6dULL,
             k.k0 ^ 0x6c7967656e657261ULL, k.k1 ^ 0x7465646279746573ULL};
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  size_t full = n & ~size_t{7};
  for (size_t i = 0; i < full; i += 8) s.absorb(load_le64(p + i));
  uint64_t last = static_cast<uint64_t>(n & 0xff) << 56;
  for (size_t i = 0; i < (n & 7); ++i) last |= static_cast<uint64_t>(p[full + i]) << (8 * i);
  s.absorb(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 3; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

CacheKey make_key(std::string text) {
  uint64_t h = hash_key(text);
  return CacheKey{std::move(text), h};
}

namespace {

/// normalize_authority(), appended to `out` (no string of its own).
void append_normalized_authority(std::string& out, std::string_view scheme,
                                 std::string_view authority) {
  std::string_view host = authority;
  std::string_view port;
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  append_lower(out, host);
  bool default_port =
      port.empty() || (port == "80" && scheme == "http") || (port == "443" && scheme == "https");
  if (!default_port) {
    out += ':';
    out += port;
  }
}

}  // namespace

std::string normalize_authority(std::string_view scheme, std::string_view authority) {
  std::string out;
  out.reserve(authority.size());
  append_normalized_authority(out, scheme, authority);
  return out;
}

CacheKey primary_key(std::string_view scheme, std::string_view authority, std::string_view target) {
  std::string text;
  text.reserve(scheme.size() + 3 + authority.size() + target.size());
  append_lower(text, scheme);
  text += "://";
  append_normalized_authority(text, scheme, authority);
  text += target;
  return make_key(std::move(text));
}

std::optional<std::vector<std::string>> parse_vary(const http::Headers& response_headers) {
  std::vector<std::string> names;
  bool star = false;
  for (const http::Field& f : response_headers) {
    if (f.name != "vary") continue;
    http::for_each_token(f.value, [&](std::string_view name) {
      if (name == "*") star = true;
      std::string n(name);
      std::transform(n.begin(), n.end(), n.begin(), lower);
      names.push_back(std::move(n));
    });
  }
  if (star) return std::nullopt;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string secondary_key(const std::vector<std::string>& vary_names,
                          const http::Headers& request_headers) {
  std::string out;
  for (const std::string& name : vary_names) {
    out += name;
    bool present = false;
    for (const http::Field& f : request_headers) {
      if (!http::iequals(f.name, name)) continue;
      out += present ? ',' : ':';
      present = true;
      append_normalized(out, f.value);
    }
    if (!present) out += '!';
    out += '\n';
  }
  return out;
}

CacheKey variant_key(const CacheKey& primary, const std::vector<std::string>& vary_names,
                     const http::Headers& request_headers) {
  std::string text = primary.text;
  text += kVarySeparator;
  text += secondary_key(vary_names, request_headers);
  return make_key(std::move(text));
}

}  // namespace pforte::modules::cache
