#include "modules/waiting_room/waiting_room.h"

#include <sys/random.h>

#include <event2/event.h>
#include <chrono>

#include "modules/waiting_room/config.h"
#include "modules/waiting_room/decide.h"
#include "modules/waiting_room/page.h"
#include "modules/waiting_room/shared.h"

namespace pforte::modules::waiting_room {

namespace {

constexpr std::string_view kAdminPrefix = "/waiting-room/";
constexpr timeval kSaveInterval{1, 0};

int64_t unix_us_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

timeval ms_timeval(int64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
}

/// What the request phase decided, for the response_head and log phases.
struct ExchangeState : module::ModuleState {
  const Room* room = nullptr;
  Verdict verdict;  ///< its cookie (if any) is set on the answer
  // While held for a booked token:
  EventPtr hold_timer;
  module::ResumeHandle resume;
  module::Request* request = nullptr;  ///< the exchange's; alive as long as this state
  std::string scheduled_cookie;        ///< the booking, decided again when it falls due
  uint64_t random_bits = 0;
};

/// The `pforte_wr` value among all Cookie fields (HTTP/2 may split them), or empty.
std::string_view cookie_of(const http::Headers& headers) {
  for (const http::Field& f : headers) {
    if (f.name != "cookie") continue;
    std::string_view v = find_cookie(f.value);
    if (!v.empty()) return v;
  }
  return {};
}

/// Takes `pforte_wr` out of the Cookie fields the platform gets (the caller knows there is one).
void strip_room_cookie(http::Headers& headers) {
  std::vector<std::string> kept;
  for (const http::Field& f : headers) {
    if (f.name != "cookie") continue;
    std::string rest = without_cookie(f.value);
    if (!rest.empty()) kept.push_back(std::move(rest));
  }
  headers.remove("cookie");
  for (const std::string& value : kept) headers.add("cookie", value);
}

module::Decision json_reply(int status, std::string body) {
  module::LocalReply r;
  r.response.status = status;
  r.response.headers.add("content-type", kJsonContentType);
  r.response.headers.add("cache-control", kCacheControl);
  r.body = make_evbuffer();
  body.push_back('\n');
  evbuffer_add(r.body.get(), body.data(), body.size());
  return module::Decision::reply(std::move(r));
}

module::Decision waiting_reply(const Room& room, const Verdict& v, const module::Request& req) {
  const int64_t retry_after = v.retry_after_s();
  const uint64_t eta = eta_seconds(v.place.eta_s);
  module::LocalReply r;
  r.body = make_evbuffer();
  std::string body;
  if (wants_json(req.headers.get("accept").value_or(""))) {
    r.response.status = 429;
    r.response.headers.add("content-type", kJsonContentType);
    body = render_json(v.place.position, eta, retry_after, v.poll_ms);
    body.push_back('\n');
  } else {
    PageInfo info;
    info.room = room.config.name;
    info.position = v.place.position;
    info.eta_seconds = eta;
    info.refresh_seconds = retry_after;
    info.refresh_ms = v.poll_ms;
    info.lang = choose_language(req.headers.get("accept-language").value_or(""));
    info.state = v.place.before_opening ? PageState::kBeforeOpening
                 : v.place.paused       ? PageState::kPaused
                                        : PageState::kWaiting;
    r.response.status = 200;
    r.response.headers.add("content-type", kHtmlContentType);
    r.response.headers.add("content-language", lang_tag(info.lang));
    body = room.template_text.empty() ? render_builtin_page(info)
                                      : render_template(room.template_text, info);
  }
  r.response.headers.add("cache-control", kCacheControl);
  r.response.headers.add("retry-after", std::to_string(retry_after));
  if (req.method != "HEAD") evbuffer_add(r.body.get(), body.data(), body.size());
  return module::Decision::reply(std::move(r));
}

class WaitingRoomModule : public module::Module {
 public:
  explicit WaitingRoomModule(const module::WorkerInfo& info)
      : index_(info.module_index),
        shared_(std::static_pointer_cast<WaitingRoomShared>(info.shared)),
        rng_(seed()) {
    if (info.worker_index == 0 && shared_ && shared_->persists() && info.base) {
      save_timer_.reset(event_new(info.base, -1, EV_PERSIST, &WaitingRoomModule::on_save, this));
      evtimer_add(save_timer_.get(), &kSaveInterval);
    }
  }

