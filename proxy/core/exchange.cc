#include "proxy/core/exchange.h"

#include <ctime>

#include "proxy/common/log.h"
#include "proxy/core/access_log.h"
#include "proxy/core/router.h"
#include "proxy/core/status_text.h"

namespace pforte::core {

namespace {

constexpr size_t kHighWatermark = 256 * 1024;
constexpr size_t kLowWatermark = 64 * 1024;

bool is_hop_by_hop(std::string_view name) {
  switch (name.size()) {  // by length first: most fields are rejected without a comparison
    case 2:
      return name == "te";
    case 7:
      return name == "trailer" || name == "upgrade";
    case 10:
      return name == "connection" || name == "keep-alive";
    case 16:
      return name == "proxy-connection";
    case 17:
      return name == "transfer-encoding";
    default:
      return false;
  }
}

/// Removes hop-by-hop fields and the fields named in Connection, in place. Keeps "upgrade" if
/// asked.
void strip_hop_by_hop(http::Headers& headers, bool keep_upgrade) {
  std::vector<std::string> named;
  for (const http::Field& f : headers) {
    if (f.name == "connection") {
      http::for_each_token(f.value, [&](std::string_view t) { named.emplace_back(t); });
    }
  }
  headers.remove_if([&](const http::Field& f) {
    if (keep_upgrade && f.name == "upgrade") return false;
    if (is_hop_by_hop(f.name)) return true;
    for (const std::string& n : named) {
      if (http::iequals(n, f.name)) return true;
    }
    return false;
  });
}

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

std::string via_token(int version) {
  switch (version) {
    case 10:
      return "1.0 pforte";
    case 20:
      return "2 pforte";
    default:
      return "1.1 pforte";
  }
}

}  // namespace

Exchange::Exchange(WorkerContext& worker, std::shared_ptr<WorkerGeneration> generation,
                   Downstream& downstream, RequestInfo info)
    : worker_(worker),
      gen_(std::move(generation)),
      downstream_(&downstream),
      info_(std::move(info)),
      started_(std::chrono::steady_clock::now()) {}

Exchange::~Exchange() {
  if (upstream_) upstream_->detach();
}

std::unique_ptr<module::ModuleState>& Exchange::state(size_t module_index) {
  return states_.at(module_index);
}

module::ResumeHandle Exchange::resume_handle() {
  return module::ResumeHandle(std::weak_ptr<module::ExchangeContext>(shared_from_this()));
}

void Exchange::start() {
  states_.resize(modules().size());
  if (info_.admin) {
    static const config::RouteConfig kAdminRoute;
    route_ = &kAdminRoute;
    run_admin_phase(0);
    return;
  }
  std::string host = normalize_host(info_.request.authority);
  route_ = match_route(config(), host, info_.request.path);
  if (!route_) {
    send_error(404, "No route for this host and path.\n");
    return;
  }
  run_request_phase(0);
}

void Exchange::run_admin_phase(size_t from) {
  auto& mods = modules();
  for (size_t i = from; i < mods.size(); ++i) {
    module::Decision d = mods[i]->on_admin(*this);
    if (d.kind() == module::Decision::Kind::kProceed) continue;
    apply(std::move(d), i);
    return;
  }
  send_error(404, "No such admin page.\n");
}

void Exchange::run_request_phase(size_t from) {
  auto& modules = this->modules();
  for (size_t i = from; i < modules.size(); ++i) {
    module::Decision d = modules[i]->on_request(*this);
    if (d.kind() == module::Decision::Kind::kProceed) continue;
    apply(std::move(d), i);
    return;
  }
  forward();
}

void Exchange::apply(module::Decision decision, size_t module_index) {
  switch (decision.kind()) {
    case module::Decision::Kind::kProceed:
      if (info_.admin)
        run_admin_phase(module_index + 1);
      else
        run_request_phase(module_index + 1);
      break;
    case module::Decision::Kind::kReply: {
      std::unique_ptr<module::LocalReply> reply = decision.take_reply();
      send_local_reply(std::move(*reply));
      break;
    }
    case module::Decision::Kind::kSuspend:
      suspended_ = true;
      resume_from_ = module_index;
      break;
  }
}

void Exchange::resume(module::Decision decision) {
  if (!suspended_ || finished_) return;
  suspended_ = false;
  apply(std::move(decision), resume_from_);
}

void Exchange::forward() {
  upstream::UpstreamPool& pool = *gen_->pools[route_->upstream_index];
  upstream::BodyMode mode = upstream::BodyMode::kNone;
  if (info_.has_body) {
    mode = info_.content_length ? upstream::BodyMode::kLength : upstream::BodyMode::kChunked;
  }
  bool retry_on_stale = !info_.has_body && is_idempotent(info_.request.method);
  upstream_ = std::make_unique<upstream::UpstreamRequest>(pool, *this, info_.request.method,
                                                          build_upstream_head(mode), mode,
                                                          info_.upgrade, retry_on_stale);
  // A request without a body is complete before it starts (HTTP/2: HEADERS with END_STREAM,
  // whose end the session reports only after this): said first, its head goes straight to the
  // socket and the response timeout is set once, instead of the write event being enabled for
  // the head and disabled again when the end follows.
  bool complete = mode == upstream::BodyMode::kNone;
  if (complete) upstream_->end_body(nullptr);
  upstream_->start();
  if (finished_) return;
  if (!complete) {
    if (early_body_ && evbuffer_get_length(early_body_.get()))
      upstream_->send_body(early_body_.get());
    if (request_ended_) {
      upstream_->end_body(request_trailers_ ? &*request_trailers_ : nullptr);
    } else if (info_.expect_continue && downstream_) {
      downstream_->send_continue();
    }
  }
  update_request_backpressure();
}

std::string Exchange::build_upstream_head(upstream::BodyMode mode) const {
  const module::Request& req = info_.request;
  std::string head;
  head.reserve(512);
  head.append(req.method).append(" ").append(req.path).append(" HTTP/1.1\r\nhost: ");
  head.append(req.authority).append("\r\n");
  std::string forwarded_for;
  std::string via;
  std::vector<std::string> named;  // fields listed in Connection are hop-by-hop too
  for (const http::Field& f : req.headers) {
    if (f.name == "connection") {
      http::for_each_token(f.value, [&](std::string_view t) { named.emplace_back(t); });
    }
  }
  for (const http::Field& f : req.headers) {
    std::string_view n = f.name;
    if (is_hop_by_hop(n) || n == "host" || n == "content-length" || n == "expect" ||
        n == "x-forwarded-proto") {
      continue;
    }
    bool listed = false;
    for (const std::string& c : named) listed = listed || http::iequals(c, n);
    if (listed) continue;
    if (n == "x-forwarded-for") {
      if (!forwarded_for.empty()) forwarded_for.append(", ");
      forwarded_for.append(f.value);
      continue;
    }
    if (n == "via") {
      if (!via.empty()) via.append(", ");
      via.append(f.value);
      continue;
    }
    head.append(n).append(": ").append(f.value).append("\r\n");
  }
  if (!forwarded_for.empty()) forwarded_for.append(", ");
  forwarded_for.append(info_.client_address);
  head.append("x-forwarded-for: ").append(forwarded_for).append("\r\n");
  head.append("x-forwarded-proto: ").append(req.scheme).append("\r\n");
  if (!via.empty()) via.append(", ");
  via.append(via_token(req.version));
  head.append("via: ").append(via).append("\r\n");
  switch (mode) {
    case upstream::BodyMode::kLength:
      head.append("content-length: ").append(std::to_string(*info_.content_length)).append("\r\n");
      break;
    case upstream::BodyMode::kChunked:
      head.append("transfer-encoding: chunked\r\n");
      break;
    case upstream::BodyMode::kNone:
      if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
        head.append("content-length: 0\r\n");
      }
      break;
  }
  if (info_.upgrade) {
    if (auto up = req.headers.get("upgrade")) {
      head.append("connection: upgrade\r\nupgrade: ").append(*up).append("\r\n");
    }
  }
  head.append("\r\n");
  return head;
}

