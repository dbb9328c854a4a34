// The endpoints of pforte-origin (see README.md): which request gets which answer.
#include <event2/buffer.h>

#include <cstdio>
#include <ctime>

#include "bench/origin/connection.h"
#include "bench/origin/content.h"
#include "bench/origin/worker.h"

namespace pforte::origin {
namespace {

PathClass classify(std::string_view path) {
  if (path.starts_with("/static/")) return PathClass::kStatic;
  if (path.starts_with("/bytes/")) return PathClass::kBytes;
  if (path == "/" || path == "/ssi") return PathClass::kHome;
  if (path.starts_with("/news")) return PathClass::kNews;
  if (path.starts_with("/login")) return PathClass::kLogin;
  if (path.starts_with("/echo")) return PathClass::kEcho;
  if (path.starts_with("/upload")) return PathClass::kUpload;
  if (path.starts_with("/headers")) return PathClass::kHeaders;
  if (path.starts_with("/cc/")) return PathClass::kCc;
  return PathClass::kOther;
}

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out.append(buf);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kText = "text/plain";
constexpr std::string_view kHtml = "text/html; charset=utf-8";
constexpr std::string_view kNoStore = "Cache-Control: no-store\r\n";

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query parameter values: %XX escapes and '+' for a space. Control characters become '_' so a
// test cannot inject header lines.
std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < in.size() && hex_digit(in[i + 1]) >= 0 &&
               hex_digit(in[i + 2]) >= 0) {
      c = static_cast<char>(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2]));
      i += 2;
    }
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? '_' : c);
  }
  return out;
}

}  // namespace

bool Connection::get_or_head() {
  return req_.method == "GET" || req_.method == "HEAD";
}

void Connection::dispatch() {
  std::string_view path = req_.path;
  worker_.counters().paths[static_cast<int>(classify(path))].fetch_add(1,
                                                                       std::memory_order_relaxed);
  bool post_or_put = req_.method == "POST" || req_.method == "PUT";

  if (path.starts_with("/static/")) {
    route_static(path.substr(8));
  } else if (path.starts_with("/bytes/")) {
    route_bytes(path.substr(7));
  } else if (path == "/" || path == "/ssi") {
    route_home(path == "/ssi");
  } else if (path == "/news/latest") {
    route_news();
  } else if (path == "/news/fallback") {
    route_news_fallback();
  } else if (path == "/login") {
    route_login();
  } else if (path == "/echo") {
    post_or_put ? route_echo() : reply(405, kText, "use POST or PUT\n", "Allow: POST, PUT\r\n");
  } else if (path == "/upload") {
    post_or_put ? route_upload() : reply(405, kText, "use POST or PUT\n", "Allow: POST, PUT\r\n");
  } else if (path == "/headers") {
    route_headers();
  } else if (path.starts_with("/status/")) {
    route_status(path.substr(8));
  } else if (path == "/slow") {
    route_slow();
  } else if (path.starts_with("/cc/")) {
    route_cc();
  } else if (path == "/_origin/fail") {
    post_or_put ? route_fail() : reply(405, kText, "use POST\n", "Allow: POST\r\n");
  } else if (path == "/hang") {
    state_ = State::kHung;
  } else if (path == "/health") {
    int status = origin_.health_status.load(std::memory_order_relaxed);
    reply(status, kText, status == 200 ? "ok" : "unhealthy", kNoStore);
  } else if (path == "/_origin/stats") {
    route_stats();
  } else if (path == "/_origin/reset") {
    post_or_put ? route_reset() : reply(405, kText, "use POST\n", "Allow: POST\r\n");
  } else if (path == "/_origin/blog") {
    post_or_put ? route_blog() : reply(405, kText, "use POST\n", "Allow: POST\r\n");
  } else if (path == "/_origin/health") {
    post_or_put ? route_health_switch() : reply(405, kText, "use POST\n", "Allow: POST\r\n");
  } else {
    reply(404, kText, "not found\n");
  }
}

void Connection::on_body_end() {
  switch (body_end_) {
    case BodyEnd::kNothing:
      return;
    case BodyEnd::kEcho:
      if (echo_framing_ == Framing::kChunked) evbuffer_add(output(), "0\r\n\r\n", 5);
      response_done_ = true;
      return;
    case BodyEnd::kUpload: {
      char body[96];
      int n = std::snprintf(body, sizeof body, "{\"bytes\":%llu,\"fnv1a64\":\"%016llx\"}\n",
                            static_cast<unsigned long long>(body_bytes_),
                            static_cast<unsigned long long>(body_hash_));
      reply(200, kJson, std::string_view(body, static_cast<size_t>(n)), kNoStore);
      return;
    }
    case BodyEnd::kLogin:
      begin_login();
      return;
  }
}

