// libFuzzer target for the HTTP/1.1 head parsers and the chunked decoder. Checks invariants that
// hold for any input: views stay inside the input, a complete head fits the limit and each of
// its prefixes is incomplete, and the chunked decoder gives the same result whether the input
// arrives at once or in random pieces under random back-pressure.
#include <event2/buffer.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/common/handles.h"
#include "proxy/http/h1_parser.h"

using namespace pforte::http;

namespace {

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (0)

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

/// Deterministic pseudo-random numbers seeded from the input.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

void check_request(std::string_view in, size_t limit) {
  RequestHead1 h;
  ParseStatus st = parse_request_head(in, limit, h);
  if (st == ParseStatus::kComplete) {
    FUZZ_CHECK(h.head_length <= in.size() && h.head_length <= limit);
    FUZZ_CHECK(h.head_length >= 4);
    FUZZ_CHECK(!h.method.empty() && !h.target.empty());
    FUZZ_CHECK(inside(h.method, in) && inside(h.target, in) && inside(h.host, in));
    for (const auto& [name, value] : h.fields) {
      FUZZ_CHECK(!name.empty() && inside(name, in.substr(0, h.head_length)));
      FUZZ_CHECK(inside(value, in.substr(0, h.head_length)));
      for (char c : name) FUZZ_CHECK(is_tchar(c));
      for (char c : value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
    }
    FUZZ_CHECK(h.framing != BodyFraming::kUntilClose);
    FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
    FUZZ_CHECK(h.error_status == 0);
    // The same head without what follows it parses the same; any shorter prefix is incomplete.
    RequestHead1 again;
    FUZZ_CHECK(parse_request_head(in.substr(0, h.head_length), limit, again) ==
               ParseStatus::kComplete);
    FUZZ_CHECK(again.head_length == h.head_length && again.fields.size() == h.fields.size());
    FUZZ_CHECK(parse_request_head(in.substr(0, h.head_length - 1), limit, again) ==
               ParseStatus::kIncomplete);
  } else if (st == ParseStatus::kError) {
    int s = h.error_status;
    FUZZ_CHECK(s == 400 || s == 431 || s == 501 || s == 505);
    FUZZ_CHECK(!h.error_reason.empty());
  } else {
    FUZZ_CHECK(in.size() < limit);
  }
}

void check_response(std::string_view in, size_t limit, std::string_view method) {
  ResponseHead1 h;
  ParseStatus st = parse_response_head(in, limit, method, h);
  if (st == ParseStatus::kComplete) {
    FUZZ_CHECK(h.head_length <= in.size() && h.head_length <= limit);
    FUZZ_CHECK(h.status >= 100 && h.status <= 999);
    FUZZ_CHECK(inside(h.reason, in));
    for (const auto& [name, value] : h.fields) {
      FUZZ_CHECK(inside(name, in) && inside(value, in));
    }
    if (h.framing == BodyFraming::kUntilClose) FUZZ_CHECK(!h.keep_alive);
    ResponseHead1 again;
    FUZZ_CHECK(parse_response_head(in.substr(0, h.head_length - 1), limit, method, again) ==
               ParseStatus::kIncomplete);
  } else if (st == ParseStatus::kError) {
    FUZZ_CHECK(h.error_status == 502 && !h.error_reason.empty());
  } else {
    FUZZ_CHECK(in.size() < limit);
  }
}

struct ChunkedResult {
  ChunkedDecoder::Status status;
  std::string body;
  size_t left;
};

std::string drain(evbuffer* b) {
  std::string s(evbuffer_get_length(b), '\0');
  evbuffer_remove(b, s.data(), s.size());
  return s;
}

/// Decodes `in` fed in pieces of random size with random output limits (all at once when `rng`
/// is null); checks that the output grows by exactly what decoded_bytes() reports.
ChunkedResult run_chunked(std::string_view in, Rng* rng) {
  ChunkedDecoder d;
  pforte::EvbufferPtr input = pforte::make_evbuffer();
  pforte::EvbufferPtr output = pforte::make_evbuffer();
  size_t fed = 0;
  ChunkedDecoder::Status st = ChunkedDecoder::Status::kNeedMore;
  for (;;) {
    if (fed < in.size()) {
      size_t n = rng ? 1 + rng->next() % 64 : in.size();
      n = std::min(n, in.size() - fed);
      evbuffer_add(input.get(), in.data() + fed, n);
      fed += n;
    }
    size_t max_out = rng ? rng->next() % 32 : SIZE_MAX;
    size_t before_out = evbuffer_get_length(output.get());
    size_t before_in = evbuffer_get_length(input.get());
    uint64_t before_decoded = d.decoded_bytes();
    st = d.decode(input.get(), output.get(), max_out);
    size_t added = evbuffer_get_length(output.get()) - before_out;
    FUZZ_CHECK(added <= max_out);
    FUZZ_CHECK(d.decoded_bytes() - before_decoded == added);
    FUZZ_CHECK(evbuffer_get_length(input.get()) <= before_in);
    if (st == ChunkedDecoder::Status::kError) FUZZ_CHECK(!d.error_reason().empty());
    if (st != ChunkedDecoder::Status::kNeedMore) break;
    bool progress = added > 0 || evbuffer_get_length(input.get()) < before_in;
    // Once everything is fed, a call that moved nothing and was not held back by max_out
    // cannot move anything later either.
    if (fed == in.size() && !progress && max_out > 0) break;
  }
  FUZZ_CHECK(d.decoded_bytes() == evbuffer_get_length(output.get()));
  size_t left = evbuffer_get_length(input.get()) + (in.size() - fed);
  return {st, drain(output.get()), left};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < size; ++i) seed = (seed ^ data[i]) * 0x100000001b3ull;
  Rng rng{seed | 1};

  // A small limit now and then, so the 431 paths see as much traffic as the others.
  size_t limit = (seed & 3) == 0 ? 1 + (seed >> 8) % 256 : 8192;
  check_request(in, limit);
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "CONNECT", "POST"};
  check_response(in, limit, kMethods[(seed >> 4) % 4]);

  ChunkedResult whole = run_chunked(in, nullptr);
  ChunkedResult pieces = run_chunked(in, &rng);
  FUZZ_CHECK(whole.status == pieces.status);
  FUZZ_CHECK(whole.body == pieces.body && whole.left == pieces.left);
  return 0;
}
