#include "modules/isolation/isolation.h"

#include <event2/event.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <list>

#include "modules/isolation/health_checker.h"
#include "proxy/common/log.h"
#include "proxy/module/text.h"

namespace pforte::modules::isolation {

namespace {

constexpr std::string_view kRetryAfterFull = "1";

timeval to_tv(Millis ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
}

HealthPolicy health_policy(const config::UpstreamConfig& c) {
  return c.health ? HealthPolicy::from_config(*c.health) : HealthPolicy{};
}

CircuitBreakerPolicy breaker_policy(const config::UpstreamConfig& c) {
  return c.circuit_breaker ? CircuitBreakerPolicy::from_config(*c.circuit_breaker)
                           : CircuitBreakerPolicy{};
}

std::vector<std::string> addresses_of(const config::UpstreamConfig& c) {
  std::vector<std::string> out;
  for (const auto& a : c.servers) out.push_back(a.text);
  out.emplace_back();  // separates primaries from backups
  for (const auto& a : c.backup) out.push_back(a.text);
  return out;
}

const char* state_name(CircuitBreaker::State s) {
  switch (s) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

int64_t ms_until(Clock::time_point t, Clock::time_point now) {
  return t > now ? std::chrono::duration_cast<Millis>(t - now).count() : 0;
}

module::Decision unavailable(std::string_view retry_after, std::string_view message) {
  module::LocalReply reply;
  reply.response.status = 503;
  reply.response.headers.add("content-type", "text/plain; charset=utf-8");
  reply.response.headers.add("cache-control", "no-store");
  reply.response.headers.add("retry-after", retry_after);
  reply.body = make_evbuffer();
  evbuffer_add(reply.body.get(), message.data(), message.size());
  return module::Decision::reply(std::move(reply));
}

}  // namespace

std::string_view outcome_name(Outcome o) {
  static constexpr std::string_view kNames[kOutcomes] = {
      "ok",           "5xx",       "error",      "timeout", "bulkhead_full", "queue_timeout",
      "breaker_open", "abandoned", "client_left"};
  return kNames[static_cast<size_t>(o)];
}

// --- shared state ----------------------------------------------------------------------------

ServerState::ServerState(std::string address_, bool backup_, const HealthPolicy& policy)
    : address(std::move(address_)), backup(backup_), health(policy) {}

void ServerState::publish() const {
  board->checks_up.store(health.check_up(), std::memory_order_relaxed);
  board->set_ejected_until(health.ejected_until());
}

UpstreamState::UpstreamState(const config::UpstreamConfig& config)
    : name_(config.name),
      addresses_(addresses_of(config)),
      bulkhead_(config.max_connections, config.max_pending),
      breaker_(breaker_policy(config)) {
  HealthPolicy policy = health_policy(config);
  for (bool backup : {false, true}) {
    for (const auto& a : backup ? config.backup : config.servers) {
      auto s = std::make_unique<ServerState>(a.text, backup, policy);
      s->board = &module::health_board().server(name_, a.text);
      s->publish();  // a new state starts up, whatever an older generation left on the board
      servers_.push_back(std::move(s));
    }
  }
  for (size_t i = 0; i < kOutcomes; ++i) {
    outcomes_[i] = &module::metrics().counter(
        "pforte_upstream_requests_total",
        "Requests to an upstream by outcome: ok, 5xx, error, timeout (from the upstream), "
        "abandoned (no head by the caller's deadline, e.g. a late ESI include), client_left, "
        "bulkhead_full, queue_timeout, breaker_open (answered 503 by pforte).",
        {{"upstream", name_}, {"outcome", std::string(outcome_name(static_cast<Outcome>(i)))}});
  }
  configure(config);
}

bool UpstreamState::matches(const config::UpstreamConfig& config) const {
  return config.name == name_ && addresses_of(config) == addresses_;
}

void UpstreamState::configure(const config::UpstreamConfig& config) {
  bulkhead_.set_limits(config.max_connections, config.max_pending);
  bool enable = config.circuit_breaker.has_value();
  if (enable) breaker_.set_policy(breaker_policy(config));
  breaker_enabled_.store(enable, std::memory_order_relaxed);
  queue_timeout_ms_.store(config.connect_timeout.count(), std::memory_order_relaxed);
  HealthPolicy policy = health_policy(config);
  for (auto& s : servers_) s->health.set_policy(policy);
}

ServerState* UpstreamState::server(std::string_view address) const {
  for (const auto& s : servers_) {
    if (s->address == address) return s.get();
  }
  return nullptr;
}

// --- waiting for a bulkhead place ------------------------------------------------------------

struct Admission;

/// The requests of one worker waiting for one upstream's bulkhead, oldest first. Owned by the
/// worker's module instance; the upstream keeps a weak reference to post wake-ups to it.
/// Worker thread only, except `waiting`, read by any thread.
class WaitList : public std::enable_shared_from_this<WaitList> {
 public:
  WaitList(module::WorkerServices& services, std::shared_ptr<UpstreamState> upstream)
      : services_(services), upstream_(std::move(upstream)) {}