void Connection::route_static(std::string_view name) {
  if (!get_or_head()) {
    reply(405, kText, "use GET or HEAD\n", "Allow: GET, HEAD\r\n");
    return;
  }
  auto asset = find_static_asset(name);
  if (!asset) {
    reply(404, kText, "no such asset\n");
    return;
  }
  char size_text[20];
  size_t size_length = format_decimal(size_text, asset->size);
  uint64_t tag = fnv1a64(":", fnv1a64(name));
  tag = fnv1a64(std::string_view(size_text, size_length), tag);
  char etag[18];
  etag[0] = etag[17] = '"';
  format_hex16(etag + 1, tag);
  std::string_view etag_text(etag, sizeof etag);
  scratch_.assign("Cache-Control: public, max-age=3600\r\nETag: ");
  scratch_.append(etag_text).append("\r\nLast-Modified: ").append(kLastModified).append("\r\n");
  std::string_view field_text = scratch_;
  if (auto match = req_.header("if-none-match")) {
    if (*match == "*" || match->find(etag_text) != std::string_view::npos) {
      reply(304, {}, {}, field_text);
      return;
    }
  }
  write_head(200, Framing::kLength, asset->size, asset->content_type, field_text);
  if (req_.is_head() || asset->size == 0) {
    response_done_ = true;
    return;
  }
  start_stream(pattern_seed(name), asset->size, false, false);
}

void Connection::route_bytes(std::string_view count) {
  if (!get_or_head()) {
    reply(405, kText, "use GET or HEAD\n", "Allow: GET, HEAD\r\n");
    return;
  }
  auto size = parse_u64(count);
  if (!size || *size > (uint64_t{1} << 42)) {
    reply(400, kText, "bad byte count\n");
    return;
  }
  bool trailer = query_param(req_.query, "trailer") == "1";
  bool chunked = (query_param(req_.query, "chunked") == "1" || trailer) && req_.minor_version >= 1;
  constexpr std::string_view kOctets = "application/octet-stream";
  if (chunked) {
    write_head(200, Framing::kChunked, 0, kOctets,
               trailer ? "Cache-Control: no-store\r\nTrailer: x-checksum\r\n" : kNoStore);
  } else {
    write_head(200, Framing::kLength, *size, kOctets, kNoStore);
  }
  if (req_.is_head()) {
    response_done_ = true;
    return;
  }
  start_stream(pattern_seed(count), *size, chunked, trailer);
}

void Connection::route_home(bool ssi) {
  if (!get_or_head()) {
    reply(405, kText, "use GET or HEAD\n", "Allow: GET, HEAD\r\n");
    return;
  }
  reply(200, kHtml, ssi ? home_page_ssi() : home_page(), "Cache-Control: no-cache\r\n");
}

void Connection::route_news() {
  switch (origin_.blog.mode()) {
    case BlogMode::kHealthy:
      reply_news();
      return;
    case BlogMode::kSlow:
      start_timer(origin_.blog.delay_ms(), Pending::kBlog);
      return;
    case BlogMode::kHung:
      state_ = State::kHung;
      return;
    case BlogMode::kDead:
      close_now();
      return;
  }
}

void Connection::reply_news() {
  uint64_t n = origin_.news_served.fetch_add(1, std::memory_order_relaxed) + 1;
  char body[256];
  int length = std::snprintf(body, sizeof body,
                             "<ul class=\"news\">\n"
                             "<li>News #%llu: the new timetable is online</li>\n"
                             "<li>Reminder: lessons start at 8:00</li>\n"
                             "</ul>\n",
                             static_cast<unsigned long long>(n));
  reply(200, kHtml, std::string_view(body, static_cast<size_t>(length)),
        "Cache-Control: public, max-age=60\r\n");
}

void Connection::route_news_fallback() {
  reply(200, kHtml, kNewsFallback, "Cache-Control: public, max-age=60\r\n");
}

void Connection::route_login() {
  if (get_or_head()) {
    reply(200, kHtml, login_page(), kNoStore);
  } else if (req_.method == "POST") {
    body_end_ = BodyEnd::kLogin;
  } else {
    reply(405, kText, "use GET or POST\n", "Allow: GET, HEAD, POST\r\n");
  }
}

