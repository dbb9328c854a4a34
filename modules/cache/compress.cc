#include "modules/cache/compress.h"

#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>

namespace pforte::modules::cache {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// The q-value of one Accept-Encoding element ("gzip;q=0.5" → 0.5); 1 without one, 0 if invalid.
double q_value(std::string_view params) {
  for (;;) {
    size_t semi = params.find(';');
    if (semi == std::string_view::npos) return 1.0;
    params.remove_prefix(semi + 1);
    std::string_view p = trim(params.substr(0, params.find(';')));
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string_view v = p.substr(2);
      if (v.empty() || v.size() > 5) return 0.0;
      double q = 0;
      double scale = 1;
      bool dot = false;
      for (char c : v) {
        if (c == '.' && !dot) {
          dot = true;
        } else if (c >= '0' && c <= '9') {
          if (dot) {
            scale /= 10;
            q += (c - '0') * scale;
          } else {
            q = q * 10 + (c - '0');
          }
        } else {
          return 0.0;
        }
      }
      return std::min(q, 1.0);
    }
  }
}

}  // namespace

std::string_view to_string(Coding coding) {
  switch (coding) {
    case Coding::kBrotli:
      return "br";
    case Coding::kGzip:
      return "gzip";
    case Coding::kIdentity:
      break;
  }
  return "identity";
}

bool should_compress(int status, const http::Headers& response_headers, size_t body_size) {
  if (status != 200 || body_size < kMinCompressBytes || body_size > kMaxCompressBytes) return false;
  if (auto ce = response_headers.get("content-encoding");
      ce && !http::iequals(trim(*ce), "identity"))
    return false;
  if (response_headers.contains_token("cache-control", "no-transform")) return false;
  std::optional<std::string_view> type = response_headers.get("content-type");
  if (!type) return false;
  std::string_view t = trim(type->substr(0, type->find(';')));
  static constexpr std::string_view kTypes[] = {
      "text/css",         "text/html",     "text/javascript",    "application/javascript",
      "application/json", "image/svg+xml", "text/plain",         "application/manifest+json",
      "application/xml",  "text/xml",      "application/ld+json"};
  for (std::string_view k : kTypes) {
    if (http::iequals(t, k)) return true;
  }
  return false;
}

std::optional<std::string> brotli_compress(std::string_view data) {
  std::string out(BrotliEncoderMaxCompressedSize(data.size()), '\0');
  if (out.empty()) return std::nullopt;
  size_t size = out.size();
  if (!BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, data.size(),
                             reinterpret_cast<const uint8_t*>(data.data()), &size,
                             reinterpret_cast<uint8_t*>(out.data()))) {
    return std::nullopt;
  }
  out.resize(size);
  out.shrink_to_fit();
  return out;
}

std::optional<std::string> gzip_compress(std::string_view data) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  size_t produced = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  out.resize(produced);
  out.shrink_to_fit();
  return out;
}

Coding choose_coding(const http::Headers& request_headers, bool have_brotli, bool have_gzip) {
  if (!have_brotli && !have_gzip) return Coding::kIdentity;
  double br = -1;
  double gzip = -1;
  double star = -1;
  for (const http::Field& f : request_headers) {
    if (f.name != "accept-encoding") continue;
    http::for_each_token(f.value, [&](std::string_view element) {
      std::string_view name = trim(element.substr(0, element.find(';')));
      double q = q_value(element);
      if (http::iequals(name, "br")) {
        br = q;
      } else if (http::iequals(name, "gzip") || http::iequals(name, "x-gzip")) {
        gzip = q;
      } else if (name == "*") {
        star = q;
      }
    });
  }
  if (br < 0) br = star;
  if (gzip < 0) gzip = star;
  if (have_brotli && br > 0 && (!have_gzip || br >= gzip)) return Coding::kBrotli;
  if (have_gzip && gzip > 0) return Coding::kGzip;
  if (have_brotli && br > 0) return Coding::kBrotli;
  return Coding::kIdentity;
}

void normalize_accept_encoding(http::Headers& request_headers) {
  if (!request_headers.has("accept-encoding")) return;
  Coding coding = choose_coding(request_headers, true, true);
  if (coding == Coding::kIdentity) {
    request_headers.remove("accept-encoding");
  } else {
    request_headers.set("accept-encoding", to_string(coding));
  }
}

}  // namespace pforte::modules::cache