  std::list<Admission*>::iterator add(Admission* a) {
    waiting.fetch_add(1, std::memory_order_relaxed);
    return items_.insert(items_.end(), a);
  }
  void remove(std::list<Admission*>::iterator it) {
    items_.erase(it);
    waiting.fetch_sub(1, std::memory_order_relaxed);
  }
  /// Admits waiting requests while the bulkhead has places.
  void drain();
  /// Runs drain() on this list's worker, soon. Any thread.
  void post_drain() {
    std::weak_ptr<WaitList> weak = weak_from_this();
    services_.post([weak] {
      if (auto list = weak.lock()) list->drain();
    });
  }

  std::atomic<uint32_t> waiting{0};

 private:
  module::WorkerServices& services_;
  std::shared_ptr<UpstreamState> upstream_;
  std::list<Admission*> items_;
};

void UpstreamState::add_wait_list(std::weak_ptr<WaitList> list) {
  std::lock_guard lock(wait_mutex_);
  std::erase_if(wait_lists_, [](const std::weak_ptr<WaitList>& w) { return w.expired(); });
  wait_lists_.push_back(std::move(list));
}

void UpstreamState::wake_waiters() {
  if (bulkhead_.pending() == 0) return;
  std::lock_guard lock(wait_mutex_);
  for (const auto& weak : wait_lists_) {
    std::shared_ptr<WaitList> list = weak.lock();
    if (list && list->waiting.load(std::memory_order_relaxed) > 0) list->post_drain();
  }
}

/// The per-exchange state: the places and permit an admitted request holds.
struct Admission : module::ModuleState {
  std::shared_ptr<UpstreamState> upstream;  // first: outlives the guards and permit below
  std::optional<Bulkhead::Guard> slot;      ///< in flight
  std::optional<Bulkhead::Guard> queued;    ///< waiting
  CircuitBreaker::Permit permit;
  bool recorded = false;  ///< the outcome is known (the first response head or failure)
  // While waiting:
  WaitList* list = nullptr;
  std::list<Admission*>::iterator position;
  EventPtr timer;
  module::ResumeHandle resume;

  ~Admission() override {
    leave();
    release();
  }
  void leave() {
    if (list) std::exchange(list, nullptr)->remove(position);
    timer.reset();
    queued.reset();
  }
  void release() {
    if (!slot) return;
    slot.reset();
    upstream->wake_waiters();
  }