void Connection::begin_login() {
  if (origin_.login_gate.try_acquire()) {
    holds_login_slot_ = true;
    start_timer(origin_.options.login_service_ms, Pending::kLoginWork);
  } else if (origin_.options.login_overload == LoginOverload::kReject) {
    origin_.login_stats.rejected();
    reply(503, kJson, "{\"ok\":false,\"error\":\"overloaded\"}\n",
          "Retry-After: 1\r\nCache-Control: no-store\r\n");
  } else {
    pending_ = Pending::kLoginQueue;
    origin_.login_stats.waiting_delta(1);
    worker_.queue_login(this);
  }
}

void Connection::finish_login() {
  holds_login_slot_ = false;
  origin_.login_gate.release();
  uint64_t user = origin_.login_stats.served(static_cast<int64_t>(time(nullptr)));
  char body[64];
  int n = std::snprintf(body, sizeof body, "{\"ok\":true,\"user\":%llu}\n",
                        static_cast<unsigned long long>(user));
  reply(200, kJson, std::string_view(body, static_cast<size_t>(n)), kNoStore);
  worker_.grant_login_slots();
}

void Connection::route_echo() {
  std::string_view type = req_.header("content-type").value_or("application/octet-stream");
  if (req_.body_kind == BodyKind::kChunked) {
    echo_framing_ = req_.minor_version >= 1 ? Framing::kChunked : Framing::kUntilClose;
  } else {
    echo_framing_ = Framing::kLength;
  }
  write_head(200, echo_framing_, req_.content_length, type, kNoStore);
  sink_ = Sink::kEcho;
  body_end_ = BodyEnd::kEcho;
}

void Connection::route_upload() {
  sink_ = Sink::kHash;
  body_hash_ = kFnvOffset;
  body_bytes_ = 0;
  body_end_ = BodyEnd::kUpload;
}

void Connection::route_headers() {
  scratch_.clear();
  scratch_.append("{\"method\":");
  append_json_string(scratch_, req_.method);
  scratch_.append(",\"target\":");
  append_json_string(scratch_, req_.target);
  scratch_.append(req_.minor_version == 0 ? ",\"version\":\"HTTP/1.0\""
                                          : ",\"version\":\"HTTP/1.1\"");
  scratch_.append(",\"headers\":[");
  for (size_t i = 0; i < req_.headers.size(); ++i) {
    scratch_.append(i ? ",[" : "[");
    append_json_string(scratch_, req_.headers[i].name);
    scratch_.push_back(',');
    append_json_string(scratch_, req_.headers[i].value);
    scratch_.push_back(']');
  }
  scratch_.append("]}\n");
  reply(200, kJson, scratch_, kNoStore);
}

void Connection::route_status(std::string_view code) {
  auto status = parse_u64(code);
  if (!status || *status < 200 || *status > 599) {
    reply(400, kText, "status must be 200..599\n");
    return;
  }
  char body[32];
  int n =
      std::snprintf(body, sizeof body, "status %llu\n", static_cast<unsigned long long>(*status));
  reply(static_cast<int>(*status), kText, std::string_view(body, static_cast<size_t>(n)), kNoStore);
}

void Connection::route_slow() {
  uint64_t ms = 1000;
  if (auto value = query_param(req_.query, "ms")) {
    auto parsed = parse_u64(*value);
    if (!parsed || *parsed > 3'600'000) {
      reply(400, kText, "ms must be 0..3600000\n");
      return;
    }
    ms = *parsed;
  }
  start_timer(ms, Pending::kSlow);
}

void Connection::route_cc() {
  if (!get_or_head()) {
    reply(405, kText, "use GET or HEAD\n", "Allow: GET, HEAD\r\n");
    return;
  }
  if (auto value = query_param(req_.query, "delay_ms")) {
    auto parsed = parse_u64(*value);
    if (!parsed || *parsed > 60'000) {
      reply(400, kText, "delay_ms must be 0..60000\n");
      return;
    }
    if (*parsed > 0) {
      start_timer(*parsed, Pending::kCc);
      return;
    }
  }
  reply_cc();
}