  module::Decision on_request(module::ExchangeContext& ctx) override {
    if (ctx.fetch_depth() > 0 || !shared_) return module::Decision::proceed();
    const auto it = ctx.route().modules.find("waiting_room");
    if (it == ctx.route().modules.end()) return module::Decision::proceed();
    const auto* route = static_cast<const RouteRoomConfig*>(it->second.get());
    if (route->room_index >= shared_->rooms().size()) return module::Decision::proceed();
    const Room& room = *shared_->rooms()[route->room_index];

    module::Request& req = ctx.request();
    const std::string_view cookie = cookie_of(req.headers);
    const bool has_cookie = !cookie.empty();
    Verdict v = decide(room.gate(), cookie, unix_us_now(), rng_.next());
    if (v.waited_s >= 0) room.wait_seconds->observe(v.waited_s);
    auto state = std::make_unique<ExchangeState>();
    state->room = &room;
    state->verdict = std::move(v);
    Verdict& verdict = state->verdict;
    if (verdict.outcome == Outcome::kScheduled && verdict.poll_ms <= kHoldMs) {
      return hold(ctx, std::move(state), has_cookie ? std::string(cookie) : std::string());
    }
    ctx.state(index_) = std::move(state);
    if (verdict.passes()) {
      if (has_cookie) strip_room_cookie(req.headers);
      return module::Decision::proceed();
    }
    return waiting_reply(room, verdict, req);
  }

  /// Holds the request until its booked token falls due, then decides again with the booking's
  /// cookie (the new one, or the one the visitor brought back early) and passes or answers.
  module::Decision hold(module::ExchangeContext& ctx, std::unique_ptr<ExchangeState> state,
                        std::string brought) {
    module::Request& req = ctx.request();
    state->scheduled_cookie =
        state->verdict.cookie.empty() ? std::move(brought) : state->verdict.cookie;
    state->request = &req;
    state->random_bits = rng_.next();
    state->resume = ctx.resume_handle();
    strip_room_cookie(req.headers);
    state->hold_timer.reset(evtimer_new(ctx.base(), &WaitingRoomModule::on_due, state.get()));
    const timeval tv = ms_timeval(state->verdict.poll_ms);
    evtimer_add(state->hold_timer.get(), &tv);
    ctx.state(index_) = std::move(state);
    return module::Decision::suspend();
  }

  static void on_due(evutil_socket_t, short, void* arg) {
    auto* s = static_cast<ExchangeState*>(arg);
    const Room& room = *s->room;
    Verdict v = decide(room.gate(), s->scheduled_cookie, unix_us_now(), s->random_bits);
    if (v.outcome == Outcome::kScheduled && v.poll_ms <= kHoldMs) {
      // The timer and the wall clock disagree by a moment: wait the rest.
      const timeval tv = ms_timeval(v.poll_ms);
      evtimer_add(s->hold_timer.get(), &tv);
      return;
    }
    if (v.waited_s >= 0) room.wait_seconds->observe(v.waited_s);
    s->verdict = std::move(v);
    // The exchange owns this state: resuming may end it, so nothing of `s` is used after.
    module::ResumeHandle resume = s->resume;
    if (s->verdict.passes()) {
      resume.resume(module::Decision::proceed());
    } else {
      resume.resume(waiting_reply(room, s->verdict, *s->request));
    }
  }