  static void on_wait_timeout(evutil_socket_t, short, void* self) {
    auto* a = static_cast<Admission*>(self);
    a->leave();
    a->upstream->count(Outcome::kQueueTimeout);
    a->resume.resume(unavailable(kRetryAfterFull,
                                 "The service is busy right now. Please try again in a moment.\n"));
  }
};

void WaitList::drain() {
  while (!items_.empty()) {
    std::optional<Bulkhead::Guard> g = upstream_->bulkhead().try_acquire();
    if (!g) return;
    Admission* a = items_.front();
    a->leave();
    a->slot = std::move(g);
    a->resume.resume(module::Decision::proceed());
  }
}

// --- status ------------------------------------------------------------------------------------

IsolationShared::IsolationShared(const config::Config& config, const IsolationShared* previous) {
  for (const config::UpstreamConfig& u : config.upstreams) {
    std::shared_ptr<UpstreamState> kept;
    if (previous) {
      for (const auto& p : previous->upstreams_) {
        if (p->matches(u)) kept = p;
      }
    }
    if (kept) {
      kept->configure(u);
      upstreams_.push_back(std::move(kept));
    } else {
      upstreams_.push_back(std::make_shared<UpstreamState>(u));
    }
  }
}

void IsolationShared::write_metrics(module::MetricsWriter& out) const {
  Clock::time_point now = Clock::now();
  for (const auto& u : upstreams_) {
    module::Labels labels{{"upstream", u->name()}};
    out.gauge(
        "pforte_circuit_open",
        "1 while the upstream's circuit breaker is open (failing fast) or half-open "
        "(probing), else 0.",
        labels,
        u->breaker_enabled() && u->breaker().state(now) != CircuitBreaker::State::kClosed ? 1 : 0);
    out.gauge("pforte_upstream_in_flight", "Requests in flight to the upstream (bulkhead).", labels,
              u->bulkhead().in_flight());
    out.gauge("pforte_upstream_pending", "Requests waiting for a bulkhead place.", labels,
              u->bulkhead().pending());
    for (const auto& s : u->servers()) {
      out.gauge("pforte_upstream_healthy",
                "1 if the server gets requests (active checks pass and not ejected), else 0.",
                {{"upstream", u->name()}, {"server", s->address}}, s->health.is_up(now) ? 1 : 0);
    }
  }
}

void IsolationShared::write_status_json(std::string& out) const {
  Clock::time_point now = Clock::now();
  out.append("{\"upstreams\":[");
  bool first = true;
  for (const auto& u : upstreams_) {
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"name\":");
    module::append_json_string(out, u->name());
    out.append(",\"in_flight\":").append(std::to_string(u->bulkhead().in_flight()));
    out.append(",\"max_connections\":").append(std::to_string(u->bulkhead().max_connections()));
    out.append(",\"pending\":").append(std::to_string(u->bulkhead().pending()));
    out.append(",\"max_pending\":").append(std::to_string(u->bulkhead().max_pending()));
    out.append(",\"circuit\":{\"enabled\":").append(u->breaker_enabled() ? "true" : "false");
    out.append(",\"state\":\"").append(state_name(u->breaker().state(now)));
    out.append("\",\"retry_after_ms\":")
        .append(std::to_string(
            std::chrono::duration_cast<Millis>(u->breaker().retry_after(now)).count()));
    out.append("},\"servers\":[");
    bool first_server = true;
    for (const auto& s : u->servers()) {
      if (!first_server) out.push_back(',');
      first_server = false;
      out.append("{\"address\":");
      module::append_json_string(out, s->address);
      out.append(",\"backup\":").append(s->backup ? "true" : "false");
      out.append(",\"healthy\":").append(s->health.is_up(now) ? "true" : "false");
      out.append(",\"checks_up\":").append(s->health.check_up() ? "true" : "false");
      out.append(",\"ejected_for_ms\":")
          .append(std::to_string(ms_until(s->health.ejected_until(), now)));
      out.push_back('}');
    }
    out.append("]}");
  }
  out.append("]}");
}

void IsolationShared::write_status_html(std::string& out) const {
  Clock::time_point now = Clock::now();
  out.append(
      "<h2>Upstreams</h2>\n<table>\n<tr><th>upstream</th><th>in flight</th><th>pending</th>"
      "<th>circuit</th><th>servers</th></tr>\n");
  for (const auto& u : upstreams_) {
    out.append("<tr><td>");
    module::append_html_escaped(out, u->name());
    out.append("</td><td>")
        .append(std::to_string(u->bulkhead().in_flight()))
        .append(" / ")
        .append(std::to_string(u->bulkhead().max_connections()));
    out.append("</td><td>")
        .append(std::to_string(u->bulkhead().pending()))
        .append(" / ")
        .append(std::to_string(u->bulkhead().max_pending()));
    out.append("</td><td>");
    if (!u->breaker_enabled()) {
      out.append("off");
    } else {
      out.append(state_name(u->breaker().state(now)));
      auto left = std::chrono::duration_cast<Millis>(u->breaker().retry_after(now)).count();
      if (left > 0) out.append(" (").append(std::to_string(left)).append(" ms left)");
    }
    out.append("</td><td>");
    for (const auto& s : u->servers()) {
      module::append_html_escaped(out, s->address);
      if (s->backup) out.append(" (backup)");
      out.append(s->health.is_up(now) ? ": up" : ": <b>down</b>");
      if (!s->health.check_up()) out.append(", checks failing");
      if (int64_t ms = ms_until(s->health.ejected_until(), now))
        out.append(", ejected ").append(std::to_string(ms)).append(" ms");
      out.append("<br>");
    }
    out.append("</td></tr>\n");
  }
  out.append("</table>\n");
}

// --- the module --------------------------------------------------------------------------------

namespace {

class IsolationModule : public module::Module {
 public:
  IsolationModule(const module::WorkerInfo& info, std::shared_ptr<IsolationShared> shared)
      : index_(info.module_index), shared_(std::move(shared)) {
    for (size_t i = 0; i < shared_->upstream_count(); ++i) {
      auto list = std::make_shared<WaitList>(*info.services, shared_->upstream(i));
      shared_->upstream(i)->add_wait_list(list);
      wait_lists_.push_back(std::move(list));
    }
    if (info.worker_index == 0 && info.generation)
      start_checks(*info.generation->config, info.base);
  }