void Exchange::on_request_body(evbuffer* data) {
  if (finished_) {
    evbuffer_drain(data, evbuffer_get_length(data));
    return;
  }
  if (upstream_) {
    upstream_->send_body(data);
  } else {
    if (!early_body_) early_body_ = make_evbuffer();
    evbuffer_add_buffer(early_body_.get(), data);
  }
  update_request_backpressure();
}

void Exchange::on_request_end(const http::Headers* trailers) {
  if (request_ended_) return;
  request_ended_ = true;
  if (finished_) return;
  if (upstream_) {
    upstream_->end_body(trailers);
  } else if (trailers) {
    request_trailers_ = *trailers;
  }
}

void Exchange::update_request_backpressure() {
  if (!downstream_) return;
  size_t pending = early_body_ ? evbuffer_get_length(early_body_.get()) : 0;
  if (upstream_) pending += upstream_->pending_request_bytes();
  if (!request_paused_ && pending > kHighWatermark) {
    request_paused_ = true;
    downstream_->pause_request_body(true);
  } else if (request_paused_ && pending < kLowWatermark) {
    request_paused_ = false;
    downstream_->pause_request_body(false);
  }
}

void Exchange::on_upstream_writable() {
  update_request_backpressure();
}

void Exchange::on_downstream_writable() {
  if (upstream_ && !finished_ && downstream_ && downstream_->response_buffered() < kLowWatermark) {
    upstream_->set_reading(true);
  }
}