  module::Decision on_admin(module::ExchangeContext& ctx) override {
    const module::Request& req = ctx.request();
    std::string_view path = req.path;
    path = path.substr(0, path.find('?'));
    if (!path.starts_with(kAdminPrefix)) return module::Decision::proceed();
    path.remove_prefix(kAdminPrefix.size());
    std::string_view name = path.substr(0, path.find('/'));
    std::string_view action =
        name.size() < path.size() ? path.substr(name.size() + 1) : std::string_view();
    const Room* room = shared_ ? shared_->find(name) : nullptr;
    if (!room) return json_reply(404, R"({"error":"no such waiting room"})");
    const bool read = action.empty();
    if (!read && action != "pause" && action != "resume") {
      return json_reply(404, "{\"error\":\"no such action: use pause or resume\"}");
    }
    const bool allowed =
        read ? (req.method == "GET" || req.method == "HEAD") : req.method == "POST";
    if (!allowed) {
      module::Decision d = json_reply(405, R"({"error":"method not allowed"})");
      std::unique_ptr<module::LocalReply> r = d.take_reply();
      r->response.headers.add("allow", read ? "GET, HEAD" : "POST");
      return module::Decision::reply(std::move(*r));
    }
    const int64_t now = unix_us_now();
    if (action == "pause") room->state->pause(now);
    if (action == "resume") room->state->resume(now);
    return json_reply(200, room->json(now));
  }

  void on_response_head(module::ExchangeContext& ctx, module::Response& response) override {
    auto* s = state(ctx);
    if (!s) return;
    Verdict& v = s->verdict;
    if (v.outcome == Outcome::kAdmitted &&
        (response.status == 502 || response.status == 503 || response.status == 504)) {
      // The platform could not take this visitor now: their retry must wait for a token.
      give_back(s->room->gate(), v, unix_us_now());
    }
    if (v.cookie.empty()) return;
    response.headers.add("set-cookie", set_cookie_value(v.cookie, v.cookie_max_age_s, ctx.tls()));
  }

  void on_log(module::ExchangeContext& ctx, module::LogRecord& record) override {
    if (const auto* s = state(ctx))
      record.waiting_room = std::string(to_string(s->verdict.outcome));
  }

 private:
  static uint64_t seed() {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != sizeof s) {
      s = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }
    return s;
  }

  /// Worker 0, every second: persist the rooms that have a state_file.
  static void on_save(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<WaitingRoomModule*>(arg);
    self->shared_->save(unix_us_now());
  }

  ExchangeState* state(module::ExchangeContext& ctx) {
    return static_cast<ExchangeState*>(ctx.state(index_).get());
  }

  size_t index_;
  std::shared_ptr<WaitingRoomShared> shared_;
  SplitMix64 rng_;
  EventPtr save_timer_;
};

}  // namespace

bool wants_json(std::string_view accept) {
  bool json = false;
  bool html = false;
  http::for_each_token(accept, [&](std::string_view item) {
    std::string_view type = item.substr(0, item.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    const bool refused =
        item.find("q=0") != std::string_view::npos &&
        item.find_first_of("123456789", item.find("q=0") + 3) == std::string_view::npos;
    if (refused) return;
    if (http::iequals(type, "application/json") || type.ends_with("+json")) json = true;
    if (http::iequals(type, "text/html")) html = true;
  });
  return json && !html;
}

module::ModuleFactory factory() {
  module::ModuleFactory f;
  f.name = "waiting_room";
  f.order = 10;
  f.parser = config_parser();
  f.prepare = [](const config::Config& config, std::shared_ptr<module::ModuleShared> previous)
      -> std::expected<std::shared_ptr<module::ModuleShared>, std::string> {
    auto shared = WaitingRoomShared::prepare(config, previous, unix_us_now());
    if (!shared) return std::unexpected(shared.error());
    return std::shared_ptr<module::ModuleShared>(std::move(*shared));
  };
  f.create = [](const module::WorkerInfo& info) -> std::unique_ptr<module::Module> {
    return std::make_unique<WaitingRoomModule>(info);
  };
  return f;
}

}  // namespace pforte::modules::waiting_room
