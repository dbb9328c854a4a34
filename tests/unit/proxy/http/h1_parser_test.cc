#define BOOST_TEST_MODULE h1_parser
#include <boost/test/unit_test.hpp>

#include <event2/buffer.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/handles.h"
#include "proxy/http/h1_parser.h"

using namespace std::string_literals;
using namespace pforte::http;

namespace {

constexpr size_t kMax = 8192;

/// 0 for a complete head, -1 for incomplete, else the error status.
int request_status(std::string_view raw, size_t max = kMax) {
  RequestHead1 h;
  switch (parse_request_head(raw, max, h)) {
    case ParseStatus::kComplete:
      return 0;
    case ParseStatus::kIncomplete:
      return -1;
    case ParseStatus::kError:
      return h.error_status;
  }
  return -2;
}

RequestHead1 parse_ok(std::string_view raw) {
  RequestHead1 h;
  ParseStatus s = parse_request_head(raw, kMax, h);
  BOOST_TEST_REQUIRE((s == ParseStatus::kComplete), "parse failed: " << h.error_reason);
  return h;
}

/// A request with the given field lines (each without CRLF).
std::string request_with(std::initializer_list<std::string_view> fields,
                         std::string_view start = "POST /upload HTTP/1.1") {
  std::string s(start);
  s += "\r\n";
  for (std::string_view f : fields) {
    s += f;
    s += "\r\n";
  }
  s += "\r\n";
  return s;
}

int response_status(std::string_view raw, std::string_view method = "GET", size_t max = kMax) {
  ResponseHead1 h;
  switch (parse_response_head(raw, max, method, h)) {
    case ParseStatus::kComplete:
      return 0;
    case ParseStatus::kIncomplete:
      return -1;
    case ParseStatus::kError:
      return h.error_status;
  }
  return -2;
}

ResponseHead1 response_ok(std::string_view raw, std::string_view method = "GET") {
  ResponseHead1 h;
  ParseStatus s = parse_response_head(raw, kMax, method, h);
  BOOST_TEST_REQUIRE((s == ParseStatus::kComplete), "parse failed: " << h.error_reason);
  return h;
}

std::string drain(evbuffer* b) {
  std::string s(evbuffer_get_length(b), '\0');
  evbuffer_remove(b, s.data(), s.size());
  return s;
}

struct Decoded {
  ChunkedDecoder::Status status = ChunkedDecoder::Status::kNeedMore;
  std::string body;
  std::string leftover;
  std::string error;
  uint64_t decoded = 0;
  std::vector<std::pair<std::string, std::string>> trailers;
};

/// Feeds `input` to a fresh decoder `piece` bytes at a time, then drains what is left.
Decoded decode(std::string_view input, size_t piece = SIZE_MAX, size_t max_out = SIZE_MAX) {
  ChunkedDecoder d;
  pforte::EvbufferPtr in = pforte::make_evbuffer();
  pforte::EvbufferPtr out = pforte::make_evbuffer();
  Decoded r;
  size_t fed = 0;
  for (;;) {
    if (fed < input.size()) {
      size_t n = std::min(piece, input.size() - fed);
      evbuffer_add(in.get(), input.data() + fed, n);
      fed += n;
    }
    size_t before = evbuffer_get_length(out.get());
    r.status = d.decode(in.get(), out.get(), max_out);
    BOOST_TEST_REQUIRE(evbuffer_get_length(out.get()) - before <= max_out);
    if (r.status != ChunkedDecoder::Status::kNeedMore) break;
    if (fed == input.size() && evbuffer_get_length(out.get()) == before) break;
  }
  r.body = drain(out.get());
  r.leftover = drain(in.get()) + std::string(input.substr(fed));
  r.error = std::string(d.error_reason());
  r.decoded = d.decoded_bytes();
  for (const Field& f : d.trailers()) r.trailers.emplace_back(f.name, f.value);
  return r;
}

bool decode_fails(std::string_view input) {
  return decode(input).status == ChunkedDecoder::Status::kError &&
         decode(input, 1).status == ChunkedDecoder::Status::kError;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(request_line)

BOOST_AUTO_TEST_CASE(simple_get_is_parsed) {
  std::string raw = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  RequestHead1 h = parse_ok(raw);
  BOOST_TEST(h.method == "GET");
  BOOST_TEST(h.target == "/index.html?q=1");
  BOOST_TEST(h.version_minor == 1);
  BOOST_TEST(h.host == "example.com");
  BOOST_TEST(h.head_length == raw.size());
  BOOST_TEST(h.fields.size() == 2u);
  BOOST_TEST((h.framing == BodyFraming::kNone));
  BOOST_TEST(h.keep_alive);
  BOOST_TEST(!h.expect_continue);
  BOOST_TEST(!h.upgrade);
  BOOST_TEST(h.error_status == 0);
}

BOOST_AUTO_TEST_CASE(views_point_into_the_input) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestHead1 h = parse_ok(raw);
  BOOST_TEST((h.method.data() == raw.data()));
  BOOST_TEST((h.host.data() >= raw.data() && h.host.data() < raw.data() + raw.size()));
}

BOOST_AUTO_TEST_CASE(leading_empty_lines_are_skipped_and_counted_in_head_length) {
  std::string raw = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestHead1 h = parse_ok(raw);
  BOOST_TEST(h.method == "GET");
  BOOST_TEST(h.head_length == raw.size());
}

BOOST_AUTO_TEST_CASE(too_many_leading_empty_lines_are_refused) {
  std::string lines;
  for (int i = 0; i < 9; ++i) lines += "\r\n";
  BOOST_TEST(request_status(lines + "GET / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status(lines.substr(2) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
}

BOOST_AUTO_TEST_CASE(leading_bare_lf_is_refused) {
  BOOST_TEST(request_status("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_CASE(method_must_be_a_token) {
  BOOST_TEST(request_status("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status(" / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(parse_ok("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n").method == "M-SEARCH");
}

BOOST_AUTO_TEST_CASE(request_line_separators_are_single_spaces) {
  BOOST_TEST(request_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET /  HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET /\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET\r\nHost: a\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_CASE(target_with_space_or_control_is_refused) {
  BOOST_TEST(request_status("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"s) == 400);
}

BOOST_AUTO_TEST_CASE(target_may_hold_obs_text) {
  BOOST_TEST(parse_ok("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n").target == "/caf\xc3\xa9");
}

BOOST_AUTO_TEST_CASE(absolute_and_authority_form_targets_are_kept_as_sent) {
  BOOST_TEST(parse_ok("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n").target == "http://a/b");
  BOOST_TEST(parse_ok("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n").target == "a:443");
}

BOOST_AUTO_TEST_CASE(http_1_0_is_accepted) {
  RequestHead1 h = parse_ok("GET / HTTP/1.0\r\n\r\n");
  BOOST_TEST(h.version_minor == 0);
}

BOOST_AUTO_TEST_CASE(unsupported_http_versions_get_505) {
  BOOST_TEST(request_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505);
  BOOST_TEST(request_status("GET / HTTP/1.2\r\nHost: a\r\n\r\n") == 505);
  BOOST_TEST(request_status("GET / HTTP/0.9\r\nHost: a\r\n\r\n") == 505);
  BOOST_TEST(request_status("GET / HTTP/9.9\r\nHost: a\r\n\r\n") == 505);
}

BOOST_AUTO_TEST_CASE(malformed_versions_get_400) {
  for (std::string_view v : {"http/1.1", "HTTP/1.10", "HTTP/11", "HTTP/1.x", "HTTP/1", "HTTP 1.1",
                             "HTTPS/1.1", "HTTP/1.1x", "", "HTTP/+.1"}) {
    std::string raw = "GET / "s + std::string(v) + "\r\nHost: a\r\n\r\n";
    BOOST_TEST(request_status(raw) == 400, "version " << v);
  }
}

BOOST_AUTO_TEST_CASE(is_tchar_matches_rfc_9110) {
  for (char c : std::string_view("!#$%&'*+-.^_`|~09azAZ")) BOOST_TEST(is_tchar(c), c);
  for (char c : std::string_view("()<>@,;:\\\"/[]?={} \t\x7f\x01")) BOOST_TEST(!is_tchar(c), c);
  BOOST_TEST(!is_tchar('\0'));
  BOOST_TEST(!is_tchar('\x80'));
  BOOST_TEST(!is_tchar('\xff'));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(request_fields)

BOOST_AUTO_TEST_CASE(fields_keep_their_order_and_spelling) {
  RequestHead1 h = parse_ok("GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nx-one: 2\r\n\r\n");
  BOOST_TEST_REQUIRE(h.fields.size() == 3u);
  BOOST_TEST(h.fields[1].first == "X-One");
  BOOST_TEST(h.fields[1].second == "1");
  BOOST_TEST(h.fields[2].first == "x-one");
  BOOST_TEST(h.fields[2].second == "2");
}

BOOST_AUTO_TEST_CASE(field_values_are_trimmed_of_ows) {
  RequestHead1 h = parse_ok("GET / HTTP/1.1\r\nHost:a\r\nX:  \t a \t b \t \r\nY:\r\nZ: \t\r\n\r\n");
  BOOST_TEST_REQUIRE(h.fields.size() == 4u);
  BOOST_TEST(h.fields[0].second == "a");
  BOOST_TEST(h.fields[1].second == "a \t b");
  BOOST_TEST(h.fields[2].second == "");
  BOOST_TEST(h.fields[3].second == "");
}

BOOST_AUTO_TEST_CASE(field_values_may_hold_obs_text_and_htab) {
  RequestHead1 h = parse_ok("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\tx\r\n\r\n");
  BOOST_TEST(h.fields[1].second == "caf\xc3\xa9\tx");
}

BOOST_AUTO_TEST_CASE(obs_fold_is_refused) {
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_CASE(whitespace_before_the_first_field_is_refused) {
  BOOST_TEST(request_status("GET / HTTP/1.1\r\n Host: a\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_CASE(whitespace_before_colon_is_refused) {
  RequestHead1 h;
  BOOST_TEST(
      (parse_request_head("GET / HTTP/1.1\r\nHost : a\r\n\r\n", kMax, h) == ParseStatus::kError));
  BOOST_TEST(h.error_status == 400);
  BOOST_TEST(h.error_reason == "whitespace before colon");
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_CASE(field_line_without_colon_is_refused) {
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_CASE(empty_field_name_is_refused) {
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_CASE(field_names_must_be_tokens) {
  for (std::string_view n : {"X(y)", "X/y", "X\"y", "X@y", "X[y]", "X\x80y", "X{y"}) {
    std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n"s + std::string(n) + ": 1\r\n\r\n";
    BOOST_TEST(request_status(raw) == 400, "name " << n);
  }
}

BOOST_AUTO_TEST_CASE(control_bytes_in_field_values_are_refused) {
  for (std::string v : {"a\0b"s, "a\x01"s, "a\x7f"s, "\x1b[0m"s, "a\x0b"s, "a\x0c"s}) {
    BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\nX: " + v + "\r\n\r\n") == 400);
  }
}

BOOST_AUTO_TEST_CASE(every_byte_at_every_place_of_a_long_value_gets_its_verdict) {
  // Values are checked eight bytes at a time: each byte value, at each offset within and across
  // those words (and in the tail), is allowed exactly when it is HTAB, SP, VCHAR or obs-text.
  for (int c = 0; c < 256; ++c) {
    bool allowed = c == '\t' || (c >= 0x20 && c != 0x7f);
    for (size_t at : {0u, 1u, 6u, 7u, 8u, 9u, 15u, 16u, 17u, 19u}) {
      std::string v(20, 'v');
      v[at] = static_cast<char>(c);
      int status = request_status("GET / HTTP/1.1\r\nHost: a\r\nX: " + v + "\r\n\r\n");
      BOOST_TEST((status == 0) == allowed, "byte " << c << " at " << at << ": " << status);
    }
  }
}

BOOST_AUTO_TEST_CASE(bare_lf_is_refused_anywhere) {
  BOOST_TEST(request_status("GET / HTTP/1.1\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\n\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\n\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHo\nst: a\r\n\r\n") == 400);
  RequestHead1 h;
  parse_request_head("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", kMax, h);
  BOOST_TEST(h.error_reason == "bare LF");
}

BOOST_AUTO_TEST_CASE(bare_cr_is_refused_anywhere) {
  BOOST_TEST(request_status("GET / HTTP/1.1\rHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n") == 400);
  BOOST_TEST(request_status("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(request_limits)

BOOST_AUTO_TEST_CASE(incomplete_head_past_the_limit_gets_431) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'x');
  BOOST_TEST(request_status(raw, 100) == 431);
  BOOST_TEST(request_status(raw, 1000) == -1);
}

BOOST_AUTO_TEST_CASE(incomplete_head_that_reaches_the_limit_gets_431) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n";
  BOOST_TEST(request_status(raw, raw.size()) == 431);
  BOOST_TEST(request_status(raw, raw.size() + 1) == -1);
  BOOST_TEST(request_status(raw + "\r", raw.size() + 1) == 431);
}

BOOST_AUTO_TEST_CASE(complete_head_one_byte_over_the_limit_gets_431) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  BOOST_TEST(request_status(raw, raw.size() - 1) == 431);
  BOOST_TEST(request_status(raw + "GET", raw.size() - 1) == 431);
}

BOOST_AUTO_TEST_CASE(head_of_exactly_the_limit_is_accepted) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  BOOST_TEST(request_status(raw, raw.size()) == 0);
  BOOST_TEST(request_status(raw + "body", raw.size()) == 0);
}

BOOST_AUTO_TEST_CASE(leading_empty_lines_count_toward_the_limit) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  BOOST_TEST(request_status("\r\n" + raw, raw.size() + 1) == 431);
  BOOST_TEST(request_status("\r\n" + raw, raw.size() + 2) == 0);
}

BOOST_AUTO_TEST_CASE(long_request_line_gets_431) {
  std::string raw = "GET /" + std::string(10000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  BOOST_TEST(request_status(raw, kMax) == 431);
  BOOST_TEST(request_status(raw.substr(0, 9000), kMax) == 431);
}

BOOST_AUTO_TEST_CASE(too_many_fields_get_431) {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 255; ++i) head += "X: 1\r\n";
  BOOST_TEST(request_status(head + "\r\n", 1 << 20) == 0);
  BOOST_TEST(request_status(head + "X: 1\r\n\r\n", 1 << 20) == 431);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(request_incremental)

BOOST_AUTO_TEST_CASE(every_prefix_of_a_valid_head_is_incomplete) {
  std::string raw =
      "\r\nPOST /submit HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 5\r\n"
      "Connection: keep-alive\r\nX-Empty:\r\n\r\n";
  for (size_t n = 0; n < raw.size(); ++n) {
    BOOST_TEST(request_status(std::string_view(raw).substr(0, n)) == -1, "prefix " << n);
  }
  BOOST_TEST(request_status(raw) == 0);
}

BOOST_AUTO_TEST_CASE(bad_method_byte_is_refused_before_the_line_ends) {
  BOOST_TEST(request_status("GE\x01") == 400);
  BOOST_TEST(request_status("GET /\x01") == 400);
  BOOST_TEST(request_status("GET / HTTX") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.11") == 400);
}

BOOST_AUTO_TEST_CASE(bad_field_byte_is_refused_before_the_head_ends) {
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\nX y") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\n X") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\nX: a\0"s) == 400);
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\rX") == 400);
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_parsed_one_after_another) {
  std::string first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string second = "GET /b HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
  std::string both = first + second;
  RequestHead1 h = parse_ok(both);
  BOOST_TEST(h.target == "/a");
  BOOST_TEST(h.head_length == first.size());
  RequestHead1 h2 = parse_ok(std::string_view(both).substr(h.head_length));
  BOOST_TEST(h2.target == "/b");
  BOOST_TEST(h2.head_length == second.size());
  BOOST_TEST(!h2.keep_alive);
}

BOOST_AUTO_TEST_CASE(body_bytes_after_the_head_are_not_consumed) {
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n";
  RequestHead1 h = parse_ok(head + "\r\n\r\n");
  BOOST_TEST(h.head_length == head.size());
  BOOST_TEST(h.content_length == 4u);
}

BOOST_AUTO_TEST_CASE(a_reused_head_is_reset) {
  RequestHead1 h;
  BOOST_TEST((parse_request_head("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", kMax,
                                 h) == ParseStatus::kComplete));
  BOOST_TEST(
      (parse_request_head("GET / HTTP/1.1\r\nHost: b\r\n\r\n", kMax, h) == ParseStatus::kComplete));
  BOOST_TEST(h.fields.size() == 1u);
  BOOST_TEST((h.framing == BodyFraming::kNone));
  BOOST_TEST(h.content_length == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(request_framing)

BOOST_AUTO_TEST_CASE(no_framing_fields_means_no_body) {
  RequestHead1 h = parse_ok(request_with({"Host: a"}));
  BOOST_TEST((h.framing == BodyFraming::kNone));
}

BOOST_AUTO_TEST_CASE(content_length_sets_the_framing) {
  RequestHead1 h = parse_ok(request_with({"Host: a", "Content-Length: 1234"}));
  BOOST_TEST((h.framing == BodyFraming::kContentLength));
  BOOST_TEST(h.content_length == 1234u);
}

BOOST_AUTO_TEST_CASE(content_length_zero_is_still_content_length_framing) {
  RequestHead1 h = parse_ok(request_with({"Host: a", "content-length: 0"}));
  BOOST_TEST((h.framing == BodyFraming::kContentLength));
  BOOST_TEST(h.content_length == 0u);
}

BOOST_AUTO_TEST_CASE(content_length_must_be_digits) {
  for (std::string_view v : {"+5", "-1", "5 5", "0x5", "", "1e3", "5;", "five", "5\t5"}) {
    std::string cl = "Content-Length: " + std::string(v);
    BOOST_TEST(request_status(request_with({"Host: a", cl})) == 400, "value " << v);
  }
}

BOOST_AUTO_TEST_CASE(content_length_may_have_19_digits_but_not_20) {
  RequestHead1 h = parse_ok(request_with({"Host: a", "Content-Length: 9999999999999999999"}));
  BOOST_TEST(h.content_length == 9999999999999999999ull);
  BOOST_TEST(
      parse_ok(request_with({"Host: a", "Content-Length: 0000000000000000001"})).content_length ==
      1u);
  BOOST_TEST(request_status(request_with({"Host: a", "Content-Length: 18446744073709551616"})) ==
             400);
  BOOST_TEST(request_status(request_with({"Host: a", "Content-Length: 00000000000000000001"})) ==
             400);
}

BOOST_AUTO_TEST_CASE(several_content_length_fields_are_refused) {
  RequestHead1 h;
  std::string raw = request_with({"Host: a", "Content-Length: 5", "Content-Length: 5"});
  BOOST_TEST((parse_request_head(raw, kMax, h) == ParseStatus::kError));
  BOOST_TEST(h.error_status == 400);
  BOOST_TEST(h.error_reason == "multiple content-length");
  BOOST_TEST(request_status(request_with({"Host: a", "Content-Length: 5", "content-length: 6"})) ==
             400);
}

BOOST_AUTO_TEST_CASE(content_length_list_is_refused) {
  BOOST_TEST(request_status(request_with({"Host: a", "Content-Length: 5, 5"})) == 400);
  BOOST_TEST(request_status(request_with({"Host: a", "Content-Length: 5,5"})) == 400);
}

BOOST_AUTO_TEST_CASE(chunked_transfer_encoding_sets_the_framing) {
  RequestHead1 h = parse_ok(request_with({"Host: a", "Transfer-Encoding: chunked"}));
  BOOST_TEST((h.framing == BodyFraming::kChunked));
  BOOST_TEST((parse_ok(request_with({"Host: a", "transfer-encoding: Chunked"})).framing ==
              BodyFraming::kChunked));
}

BOOST_AUTO_TEST_CASE(content_length_with_transfer_encoding_is_refused) {
  RequestHead1 h;
  std::string raw = request_with({"Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"});
  BOOST_TEST((parse_request_head(raw, kMax, h) == ParseStatus::kError));
  BOOST_TEST(h.error_status == 400);
  BOOST_TEST(request_status(request_with(
                 {"Host: a", "Transfer-Encoding: chunked", "Content-Length: 0"})) == 400);
}

BOOST_AUTO_TEST_CASE(chunked_must_be_the_final_coding) {
  BOOST_TEST(request_status(request_with({"Host: a", "Transfer-Encoding: chunked, gzip"})) == 400);
  BOOST_TEST(request_status(request_with({"Host: a", "Transfer-Encoding: gzip"})) == 400);
  BOOST_TEST(request_status(request_with({"Host: a", "Transfer-Encoding: identity"})) == 400);
  BOOST_TEST(request_status(request_with({"Host: a", "Transfer-Encoding:"})) == 400);
  BOOST_TEST(request_status(request_with({"Host: a", "Transfer-Encoding: chunkedx"})) == 400);
  BOOST_TEST(request_status(request_with(
                 {"Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: gzip"})) == 400);
}

BOOST_AUTO_TEST_CASE(codings_other_than_chunked_get_501) {
  RequestHead1 h;
  std::string raw = request_with({"Host: a", "Transfer-Encoding: gzip, chunked"});
  BOOST_TEST((parse_request_head(raw, kMax, h) == ParseStatus::kError));
  BOOST_TEST(h.error_status == 501);
  BOOST_TEST(request_status(request_with(
                 {"Host: a", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked"})) == 501);
}

BOOST_AUTO_TEST_CASE(chunked_twice_is_refused) {
  BOOST_TEST(request_status(request_with({"Host: a", "Transfer-Encoding: chunked, chunked"})) ==
             400);
  BOOST_TEST(request_status(request_with(
                 {"Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"})) == 400);
}

BOOST_AUTO_TEST_CASE(transfer_encoding_on_http_1_0_is_refused) {
  BOOST_TEST(request_status(request_with({"Transfer-Encoding: chunked"}, "POST / HTTP/1.0")) ==
             400);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(request_host)

BOOST_AUTO_TEST_CASE(http_1_1_without_host_is_refused) {
  RequestHead1 h;
  BOOST_TEST((parse_request_head("GET / HTTP/1.1\r\n\r\n", kMax, h) == ParseStatus::kError));
  BOOST_TEST(h.error_status == 400);
  BOOST_TEST(h.error_reason == "missing host");
}

BOOST_AUTO_TEST_CASE(http_1_0_without_host_is_accepted) {
  BOOST_TEST(parse_ok("GET / HTTP/1.0\r\n\r\n").host.empty());
  BOOST_TEST(parse_ok("GET / HTTP/1.0\r\nHost: a.b\r\n\r\n").host == "a.b");
}

BOOST_AUTO_TEST_CASE(several_host_fields_are_refused) {
  BOOST_TEST(request_status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n") == 400);
  BOOST_TEST(request_status("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n") == 400);
}

BOOST_AUTO_TEST_CASE(invalid_host_values_are_refused) {
  for (std::string_view v :
       {"a b",      "user@a", "a/b",   "a?b",       "a#b",   "a\\b",   "a:port",
        "a:123456", ":80",    "[::1",  "[]",        "[::g]", "[::1]x", "a,b:80:90",
        "a%2",      "a%zz",   "\"a\"", "a\xc3\xa9", "a<b>",  "a, b"}) {
    std::string raw = "GET / HTTP/1.1\r\nHost: " + std::string(v) + "\r\n\r\n";
    BOOST_TEST(request_status(raw) == 400, "host " << v);
  }
}

BOOST_AUTO_TEST_CASE(valid_host_forms_are_accepted) {
  for (std::string_view v : {"example.com", "example.com:8080", "[::1]:443", "[::1]", "127.0.0.1",
                             "a-b_c~d.example", "%41bc", "", "a:", "xn--bcher-kva.ch"}) {
    std::string raw = "GET / HTTP/1.1\r\nHost: " + std::string(v) + "\r\n\r\n";
    BOOST_TEST(request_status(raw) == 0, "host " << v);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(request_connection)

BOOST_AUTO_TEST_CASE(http_1_1_keeps_alive_unless_connection_close) {
  BOOST_TEST(parse_ok(request_with({"Host: a"})).keep_alive);
  BOOST_TEST(!parse_ok(request_with({"Host: a", "Connection: close"})).keep_alive);
  BOOST_TEST(!parse_ok(request_with({"Host: a", "Connection: Keep-Alive, CLOSE"})).keep_alive);
  BOOST_TEST(
      !parse_ok(request_with({"Host: a", "Connection: te", "Connection: close"})).keep_alive);
  BOOST_TEST(parse_ok(request_with({"Host: a", "Connection: closed"})).keep_alive);
}

BOOST_AUTO_TEST_CASE(http_1_0_closes_unless_keep_alive) {
  BOOST_TEST(!parse_ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
  BOOST_TEST(parse_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
  BOOST_TEST(!parse_ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_recognised) {
  BOOST_TEST(parse_ok(request_with({"Host: a", "Expect: 100-continue"})).expect_continue);
  BOOST_TEST(parse_ok(request_with({"Host: a", "expect: 100-Continue"})).expect_continue);
  BOOST_TEST(!parse_ok(request_with({"Host: a", "Expect: 100-continued"})).expect_continue);
  BOOST_TEST(!parse_ok(request_with({"Host: a", "X-Expect: 100-continue"})).expect_continue);
}

BOOST_AUTO_TEST_CASE(upgrade_needs_the_connection_option_and_an_upgrade_field) {
  BOOST_TEST(
      parse_ok(request_with({"Host: a", "Connection: Upgrade", "Upgrade: websocket"})).upgrade);
  BOOST_TEST(!parse_ok(request_with({"Host: a", "Upgrade: websocket"})).upgrade);
  BOOST_TEST(!parse_ok(request_with({"Host: a", "Connection: upgrade"})).upgrade);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(response_head)

BOOST_AUTO_TEST_CASE(simple_response_is_parsed) {
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
  ResponseHead1 h = response_ok(raw);
  BOOST_TEST(h.status == 200);
  BOOST_TEST(h.reason == "OK");
  BOOST_TEST(h.version_minor == 1);
  BOOST_TEST(h.head_length == raw.size() - 5);
  BOOST_TEST((h.framing == BodyFraming::kContentLength));
  BOOST_TEST(h.content_length == 5u);
  BOOST_TEST(h.keep_alive);
  BOOST_TEST(h.fields.size() == 2u);
}

BOOST_AUTO_TEST_CASE(reason_may_be_empty_with_or_without_its_space) {
  BOOST_TEST(response_ok("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n").reason.empty());
  BOOST_TEST(response_ok("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n").reason.empty());
  BOOST_TEST(response_ok("HTTP/1.1 404 Not \tFound\r\nContent-Length: 0\r\n\r\n").reason ==
             "Not \tFound");
}

BOOST_AUTO_TEST_CASE(malformed_status_lines_get_502) {
  for (std::string_view line :
       {"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 200OK", "HTTP/2.0 200 OK",
        "HTTP/1.2 200 OK", "HTTP/1.1 099 x", "http/1.1 200 OK", "HTTP/1.1 200 O\x01K",
        "HTTP/1.1  200 OK", "HTTP/1.1 2x0 OK", "ICY 200 OK", ""}) {
    std::string raw = std::string(line) + "\r\nContent-Length: 0\r\n\r\n";
    BOOST_TEST(response_status(raw) == 502, "status line " << line);
  }
}

BOOST_AUTO_TEST_CASE(response_field_errors_get_502) {
  for (std::string_view f : {"X: 1\r\n 2", "X : 1", "X\x01: 1", "X: a\nY: b", "Nope", "X: a\rb"}) {
    std::string raw = "HTTP/1.1 200 OK\r\n" + std::string(f) + "\r\nContent-Length: 0\r\n\r\n";
    BOOST_TEST(response_status(raw) == 502);
  }
  BOOST_TEST(response_status("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"s) == 502);
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_valid_response_is_incomplete) {
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX:\r\n\r\n";
  for (size_t n = 0; n < raw.size(); ++n) {
    BOOST_TEST(response_status(std::string_view(raw).substr(0, n)) == -1, "prefix " << n);
  }
  BOOST_TEST(response_status(raw) == 0);
}

BOOST_AUTO_TEST_CASE(oversized_response_head_gets_502) {
  std::string raw = "HTTP/1.1 200 OK\r\nX: " + std::string(500, 'x') + "\r\n\r\n";
  BOOST_TEST(response_status(raw, "GET", 100) == 502);
  BOOST_TEST(response_status(raw.substr(0, 200), "GET", 100) == 502);
  BOOST_TEST(response_status(raw, "GET", raw.size()) == 0);
}

BOOST_AUTO_TEST_CASE(responses_that_cannot_have_a_body_have_no_framing) {
  std::string cl = "Content-Length: 10\r\n\r\n";
  BOOST_TEST((response_ok("HTTP/1.1 200 OK\r\n" + cl, "HEAD").framing == BodyFraming::kNone));
  BOOST_TEST((response_ok("HTTP/1.1 100 Continue\r\n\r\n").framing == BodyFraming::kNone));
  BOOST_TEST(
      (response_ok("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").framing ==
       BodyFraming::kNone));
  BOOST_TEST((response_ok("HTTP/1.1 204 No Content\r\n\r\n").framing == BodyFraming::kNone));
  BOOST_TEST((response_ok("HTTP/1.1 304 Not Modified\r\n" + cl).framing == BodyFraming::kNone));
  BOOST_TEST((response_ok("HTTP/1.1 200 OK\r\n\r\n", "CONNECT").framing == BodyFraming::kNone));
  BOOST_TEST((response_ok("HTTP/1.1 407 Auth\r\n" + cl, "CONNECT").framing ==
              BodyFraming::kContentLength));
  BOOST_TEST(response_ok("HTTP/1.1 204 No Content\r\n\r\n").keep_alive);
}

BOOST_AUTO_TEST_CASE(chunked_response_is_chunked) {
  ResponseHead1 h = response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  BOOST_TEST((h.framing == BodyFraming::kChunked));
  BOOST_TEST(h.keep_alive);
}

BOOST_AUTO_TEST_CASE(response_whose_final_coding_is_not_chunked_runs_until_close) {
  ResponseHead1 h = response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  BOOST_TEST((h.framing == BodyFraming::kUntilClose));
  BOOST_TEST(!h.keep_alive);
}

BOOST_AUTO_TEST_CASE(response_with_transfer_encoding_and_content_length_is_refused) {
  ResponseHead1 h;
  std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
  BOOST_TEST((parse_response_head(raw, kMax, "GET", h) == ParseStatus::kError));
  BOOST_TEST(h.error_status == 502);
}

BOOST_AUTO_TEST_CASE(response_with_chunked_twice_or_on_http_1_0_is_refused) {
  BOOST_TEST(response_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") ==
             502);
  BOOST_TEST(response_status("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") == 502);
}

BOOST_AUTO_TEST_CASE(differing_content_lengths_in_a_response_are_refused) {
  BOOST_TEST(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") ==
             502);
  BOOST_TEST(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n") == 502);
}

BOOST_AUTO_TEST_CASE(identical_content_lengths_in_a_response_are_one_value) {
  ResponseHead1 h =
      response_ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  BOOST_TEST(h.content_length == 5u);
  BOOST_TEST(response_ok("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n").content_length == 7u);
}

BOOST_AUTO_TEST_CASE(invalid_content_length_in_a_response_is_refused) {
  for (std::string_view v : {"", "-1", "0x1", "1 2", ",", "99999999999999999999"}) {
    std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: " + std::string(v) + "\r\n\r\n";
    BOOST_TEST(response_status(raw) == 502, "value " << v);
  }
}

BOOST_AUTO_TEST_CASE(response_without_framing_runs_until_close) {
  ResponseHead1 h = response_ok("HTTP/1.1 200 OK\r\n\r\n");
  BOOST_TEST((h.framing == BodyFraming::kUntilClose));
  BOOST_TEST(!h.keep_alive);
}

BOOST_AUTO_TEST_CASE(response_keep_alive_follows_version_and_connection) {
  BOOST_TEST(
      !response_ok("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
  BOOST_TEST(!response_ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  BOOST_TEST(response_ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
                 .keep_alive);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(chunked_decoder)

BOOST_AUTO_TEST_CASE(chunked_body_is_decoded) {
  Decoded d = decode("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  BOOST_TEST((d.status == ChunkedDecoder::Status::kDone));
  BOOST_TEST(d.body == "hello world");
  BOOST_TEST(d.decoded == 11u);
  BOOST_TEST(d.leftover.empty());
  BOOST_TEST(d.trailers.empty());
}

BOOST_AUTO_TEST_CASE(chunked_body_decodes_when_fed_byte_by_byte) {
  std::string input = "5;a=b\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\nNEXT";
  Decoded d = decode(input, 1);
  BOOST_TEST((d.status == ChunkedDecoder::Status::kDone));
  BOOST_TEST(d.body == "hello0123456789");
  BOOST_TEST(d.leftover == "NEXT");
  BOOST_TEST_REQUIRE(d.trailers.size() == 1u);
  BOOST_TEST(d.trailers[0].second == "1");
}

BOOST_AUTO_TEST_CASE(partial_input_needs_more) {
  Decoded d = decode("5\r\nhel");
  BOOST_TEST((d.status == ChunkedDecoder::Status::kNeedMore));
  BOOST_TEST(d.body == "hel");
  BOOST_TEST((decode("5\r\nhello\r\n0\r\n").status == ChunkedDecoder::Status::kNeedMore));
}

BOOST_AUTO_TEST_CASE(bytes_after_the_last_chunk_are_left_in_the_input) {
  Decoded d = decode("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n");
  BOOST_TEST((d.status == ChunkedDecoder::Status::kDone));
  BOOST_TEST(d.leftover == "GET / HTTP/1.1\r\n");
}

BOOST_AUTO_TEST_CASE(hex_sizes_are_case_insensitive) {
  std::string data(26, 'z');
  BOOST_TEST(decode("1a\r\n" + data + "\r\n0\r\n\r\n").body == data);
  BOOST_TEST(decode("1A\r\n" + data + "\r\n0\r\n\r\n").body == data);
  BOOST_TEST(decode("001A\r\n" + data + "\r\n000\r\n\r\n").body == data);
}

BOOST_AUTO_TEST_CASE(chunk_extensions_are_skipped) {
  Decoded d = decode("5;name=value;q=\"x y\"\r\nhello\r\n0;last\r\n\r\n");
  BOOST_TEST((d.status == ChunkedDecoder::Status::kDone));
  BOOST_TEST(d.body == "hello");
  BOOST_TEST(decode("5 ; ext\r\nhello\r\n0\r\n\r\n").body == "hello");
  BOOST_TEST(decode("5\t;ext\r\nhello\r\n0\r\n\r\n", 1).body == "hello");
}

BOOST_AUTO_TEST_CASE(overlong_chunk_extension_is_refused) {
  std::string ext = ";" + std::string(5000, 'e');
  BOOST_TEST(decode_fails("5" + ext + "\r\nhello\r\n0\r\n\r\n"));
  BOOST_TEST(decode_fails("5" + ext));  // refused before the line ends
  BOOST_TEST((decode("5;" + std::string(4000, 'e') + "\r\nhello\r\n0\r\n\r\n").status ==
              ChunkedDecoder::Status::kDone));
}

BOOST_AUTO_TEST_CASE(control_bytes_in_chunk_extensions_are_refused) {
  BOOST_TEST(decode_fails("5;a\x01\r\nhello\r\n0\r\n\r\n"));
  BOOST_TEST(decode_fails("5;a\rb\r\nhello\r\n0\r\n\r\n"));
  BOOST_TEST(decode_fails("5;a\0b\r\nhello\r\n0\r\n\r\n"s));
}

BOOST_AUTO_TEST_CASE(invalid_chunk_sizes_are_refused) {
  for (std::string_view size : {"", "g", "-1", "+1", " 5", "5 ", "0x5", "5.0", "5,", "\t5"}) {
    std::string input = std::string(size) + "\r\nhello\r\n0\r\n\r\n";
    BOOST_TEST(decode_fails(input), "size " << size);
  }
}

BOOST_AUTO_TEST_CASE(chunk_size_overflow_is_refused) {
  BOOST_TEST(decode_fails("10000000000000000\r\n"));
  BOOST_TEST(decode_fails("00000000000000001\r\nx\r\n0\r\n\r\n"));
  Decoded big = decode("ffffffffffffffff\r\nabc");
  BOOST_TEST((big.status == ChunkedDecoder::Status::kNeedMore));
  BOOST_TEST(big.body == "abc");
}

BOOST_AUTO_TEST_CASE(missing_crlf_after_chunk_data_is_refused) {
  BOOST_TEST(decode_fails("5\r\nhelloX\r\n0\r\n\r\n"));
  BOOST_TEST(decode_fails("5\r\nhello\rX0\r\n\r\n"));
  BOOST_TEST(decode_fails("5\r\nhello\n0\r\n\r\n"));
  BOOST_TEST(decode_fails("5\r\nhello0\r\n\r\n"));
  BOOST_TEST(decode_fails("5\r\nhelloo\r\n0\r\n\r\n"));
}

BOOST_AUTO_TEST_CASE(bare_lf_in_a_chunk_size_line_is_refused) {
  BOOST_TEST(decode_fails("5\nhello\r\n0\r\n\r\n"));
  BOOST_TEST(decode_fails("5\r\nhello\r\n0\n\r\n"));
  Decoded d = decode("5\nhello");
  BOOST_TEST(d.error == "bare LF in chunk size line");
}

BOOST_AUTO_TEST_CASE(trailers_are_collected) {
  Decoded d = decode("3\r\nabc\r\n0\r\nX-Checksum: 123 \r\nServer-Timing: db;dur=5\r\n\r\n", 2);
  BOOST_TEST((d.status == ChunkedDecoder::Status::kDone));
  BOOST_TEST_REQUIRE(d.trailers.size() == 2u);
  BOOST_TEST(d.trailers[0].first == "x-checksum");
  BOOST_TEST(d.trailers[0].second == "123");
  BOOST_TEST(d.trailers[1].first == "server-timing");
  BOOST_TEST(d.trailers[1].second == "db;dur=5");
}

BOOST_AUTO_TEST_CASE(malformed_trailers_are_refused) {
  BOOST_TEST(decode_fails("0\r\nX: 1\r\n 2\r\n\r\n"));
  BOOST_TEST(decode_fails("0\r\nNoColon\r\n\r\n"));
  BOOST_TEST(decode_fails("0\r\nX : 1\r\n\r\n"));
  BOOST_TEST(decode_fails("0\r\nX: 1\n\r\n"));
  BOOST_TEST(decode_fails("0\r\nX: a\rb\r\n\r\n"));
  BOOST_TEST(decode_fails("0\r\n\n"));
}

BOOST_AUTO_TEST_CASE(oversized_trailer_section_is_refused) {
  std::string trailers;
  for (int i = 0; i < 200; ++i) trailers += "X-Pad: " + std::string(100, 'p') + "\r\n";
  BOOST_TEST(decode_fails("0\r\n" + trailers + "\r\n"));
  BOOST_TEST(decode_fails("0\r\nX: " + std::string(20000, 'p')));
}

BOOST_AUTO_TEST_CASE(max_out_limits_the_bytes_moved_per_call) {
  ChunkedDecoder d;
  pforte::EvbufferPtr in = pforte::make_evbuffer();
  pforte::EvbufferPtr out = pforte::make_evbuffer();
  std::string input = "a\r\n0123456789\r\n0\r\n\r\n";
  evbuffer_add(in.get(), input.data(), input.size());
  BOOST_TEST((d.decode(in.get(), out.get(), 4) == ChunkedDecoder::Status::kNeedMore));
  BOOST_TEST(evbuffer_get_length(out.get()) == 4u);
  BOOST_TEST((d.decode(in.get(), out.get(), 0) == ChunkedDecoder::Status::kNeedMore));
  BOOST_TEST(evbuffer_get_length(out.get()) == 4u);
  BOOST_TEST((d.decode(in.get(), out.get(), 4) == ChunkedDecoder::Status::kNeedMore));
  BOOST_TEST(evbuffer_get_length(out.get()) == 8u);
  BOOST_TEST((d.decode(in.get(), out.get(), 4) == ChunkedDecoder::Status::kDone));
  BOOST_TEST(drain(out.get()) == "0123456789");
  BOOST_TEST(d.decoded_bytes() == 10u);
}

BOOST_AUTO_TEST_CASE(back_pressure_and_byte_by_byte_input_give_the_same_body) {
  std::string body;
  std::string input;
  for (size_t n : {1, 17, 300, 2, 4096}) {
    std::string chunk(n, static_cast<char>('a' + n % 26));
    char size[32];
    snprintf(size, sizeof(size), "%zx\r\n", n);
    input += size + chunk + "\r\n";
    body += chunk;
  }
  input += "0\r\n\r\n";
  for (size_t piece : {size_t{1}, size_t{3}, size_t{1000}}) {
    for (size_t max_out : {size_t{1}, size_t{7}, size_t{SIZE_MAX}}) {
      Decoded d = decode(input, piece, max_out);
      BOOST_TEST((d.status == ChunkedDecoder::Status::kDone));
      BOOST_TEST(d.body == body);
      BOOST_TEST(d.decoded == body.size());
    }
  }
}

BOOST_AUTO_TEST_CASE(decoder_stays_done_or_failed) {
  ChunkedDecoder d;
  pforte::EvbufferPtr in = pforte::make_evbuffer();
  pforte::EvbufferPtr out = pforte::make_evbuffer();
  evbuffer_add(in.get(), "0\r\n\r\n1\r\n", 8);
  BOOST_TEST((d.decode(in.get(), out.get()) == ChunkedDecoder::Status::kDone));
  BOOST_TEST((d.decode(in.get(), out.get()) == ChunkedDecoder::Status::kDone));
  BOOST_TEST(evbuffer_get_length(in.get()) == 3u);

  ChunkedDecoder bad;
  evbuffer_add(in.get(), "zz", 2);
  BOOST_TEST((bad.decode(in.get(), out.get()) == ChunkedDecoder::Status::kError));
  BOOST_TEST(!bad.error_reason().empty());
  BOOST_TEST((bad.decode(in.get(), out.get()) == ChunkedDecoder::Status::kError));
}

BOOST_AUTO_TEST_CASE(append_chunk_header_writes_hex_and_crlf) {
  pforte::EvbufferPtr out = pforte::make_evbuffer();
  append_chunk_header(out.get(), 0);
  append_chunk_header(out.get(), 255);
  append_chunk_header(out.get(), 4096);
  BOOST_TEST(drain(out.get()) == "0\r\nff\r\n1000\r\n");
}

BOOST_AUTO_TEST_CASE(encoded_chunks_decode_back) {
  pforte::EvbufferPtr enc = pforte::make_evbuffer();
  std::string body = "the quick brown fox";
  append_chunk_header(enc.get(), body.size());
  evbuffer_add(enc.get(), body.data(), body.size());
  evbuffer_add(enc.get(), "\r\n", 2);
  append_chunk_header(enc.get(), 0);
  evbuffer_add(enc.get(), "\r\n", 2);
  Decoded d = decode(drain(enc.get()), 5);
  BOOST_TEST((d.status == ChunkedDecoder::Status::kDone));
  BOOST_TEST(d.body == body);
}

BOOST_AUTO_TEST_SUITE_END()
