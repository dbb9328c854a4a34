#define BOOST_TEST_MODULE cache_compress
#include "modules/cache/compress.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "modules/cache/respond.h"

using namespace pforte;
using namespace pforte::modules::cache;

namespace {

std::string text_body() {
  std::string s;
  for (int i = 0; i < 200; ++i) s += ".rule-" + std::to_string(i) + " { color: #123456; }\n";
  return s;
}

std::string brotli_decode(const std::string& in, size_t expected) {
  std::string out(expected + 16, '\0');
  size_t size = out.size();
  BOOST_REQUIRE(BrotliDecoderDecompress(in.size(), reinterpret_cast<const uint8_t*>(in.data()),
                                        &size, reinterpret_cast<uint8_t*>(out.data())) ==
                BROTLI_DECODER_RESULT_SUCCESS);
  out.resize(size);
  return out;
}

std::string gzip_decode(const std::string& in, size_t expected) {
  z_stream z{};
  BOOST_REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out(expected + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  BOOST_REQUIRE(inflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

http::Headers fields(std::initializer_list<std::pair<const char*, const char*>> list) {
  http::Headers h;
  for (auto& [n, v] : list) h.add(n, v);
  return h;
}

std::string text(const module::LocalReply& r) {
  size_t n = evbuffer_get_length(r.body.get());
  std::string out(n, '\0');
  evbuffer_copyout(r.body.get(), out.data(), n);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(text_types_are_compressed_others_not) {
  BOOST_TEST(should_compress(200, fields({{"content-type", "text/css; charset=utf-8"}}), 4096));
  BOOST_TEST(should_compress(200, fields({{"content-type", "application/javascript"}}), 4096));
  BOOST_TEST(should_compress(200, fields({{"content-type", "image/svg+xml"}}), 4096));
  BOOST_TEST(should_compress(200, fields({{"content-type", "application/json"}}), 4096));
  BOOST_TEST(should_compress(200, fields({{"content-type", "Text/HTML"}}), 4096));
  BOOST_TEST(!should_compress(200, fields({{"content-type", "image/png"}}), 4096));
  BOOST_TEST(!should_compress(200, fields({}), 4096));
  BOOST_TEST(!should_compress(200, fields({{"content-type", "text/css"}}), 100));
  BOOST_TEST(!should_compress(404, fields({{"content-type", "text/css"}}), 4096));
  BOOST_TEST(!should_compress(
      200, fields({{"content-type", "text/css"}, {"content-encoding", "gzip"}}), 4096));
  BOOST_TEST(!should_compress(
      200, fields({{"content-type", "text/css"}, {"cache-control", "max-age=9, no-transform"}}),
      4096));
}

BOOST_AUTO_TEST_CASE(brotli_and_gzip_round_trip) {
  std::string body = text_body();
  auto br = brotli_compress(body);
  auto gz = gzip_compress(body);
  BOOST_REQUIRE(br);
  BOOST_REQUIRE(gz);
  BOOST_TEST(br->size() < body.size() / 4);
  BOOST_TEST(gz->size() < body.size() / 4);
  BOOST_TEST(brotli_decode(*br, body.size()) == body);
  BOOST_TEST(gzip_decode(*gz, body.size()) == body);
}

BOOST_AUTO_TEST_CASE(accept_encoding_picks_brotli_then_gzip) {
  BOOST_TEST((choose_coding(fields({{"accept-encoding", "gzip, deflate, br"}}), true, true) ==
              Coding::kBrotli));
  BOOST_TEST(
      (choose_coding(fields({{"accept-encoding", "gzip, deflate"}}), true, true) == Coding::kGzip));
  BOOST_TEST(
      (choose_coding(fields({{"accept-encoding", "br;q=0, gzip"}}), true, true) == Coding::kGzip));
  BOOST_TEST((choose_coding(fields({{"accept-encoding", "br;q=0.5, gzip;q=0.8"}}), true, true) ==
              Coding::kGzip));
  BOOST_TEST((choose_coding(fields({{"accept-encoding", "*"}}), true, true) == Coding::kBrotli));
  BOOST_TEST(
      (choose_coding(fields({{"accept-encoding", "identity"}}), true, true) == Coding::kIdentity));
  BOOST_TEST((choose_coding(fields({}), true, true) == Coding::kIdentity));
  BOOST_TEST(
      (choose_coding(fields({{"accept-encoding", "br"}}), false, true) == Coding::kIdentity));
  BOOST_TEST((choose_coding(fields({{"accept-encoding", "gzip;q=0, *"}}), false, true) ==
              Coding::kIdentity));
}

BOOST_AUTO_TEST_CASE(accept_encoding_is_normalized_to_the_coding_it_gets) {
  auto normalized = [](const char* value) {
    http::Headers h = fields({{"accept-encoding", value}, {"accept", "*/*"}});
    normalize_accept_encoding(h);
    return std::string(h.get("accept-encoding").value_or("(none)"));
  };
  BOOST_TEST(normalized("gzip, deflate, br, zstd") == "br");
  BOOST_TEST(normalized("gzip;q=1.0, br;q=0.5") == "gzip");
  BOOST_TEST(normalized("deflate") == "(none)");
  BOOST_TEST(normalized("identity") == "(none)");
  http::Headers none = fields({{"accept", "*/*"}});
  normalize_accept_encoding(none);
  BOOST_TEST(!none.has("accept-encoding"));
}

BOOST_AUTO_TEST_CASE(stored_codings_are_served_by_accept_encoding) {
  auto e = std::make_shared<Entry>();
  e->headers.add("content-type", "text/css");
  e->headers.add("etag", "\"v1\"");
  e->body = text_body();
  e->body_br = *brotli_compress(e->body);
  e->body_gzip = *gzip_compress(e->body);
  e->freshness.lifetime = Seconds{60};
  CacheStatus hit;
  hit.hit = true;
  const TimePoint now{};

  auto br = reply_from_entry(fields({{"accept-encoding", "gzip, br"}}), e, now, hit);
  BOOST_TEST(*br.response.headers.get("content-encoding") == "br");
  BOOST_TEST(*br.response.headers.get("vary") == "Accept-Encoding");
  BOOST_TEST(*br.response.headers.get("etag") == "W/\"v1\"");
  BOOST_TEST(brotli_decode(text(br), e->body.size()) == e->body);

  auto gz = reply_from_entry(fields({{"accept-encoding", "gzip"}}), e, now, hit);
  BOOST_TEST(*gz.response.headers.get("content-encoding") == "gzip");
  BOOST_TEST(gzip_decode(text(gz), e->body.size()) == e->body);

  auto plain = reply_from_entry(fields({}), e, now, hit);
  BOOST_TEST(!plain.response.headers.has("content-encoding"));
  BOOST_TEST(*plain.response.headers.get("vary") == "Accept-Encoding");
  BOOST_TEST(*plain.response.headers.get("etag") == "\"v1\"");
  BOOST_TEST(text(plain) == e->body);

  // A range is taken from the identity body.
  auto range =
      reply_from_entry(fields({{"accept-encoding", "br"}, {"range", "bytes=0-4"}}), e, now, hit);
  BOOST_TEST(range.response.status == 206);
  BOOST_TEST(!range.response.headers.has("content-encoding"));
  BOOST_TEST(text(range) == e->body.substr(0, 5));

  // The weak ETag of a coding still validates.
  auto not_modified = reply_from_entry(
      fields({{"accept-encoding", "br"}, {"if-none-match", "W/\"v1\""}}), e, now, hit);
  BOOST_TEST(not_modified.response.status == 304);
  BOOST_TEST(*not_modified.response.headers.get("vary") == "Accept-Encoding");
}