void Exchange::on_upstream_head(module::Response&& head, const upstream::ResponseInfo& info) {
  upstream_server_ = upstream_->server_text();
  BodyInfo body{info.has_body, info.content_length};
  if (info_.request.method == "HEAD") {
    if (auto cl = head.headers.get("content-length")) {
      uint64_t n = 0;
      bool ok = !cl->empty();
      for (char c : *cl) {
        if (c < '0' || c > '9')
          ok = false;
        else
          n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (ok) body.content_length = n;
    }
  }
  strip_hop_by_hop(head.headers, info.upgraded);
  head.headers.remove("content-length");
  std::string via;
  if (auto v = head.headers.get("via")) via.assign(*v).append(", ");
  via.append("1.1 pforte");
  head.headers.set("via", via);
  if (!send_response_head(head, body)) return;
  if (info.upgraded && downstream_) {
    downstream_->start_tunnel(upstream_->take_connection());
    finish();
  }
}

bool Exchange::send_response_head(module::Response& head, BodyInfo body) {
  status_ = head.status;
  if (route_) {
    for (auto& m : modules()) m->on_response_head(*this, head);
  }
  if (replacement_) {
    std::unique_ptr<module::LocalReply> reply = std::move(replacement_);
    if (++replacements_ > 3) {
      send_error(500, "Internal error: a response was replaced too often.\n");
      return false;
    }
    body_rewritten_ = false;
    release_upstream();
    send_local_reply(std::move(*reply));
    return false;
  }
  if (body_rewritten_) body.content_length.reset();
  head_sent_ = true;
  if (downstream_) downstream_->send_head(std::move(head), body);
  return true;
}

void Exchange::replace_response(module::LocalReply reply) {
  replacement_ = std::make_unique<module::LocalReply>(std::move(reply));
}

void Exchange::write_body(evbuffer* piece) {
  if (finished_ || !downstream_) {
    evbuffer_drain(piece, evbuffer_get_length(piece));
    return;
  }
  bytes_sent_ += evbuffer_get_length(piece);
  downstream_->send_body(piece);
}

void Exchange::end_body() {
  if (finished_ || !body_held_) return;
  body_held_ = false;
  end_sent_ = true;
  if (downstream_) downstream_->send_end(nullptr);
  finish();
}

void Exchange::end_response(evbuffer* last_piece, const http::Headers* trailers) {
  if (route_) {
    for (auto& m : modules()) m->on_response_body(*this, last_piece, true);
  }
  size_t left = evbuffer_get_length(last_piece);
  if (left && downstream_ && info_.request.method != "HEAD") {
    bytes_sent_ += left;
    downstream_->send_body(last_piece);
  }
  if (body_held_) {
    release_upstream();
    return;
  }
  end_sent_ = true;
  if (downstream_) downstream_->send_end(trailers);
  finish();
}

void Exchange::on_upstream_body(evbuffer* piece) {
  if (finished_ || !downstream_) return;
  if (route_) {
    for (auto& m : modules()) m->on_response_body(*this, piece, false);
  }
  bytes_sent_ += evbuffer_get_length(piece);
  downstream_->send_body(piece);
  if (downstream_ && downstream_->response_buffered() > kHighWatermark && upstream_) {
    upstream_->set_reading(false);
  }
}

void Exchange::on_upstream_end(const http::Headers* trailers) {
  if (finished_) return;
  EvbufferPtr empty = make_evbuffer();
  end_response(empty.get(), trailers);
}

void Exchange::on_upstream_failure(upstream::Failure failure) {
  if (finished_) return;
  upstream_server_ = upstream_ ? upstream_->server_text() : "";
  int status = failure == upstream::Failure::kTimeout ? 504 : 502;
  switch (failure) {
    case upstream::Failure::kConnect:
      note_ = "upstream connect failed";
      break;
    case upstream::Failure::kTimeout:
      note_ = "upstream timeout";
      break;
    case upstream::Failure::kReset:
      note_ = "upstream closed the connection";
      break;
    case upstream::Failure::kBadResponse:
      note_ = "invalid upstream response";
      break;
  }
  if (head_sent_) {
    if (downstream_) downstream_->abort_response();
    finish();
    return;
  }
  if (route_) {
    // Every module sees the failure (isolation counts it even when the cache answers with a
    // stale copy); the first reply wins.
    std::unique_ptr<module::LocalReply> reply;
    for (auto& m : modules()) {
      module::Decision d = m->on_upstream_error(*this, status);
      if (d.kind() == module::Decision::Kind::kReply && !reply) reply = d.take_reply();
    }
    if (reply) {
      send_local_reply(std::move(*reply));
      return;
    }
  }
  send_error(status, status == 504 ? "The server did not answer in time.\n"
                                   : "The server could not be reached.\n");
}

void Exchange::fail_request(int status, std::string_view reason) {
  if (finished_) return;
  note_.assign(reason);
  if (head_sent_) {
    if (downstream_) downstream_->abort_response();
    finish();
    return;
  }
  release_upstream();
  send_error(status, std::string(status_text(status)) + "\n");
}

void Exchange::send_error(int status, std::string_view message) {
  module::LocalReply reply;
  reply.response.status = status;
  reply.response.headers.add("content-type", "text/plain; charset=utf-8");
  reply.response.headers.add("cache-control", "no-store");
  reply.body = make_evbuffer();
  evbuffer_add(reply.body.get(), message.data(), message.size());
  send_local_reply(std::move(reply));
}

void Exchange::send_local_reply(module::LocalReply reply) {
  if (finished_) return;
  if (head_sent_) {
    if (downstream_) downstream_->abort_response();
    finish();
    return;
  }
  release_upstream();
  size_t len = reply.body ? evbuffer_get_length(reply.body.get()) : 0;
  bool head_only = info_.request.method == "HEAD";
  BodyInfo body{len > 0 && !head_only, len};
  if (!send_response_head(reply.response, body)) return;
  if (!reply.body) reply.body = make_evbuffer();
  if (head_only) evbuffer_drain(reply.body.get(), len);
  end_response(reply.body.get(), nullptr);
}

void Exchange::release_upstream() {
  if (!upstream_) return;
  upstream_->detach();
  worker_.reaper().defer(std::move(upstream_));
}

void Exchange::finish() {
  if (finished_) return;
  finished_ = true;
  write_log();
  release_upstream();
  if (downstream_) {
    Downstream* d = downstream_;
    d->exchange_finished();
  }
}

void Exchange::on_downstream_closed() {
  downstream_ = nullptr;
  if (finished_) return;
  if (end_sent_) {
    // The stream closed because the complete response went out (HTTP/2 END_STREAM).
    finish();
    return;
  }
  finished_ = true;
  if (!head_sent_) {
    status_ = 499;
    // The attempt under way, for the log and the modules' per-server accounting.
    if (upstream_) upstream_server_ = upstream_->server_text();
  }
  if (note_.empty())
    note_ = deadline_missed_ ? "the caller's deadline passed" : "client closed the connection";
  write_log();
  release_upstream();
}

void Exchange::record_metrics() {
  uint64_t route = info_.admin ? 0xfffe : route_ ? route_->index : 0xffff;
  uint64_t key = route << 16 | static_cast<uint64_t>(status_ & 0xffff);
  module::Counter*& counter = gen_->request_counters[key];
  if (!counter) {
    std::string label = info_.admin ? "admin" : route_ ? std::to_string(route_->index) : "none";
    counter = &module::metrics().counter("pforte_requests_total",
                                         "Requests answered, by route (index in the config) and "
                                         "status code (499: the client left first).",
                                         {{"route", label}, {"code", std::to_string(status_)}});
  }
  counter->add();
  static module::Histogram& duration = module::metrics().histogram(
      "pforte_request_duration_seconds",
      "Time from the request head to the end of the response, all routes.", {});
  duration.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
}

void Exchange::write_log() {
  if (logged_) return;
  logged_ = true;
  AccessLog& log = worker_.access_log();
  if (route_) {
    for (auto& m : modules()) m->on_log(*this, log_);
  }
  record_metrics();
  if (!log.enabled()) return;
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char when[64];
  snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900,
           t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
                  .count();
  const module::Request& req = info_.request;
  std::string line;
  line.reserve(384);
  line.append("{\"time\":\"").append(when).append("\",\"client\":");
  append_json_string(line, info_.client_address);
  line.append(",\"proto\":\"")
      .append(req.version == 20   ? "h2"
              : req.version == 10 ? "http/1.0"
                                  : "http/1.1");
  line.append("\",\"host\":");
  append_json_string(line, req.authority);
  line.append(",\"method\":");
  append_json_string(line, req.method);
  line.append(",\"path\":");
  append_json_string(line, req.path);
  line.append(",\"status\":").append(std::to_string(status_));
  line.append(",\"bytes\":").append(std::to_string(bytes_sent_));
  char dur[32];
  snprintf(dur, sizeof dur, "%.3f", ms / 1000.0);
  line.append(",\"duration\":").append(dur);
  line.append(",\"upstream\":");
  append_json_string(line, route_ ? route_->upstream : "");
  line.append(",\"server\":");
  append_json_string(line, upstream_server_);
  line.append(",\"cache\":");
  append_json_string(line, log_.cache_status);
  line.append(",\"waiting_room\":");
  append_json_string(line, log_.waiting_room);
  line.append(",\"request_id\":");
  append_json_string(line, log_.request_id);
  if (!note_.empty()) {
    line.append(",\"error\":");
    append_json_string(line, note_);
  }
  line.push_back('}');
  log.append(line);
}

}  // namespace pforte::core