  module::Decision on_request(module::ExchangeContext& ctx) override {
    if (ctx.admin()) return module::Decision::proceed();
    size_t index = ctx.route().upstream_index;
    if (index >= shared_->upstream_count()) return module::Decision::proceed();
    auto a = std::make_unique<Admission>();
    a->upstream = shared_->upstream(index);
    UpstreamState& up = *a->upstream;
    if (up.breaker_enabled()) {
      Clock::time_point now = Clock::now();
      a->permit = up.breaker().allow(now);
      if (!a->permit) {
        up.count(Outcome::kBreakerOpen);
        double left = std::chrono::duration<double>(up.breaker().retry_after(now)).count();
        std::string retry_after =
            std::to_string(std::max<int64_t>(1, std::llround(std::ceil(left))));
        return unavailable(retry_after,
                           "The service is unavailable right now. Please try again shortly.\n");
      }
    }
    if ((a->slot = up.bulkhead().try_acquire())) {
      ctx.state(index_) = std::move(a);
      return module::Decision::proceed();
    }
    a->queued = up.bulkhead().try_enqueue();
    if (!a->queued) {
      up.count(Outcome::kBulkheadFull);
      return unavailable(kRetryAfterFull,
                         "The service is busy right now. Please try again in a moment.\n");
    }
    // Join the list before trying once more: a place given back from now on wakes this worker.
    WaitList& list = *wait_lists_[index];
    a->list = &list;
    a->position = list.add(a.get());
    if ((a->slot = up.bulkhead().try_acquire())) {
      a->leave();
      ctx.state(index_) = std::move(a);
      return module::Decision::proceed();
    }
    a->resume = ctx.resume_handle();
    a->timer.reset(evtimer_new(ctx.base(), &Admission::on_wait_timeout, a.get()));
    timeval tv = to_tv(up.queue_timeout());
    evtimer_add(a->timer.get(), &tv);
    ctx.state(index_) = std::move(a);
    return module::Decision::suspend();
  }

  module::Decision on_upstream_error(module::ExchangeContext& ctx, int status) override {
    if (Admission* a = admitted(ctx)) {
      a->recorded = true;
      record(*a, ctx, false);
      a->upstream->count(status == 504 ? Outcome::kTimeout : Outcome::kError);
    }
    return module::Decision::proceed();
  }

  void on_response_head(module::ExchangeContext& ctx, module::Response& response) override {
    Admission* a = admitted(ctx);
    if (!a) return;
    a->recorded = true;
    bool ok = response.status < 500;
    record(*a, ctx, ok);
    a->upstream->count(ok ? Outcome::kOk : Outcome::k5xx);
  }