void Connection::reply_cc() {
  if (int fail = origin_.cc_fail.load(std::memory_order_relaxed)) {
    reply(fail, kText, "failing on purpose\n", kNoStore);
    return;
  }
  std::string_view name = req_.path.substr(4);
  std::string fields;
  if (auto cc = query_param(req_.query, "cc")) {
    fields.append("Cache-Control: ").append(percent_decode(*cc)).append("\r\n");
  }
  char etag[18];
  etag[0] = etag[17] = '"';
  format_hex16(etag + 1, fnv1a64(req_.target));
  std::string_view etag_text(etag, sizeof etag);
  if (query_param(req_.query, "etag") != "0") {
    fields.append("ETag: ").append(etag_text).append("\r\nLast-Modified: ");
    fields.append(kLastModified).append("\r\n");
  }
  if (query_param(req_.query, "cookie") == "1")
    fields.append("Set-Cookie: session=s3cr3t; Path=/\r\n");
  std::string body;
  if (auto vary = query_param(req_.query, "vary")) {
    std::string field = percent_decode(*vary);
    fields.append("Vary: ").append(field).append("\r\n");
    body.append("variant ").append(req_.header(field).value_or("-")).append("\n");
  }
  std::string type = "text/plain";
  if (auto t = query_param(req_.query, "type")) type = percent_decode(*t);
  uint64_t size = 0;
  if (auto s = query_param(req_.query, "size")) size = parse_u64(*s).value_or(0);
  if (query_param(req_.query, "etag") != "0") {
    if (auto match = req_.header("if-none-match")) {
      if (*match == "*" || match->find(etag_text) != std::string_view::npos) {
        reply(304, {}, {}, fields);
        return;
      }
    }
  }
  if (size > 0) {
    write_head(200, Framing::kLength, size, type, fields);
    if (req_.is_head()) {
      response_done_ = true;
      return;
    }
    start_stream(pattern_seed(name), size, false, false);
    return;
  }
  if (body.empty()) body.append("cc ").append(name).append("\n");
  scratch_ = std::move(body);
  reply(200, type, scratch_, fields);
}

void Connection::route_fail() {
  uint64_t status = 0;
  if (auto value = query_param(req_.query, "status")) {
    auto parsed = parse_u64(*value);
    if (!parsed || (*parsed != 0 && (*parsed < 200 || *parsed > 599))) {
      reply(400, kText, "status must be 0 or 200..599\n");
      return;
    }
    status = *parsed;
  }
  origin_.cc_fail.store(static_cast<int>(status), std::memory_order_relaxed);
  char body[32];
  int n = std::snprintf(body, sizeof body, "{\"status\":%llu}\n",
                        static_cast<unsigned long long>(status));
  reply(200, kJson, std::string_view(body, static_cast<size_t>(n)), kNoStore);
}

void Connection::route_stats() {
  scratch_ = origin_.stats_json();
  reply(200, kJson, scratch_, kNoStore);
}

void Connection::route_reset() {
  origin_.reset();
  reply(200, kJson, "{\"ok\":true}\n", kNoStore);
}

void Connection::route_blog() {
  BlogMode mode = origin_.blog.mode();
  uint64_t delay = origin_.blog.delay_ms();
  if (auto value = query_param(req_.query, "mode")) {
    auto parsed = parse_blog_mode(*value);
    if (!parsed) {
      reply(400, kText, "mode must be healthy, slow, hung or dead\n");
      return;
    }
    mode = *parsed;
  }
  if (auto value = query_param(req_.query, "delay_ms")) {
    auto parsed = parse_u64(*value);
    if (!parsed || *parsed > 86'400'000) {
      reply(400, kText, "bad delay_ms\n");
      return;
    }
    delay = *parsed;
  }
  origin_.blog.set(mode, delay);
  char body[96];
  int n = std::snprintf(body, sizeof body, "{\"mode\":\"%.*s\",\"delay_ms\":%llu}\n",
                        static_cast<int>(blog_mode_name(mode).size()), blog_mode_name(mode).data(),
                        static_cast<unsigned long long>(delay));
  reply(200, kJson, std::string_view(body, static_cast<size_t>(n)), kNoStore);
}

void Connection::route_health_switch() {
  auto value = query_param(req_.query, "status");
  auto parsed = value ? parse_u64(*value) : std::nullopt;
  if (!parsed || *parsed < 200 || *parsed > 599) {
    reply(400, kText, "status must be 200..599\n");
    return;
  }
  origin_.health_status.store(static_cast<int>(*parsed), std::memory_order_relaxed);
  char body[32];
  int n = std::snprintf(body, sizeof body, "{\"health\":%d}\n", static_cast<int>(*parsed));
  reply(200, kJson, std::string_view(body, static_cast<size_t>(n)), kNoStore);
}

}  // namespace pforte::origin