  void on_log(module::ExchangeContext& ctx, module::LogRecord&) override {
    // Given up before the head while a server had the request (or its connect): a caller's
    // deadline makes that a failure of the server; a client that left says nothing about it.
    if (Admission* a = admitted(ctx); a && !ctx.upstream_server().empty()) {
      a->recorded = true;
      if (ctx.deadline_missed()) {
        record(*a, ctx, false);
        a->upstream->count(Outcome::kAbandoned);
      } else {
        a->upstream->count(Outcome::kClientLeft);
      }
    }
    if (auto* a = static_cast<Admission*>(ctx.state(index_).get())) {
      a->leave();
      a->release();
    }
  }

 private:
  /// The state of a request that holds a bulkhead place and has no outcome yet.
  Admission* admitted(module::ExchangeContext& ctx) {
    auto* a = static_cast<Admission*>(ctx.state(index_).get());
    return a && a->slot && !a->recorded ? a : nullptr;
  }

  void record(Admission& a, module::ExchangeContext& ctx, bool ok) {
    Clock::time_point now = Clock::now();
    UpstreamState& up = *a.upstream;
    if (up.breaker_enabled()) {
      CircuitBreaker::State before = up.breaker().state(now);
      up.breaker().record(a.permit, ok, now);
      CircuitBreaker::State after = up.breaker().state(now);
      if (before != after) {
        PF_WARN("upstream %s: circuit breaker %s -> %s", up.name().c_str(), state_name(before),
                state_name(after));
      }
    }
    ServerState* server = up.server(ctx.upstream_server());
    if (!server) return;
    if (ok) {
      server->health.record_success();
    } else if (server->health.record_failure(now) == HealthChange::kEjected) {
      PF_WARN("upstream %s: server %s ejected for %lld ms after failed requests", up.name().c_str(),
              server->address.c_str(),
              static_cast<long long>(ms_until(server->health.ejected_until(), now)));
    }
    server->publish();
  }

  void start_checks(const config::Config& config, event_base* base) {
    size_t n = 0;
    for (size_t i = 0; i < config.upstreams.size() && i < shared_->upstream_count(); ++i) {
      const config::UpstreamConfig& u = config.upstreams[i];
      if (!u.health) continue;
      std::shared_ptr<UpstreamState> state = shared_->upstream(i);
      for (bool backup : {false, true}) {
        for (const auto& address : backup ? u.backup : u.servers) {
          ServerState* server = state->server(address.text);
          if (!server) continue;
          auto checker =
              std::make_unique<HealthChecker>(base, address, *u.health, [state, server](bool ok) {
                HealthChange change = server->health.record_check(ok);
                server->publish();
                if (change == HealthChange::kWentDown) {
                  PF_WARN("upstream %s: server %s is down (health checks failed)",
                          state->name().c_str(), server->address.c_str());
                } else if (change == HealthChange::kWentUp) {
                  PF_INFO("upstream %s: server %s is up again (health checks pass)",
                          state->name().c_str(), server->address.c_str());
                }
              });
          // Spread the first checks over a few milliseconds rather than all at once.
          checker->start(Millis(static_cast<int64_t>(n++ % 50)));
          checkers_.push_back(std::move(checker));
        }
      }
    }
  }

  size_t index_;
  std::shared_ptr<IsolationShared> shared_;
  std::vector<std::shared_ptr<WaitList>> wait_lists_;  ///< by upstream index
  std::vector<std::unique_ptr<HealthChecker>> checkers_;
};

}  // namespace

module::ModuleFactory isolation_factory() {
  module::ModuleFactory f;
  f.name = "isolation";
  f.order = 40;  // last: the cache (20) may answer first, fragments (30) fetch through us
  f.prepare = [](const config::Config& config, std::shared_ptr<module::ModuleShared> previous)
      -> std::expected<std::shared_ptr<module::ModuleShared>, std::string> {
    return std::make_shared<IsolationShared>(config,
                                             dynamic_cast<IsolationShared*>(previous.get()));
  };
  f.create = [](const module::WorkerInfo& info) -> std::unique_ptr<module::Module> {
    return std::make_unique<IsolationModule>(
        info, std::static_pointer_cast<IsolationShared>(info.shared));
  };
  return f;
}

}  // namespace pforte::modules::isolation
