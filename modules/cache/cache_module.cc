#include "modules/cache/cache_module.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "modules/cache/compress.h"
#include "modules/cache/purge.h"
#include "modules/cache/respond.h"

namespace pforte::modules::cache {

namespace {

using module::Decision;
using module::ExchangeContext;

constexpr std::string_view kCacheStatusField = "cache-status";

/// Request fields the cache answers itself from a stored entry; saved before the upstream request
/// is changed (Range removed, validators replaced by the stored ones).
constexpr std::string_view kClientFields[] = {
    "if-none-match", "if-modified-since", "range", "if-range", "if-match", "if-unmodified-since"};

/// Response fields that belong to one exchange and are never stored.
bool exchange_only_field(std::string_view name) {
  return name == "set-cookie" || name == "x-request-id" || name == "cache-status";
}

TimePoint now_seconds() {
  return std::chrono::floor<Seconds>(std::chrono::system_clock::now());
}

bool is_unsafe(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "DELETE" || method == "PATCH";
}

struct CacheCounters {
  module::Counter& hits;
  module::Counter& misses;
  module::Counter& stale;
  module::Counter& coalesced;
  module::Counter& purged;
};

CacheCounters& counters() {
  static CacheCounters c{
      module::metrics().counter("pforte_cache_hits_total",
                                "Answers served from the cache without an own upstream fetch "
                                "(fresh hits, stale-while-revalidate, coalesced waiters).",
                                {}),
      module::metrics().counter("pforte_cache_misses_total",
                                "Cacheable requests that went to the upstream (misses and "
                                "revalidations).",
                                {}),
      module::metrics().counter("pforte_cache_stale_total",
                                "Stale copies served (stale-while-revalidate, stale-if-error).",
                                {}),
      module::metrics().counter("pforte_cache_coalesced_total",
                                "Requests that waited for another request's upstream fetch.", {}),
      module::metrics().counter("pforte_cache_purged_total", "Objects removed by PURGE.", {}),
  };
  return c;
}

class CacheModule;

/// A suspended waiter. Touched only on its own worker thread; the leader's thread only copies
/// the shared_ptr into a posted task.
struct WaitTicket {
  bool alive = true;  ///< the exchange (and its State) still exists
  bool done = false;  ///< woken or timed out
  ExchangeContext* ctx = nullptr;
  CacheModule* module = nullptr;
  module::ResumeHandle handle;
};

struct State final : module::ModuleState {
  enum class Mode : uint8_t {
    kForward,  ///< going (or gone) upstream for a cacheable request
    kRefresh,  ///< an internal refresh fetch: store what comes back, answer nothing
    kServed,   ///< answered from the cache (the response hooks see our own reply)
    kFailed,   ///< the upstream failed and no stale copy could be served
    kBypass,   ///< not a cacheable method
  };
  ~State() override {
    if (ticket) ticket->alive = false;
  }

  Mode mode = Mode::kForward;
  const RouteSettings* settings = nullptr;
  CacheKey primary;
  /// The key whose fetch this request leads or waits for: the primary key, or the variant key
  /// when the stored Vary marker says which one this request needs.
  CacheKey flight;
  TimePoint request_time{};
  std::shared_ptr<const Entry> stale;  ///< the stored response being revalidated
  CacheStatus::Fwd fwd = CacheStatus::Fwd::kUriMiss;
  http::Headers client;             ///< the client's conditional and Range fields
  Lease lease;                      ///< set while this exchange leads the key's fetch
  std::shared_ptr<Entry> building;  ///< the entry being stored, body growing
  std::shared_ptr<WaitTicket> ticket;
  EventPtr timer;  ///< bounds the wait of a suspended waiter
  std::string_view log;
};

struct Lookup {
  std::shared_ptr<const Entry> entry;
  CacheStatus::Fwd miss = CacheStatus::Fwd::kUriMiss;
  std::optional<CacheKey> variant;  ///< set when a Vary marker was found
};

Lookup lookup(Store& store, const CacheKey& primary, const http::Headers& request_headers) {
  Lookup out;
  std::shared_ptr<const Entry> e = store.find(primary);
  if (!e) return out;
  if (!e->vary_marker) {
    out.entry = std::move(e);
    return out;
  }
  out.miss = CacheStatus::Fwd::kVaryMiss;
  out.variant = variant_key(primary, e->vary, request_headers);
  out.entry = store.find(*out.variant);
  return out;
}

/// The fields of a response as stored: no Set-Cookie, nothing that belongs to one exchange.
http::Headers stored_fields(const http::Headers& headers) {
  http::Headers out;
  out.reserve(headers.size());
  for (const http::Field& f : headers) {
    if (!exchange_only_field(f.name)) out.add(f.name, f.value);
  }
  return out;
}

class CacheModule final : public module::Module {
 public:
  CacheModule(const module::WorkerInfo& info, std::shared_ptr<CacheShared> shared)
      : index_(info.module_index), shared_(std::move(shared)), services_(info.services) {
    const config::Config& config = *info.generation->config;
    routes_.resize(config.routes.size());
    for (const config::RouteConfig& r : config.routes) {
      auto it = r.modules.find("cache");
      if (it == r.modules.end()) continue;
      const auto* rc = static_cast<const CacheRouteConfig*>(it->second.get());
      if (rc->enabled) routes_[r.index] = rc;
    }
  }

  Decision on_request(ExchangeContext& ctx) override;
  Decision on_admin(ExchangeContext& ctx) override;
  Decision on_upstream_error(ExchangeContext& ctx, int status) override;
  void on_response_head(ExchangeContext& ctx, module::Response& response) override;
  void on_response_body(ExchangeContext& ctx, evbuffer* piece, bool last) override;
  void on_log(ExchangeContext& ctx, module::LogRecord& record) override;

  /// A waiter's leader is done (posted to this worker).
  void wake(WaitTicket& ticket, FetchOutcome outcome, const std::shared_ptr<const Entry>& entry);

 private:
  State* state(ExchangeContext& ctx) { return static_cast<State*>(ctx.state(index_).get()); }
  CacheCore& core() { return shared_->core(); }
  uint64_t max_object() { return core().store.options().max_object; }

  Decision serve(State& s, const http::Headers& request_headers,
                 const std::shared_ptr<const Entry>& entry, CacheStatus status,
                 std::string_view log);
  Decision coalesce(ExchangeContext& ctx, State& s, bool can_lead);
  void start_refresh(ExchangeContext& ctx, const State& s);
  void store_entry(State& s);
  static void on_wait_timeout(evutil_socket_t, short, void* arg);
  Millis wait_bound(ExchangeContext& ctx) const;

  size_t index_;
  std::shared_ptr<CacheShared> shared_;
  module::WorkerServices* services_;
  std::vector<const CacheRouteConfig*> routes_;  ///< by route index; null: not caching
};

Decision CacheModule::serve(State& s, const http::Headers& request_headers,
                            const std::shared_ptr<const Entry>& entry, CacheStatus status,
                            std::string_view log) {
  s.mode = State::Mode::kServed;
  s.log = log;
  counters().hits.add();
  return Decision::reply(reply_from_entry(request_headers, entry, now_seconds(), status));
}

Decision CacheModule::on_request(ExchangeContext& ctx) {
  module::Request& req = ctx.request();
  if (req.method == "PURGE") {
    module::LocalReply reply;
    reply.response.status = 405;
    reply.response.headers.add("content-type", "text/plain; charset=utf-8");
    reply.response.headers.add("cache-control", "no-store");
    reply.response.headers.add("allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    reply.body = make_evbuffer();
    static constexpr std::string_view kText = "PURGE is accepted on the admin listener only.\n";
    evbuffer_add(reply.body.get(), kText.data(), kText.size());
    return Decision::reply(std::move(reply));
  }
  const size_t route = ctx.route().index;
  const CacheRouteConfig* rc = route < routes_.size() ? routes_[route] : nullptr;
  if (!rc) return Decision::proceed();

  auto owned = std::make_unique<State>();
  State& s = *owned;
  ctx.state(index_) = std::move(owned);
  s.settings = &rc->settings;
  s.request_time = now_seconds();
  const bool get = req.method == "GET";
  if (!get && req.method != "HEAD") {
    s.mode = State::Mode::kBypass;
    s.log = "bypass";
    if (is_unsafe(req.method)) s.primary = primary_key(req.scheme, req.authority, req.path);
    return Decision::proceed();
  }
  s.primary = primary_key(req.scheme, req.authority, req.path);
  normalize_accept_encoding(req.headers);

  if (ctx.fetch_flags() & module::kFetchRefresh) {
    // Our own background refresh: never answered from the cache; revalidate what is stored.
    s.mode = State::Mode::kRefresh;
    s.log = "refresh";
    Lookup found = lookup(core().store, s.primary, req.headers);
    s.stale = found.entry;
    req.headers.remove("range");
    req.headers.remove("if-range");
    if (s.stale) add_revalidation_headers(s.stale->headers, req.headers);
    return Decision::proceed();
  }

  const ClientDirectives client = client_directives(req, *s.settings);
  Lookup found = lookup(core().store, s.primary, req.headers);
  const TimePoint now = s.request_time;
  Usability use = Usability::kMustRevalidate;
  if (found.entry) {
    const Freshness& f = found.entry->freshness;
    use = usability(f, now);
    if (use != Usability::kMustRevalidate &&
        client_requires_revalidation(client, current_age(f, now))) {
      use = Usability::kMustRevalidate;
    }
    if (use == Usability::kFresh) {
      CacheStatus status;
      status.hit = true;
      return serve(s, req.headers, found.entry, status, "hit");
    }
  }
  // Not a fresh hit: the key that a fetch (or refresh) for this request coalesces on.
  s.flight = found.variant ? std::move(*found.variant) : s.primary;
  if (found.entry) {
    if (use == Usability::kStaleWhileRevalidate) {
      start_refresh(ctx, s);
      counters().stale.add();
      CacheStatus status;
      status.hit = true;
      status.detail = "stale-while-revalidate";
      return serve(s, req.headers, found.entry, status, "stale");
    }
    s.stale = found.entry;
    s.fwd = CacheStatus::Fwd::kStale;
  } else {
    s.fwd = found.miss;
    if (client.only_if_cached) {
      s.mode = State::Mode::kServed;
      s.log = "miss";
      CacheStatus status;
      status.fwd = found.miss;
      status.detail = "only-if-cached";
      return Decision::reply(only_if_cached_miss(status));
    }
  }

  // Going upstream: keep what the client asked, fetch the whole object (with our validators).
  for (std::string_view name : kClientFields) {
    for (const http::Field& f : req.headers) {
      if (f.name == name) s.client.add(f.name, f.value);
    }
  }
  req.headers.remove("range");
  req.headers.remove("if-range");
  if (s.stale) add_revalidation_headers(s.stale->headers, req.headers);
  if (client.no_store) {
    // Its answer will not be stored, so nobody may wait for it.
    counters().misses.add();
    return Decision::proceed();
  }
  return coalesce(ctx, s, get);
}

Millis CacheModule::wait_bound(ExchangeContext& ctx) const {
  const config::Config& config = ctx.config();
  const size_t u = ctx.route().upstream_index;
  if (u < config.upstreams.size()) return config.upstreams[u].response_timeout;
  return Millis{30'000};
}

Decision CacheModule::coalesce(ExchangeContext& ctx, State& s, bool can_lead) {
  auto ticket = std::make_shared<WaitTicket>();
  ticket->ctx = &ctx;
  ticket->module = this;
  // Runs on the leader's thread: only hand the ticket to this worker.
  WakeFn wake = [services = services_, ticket](FetchOutcome outcome,
                                               const std::shared_ptr<const Entry>& entry) {
    services->post([ticket, outcome, entry] {
      if (!ticket->alive || ticket->done) return;
      ticket->module->wake(*ticket, outcome, entry);
    });
  };
  Inflight& inflight = core().inflight;
  Inflight::Role role = can_lead ? inflight.join(s.flight, std::move(wake), s.lease)
                                 : inflight.wait_if_running(s.flight, std::move(wake));
  if (role != Inflight::Role::kWaiter) {
    counters().misses.add();
    return Decision::proceed();
  }
  ticket->handle = ctx.resume_handle();
  s.ticket = ticket;
  s.timer.reset(evtimer_new(ctx.base(), &CacheModule::on_wait_timeout, ticket.get()));
  if (s.timer) {
    const Millis bound = wait_bound(ctx);
    timeval tv{static_cast<time_t>(bound.count() / 1000),
               static_cast<suseconds_t>((bound.count() % 1000) * 1000)};
    evtimer_add(s.timer.get(), &tv);
  }
  return Decision::suspend();
}

void CacheModule::on_wait_timeout(evutil_socket_t, short, void* arg) {
  auto* ticket = static_cast<WaitTicket*>(arg);
  if (ticket->done || !ticket->alive) return;
  ticket->done = true;
  counters().misses.add();
  ticket->handle.resume(Decision::proceed());
}

void CacheModule::wake(WaitTicket& ticket, FetchOutcome outcome,
                       const std::shared_ptr<const Entry>& leader_entry) {
  ticket.done = true;
  ExchangeContext& ctx = *ticket.ctx;
  State& s = *state(ctx);
  s.timer.reset();
  counters().coalesced.add();
  const TimePoint now = now_seconds();
  Lookup found = lookup(core().store, s.primary, ctx.request().headers);
  const std::shared_ptr<const Entry>& e = found.entry;
  if (e && (e == leader_entry || usability(e->freshness, now) == Usability::kFresh)) {
    CacheStatus status;
    status.fwd = s.fwd;
    status.collapsed = true;
    ticket.handle.resume(serve(s, s.client, e, status, "coalesced"));
    return;
  }
  if (outcome == FetchOutcome::kFailed && e && usable_on_error(e->freshness, now)) {
    counters().stale.add();
    CacheStatus status;
    status.fwd = CacheStatus::Fwd::kStale;
    status.collapsed = true;
    status.detail = "stale-if-error";
    ticket.handle.resume(serve(s, s.client, e, status, "stale"));
    return;
  }
  // Nothing usable: go upstream alone (without leading: another fetch may already run).
  counters().misses.add();
  ticket.handle.resume(Decision::proceed());
}

void CacheModule::start_refresh(ExchangeContext& ctx, const State& s) {
  struct Pending {
    std::shared_ptr<CacheCore> core;  // outlives the lease (members are destroyed in reverse)
    Lease lease;
  };
  Lease lease = core().inflight.try_lead(s.flight);
  if (!lease.active()) return;  // a fetch for this key runs already
  auto pending = std::make_shared<Pending>(Pending{shared_->core_ptr(), std::move(lease)});

  const module::Request& from = ctx.request();
  module::Request request;
  request.method = "GET";
  request.scheme = from.scheme;
  request.authority = from.authority;
  request.path = from.path;
  request.headers = from.headers;
  for (std::string_view name : kClientFields) request.headers.remove(name);
  module::FetchOptions options;
  options.flags = module::kFetchRefresh;
  options.depth = ctx.fetch_depth() + 1;
  options.max_body_bytes = max_object();
  const config::Config& config = ctx.config();
  const size_t u = ctx.route().upstream_index;
  if (u < config.upstreams.size()) {
    // Head within connect + response timeouts; the body gets as long again.
    options.timeout =
        2 * (config.upstreams[u].connect_timeout + config.upstreams[u].response_timeout);
  }
  ctx.services()
      .fetch(std::move(request), options,
             [pending](module::FetchResult result) {
               FetchOutcome outcome = result.status >= 200 && result.status < 500
                                          ? FetchOutcome::kStored
                                          : FetchOutcome::kFailed;
               pending->lease.finish(outcome, nullptr);
             })
      .release();
}

Decision CacheModule::on_admin(ExchangeContext& ctx) {
  const module::Request& req = ctx.request();
  if (req.method != "PURGE") return Decision::proceed();
  std::optional<PurgePlan> plan = plan_purge(req.authority, req.path);
  if (!plan) {
    return Decision::reply(400, "PURGE needs a Host and a path (\"/a/b\" or a prefix \"/a/*\").\n");
  }
  Store& store = core().store;
  size_t count = 0;
  for (const CacheKey& key : plan->exact) count += store.purge(key) ? 1 : 0;
  for (const std::string& prefix : plan->prefixes) count += store.purge_prefix(prefix);
  counters().purged.add(count);
  std::string body = "{\"purged\":" + std::to_string(count) + "}\n";
  return Decision::reply(count ? 200 : 404, body, "application/json");
}

Decision CacheModule::on_upstream_error(ExchangeContext& ctx, int) {
  State* s = state(ctx);
  if (!s) return Decision::proceed();
  s->lease.finish(FetchOutcome::kFailed, nullptr);
  if (s->mode != State::Mode::kForward) return Decision::proceed();
  const TimePoint now = now_seconds();
  if (s->stale && usable_on_error(s->stale->freshness, now)) {
    counters().stale.add();
    CacheStatus status;
    status.fwd = CacheStatus::Fwd::kStale;
    status.detail = "stale-if-error";
    s->mode = State::Mode::kServed;
    s->log = "stale";
    return Decision::reply(reply_from_entry(s->client, s->stale, now, status));
  }
  s->mode = State::Mode::kFailed;
  s->log = "miss";
  return Decision::proceed();
}

void CacheModule::on_response_head(ExchangeContext& ctx, module::Response& response) {
  State* s = state(ctx);
  if (!s) return;
  switch (s->mode) {
    case State::Mode::kServed:
      return;
    case State::Mode::kBypass: {
      response.headers.set(kCacheStatusField, "pforte; fwd=method");
      // RFC 9111 §4.4: a successful unsafe request invalidates the stored response of its URL
      // (and, through the Vary marker, its variants).
      if (is_unsafe(ctx.request().method) && response.status < 400) core().store.purge(s->primary);
      return;
    }
    case State::Mode::kFailed: {
      CacheStatus status;
      status.fwd = s->fwd;
      status.detail = "upstream-unavailable";
      response.headers.set(kCacheStatusField, format_cache_status(status));
      return;
    }
    case State::Mode::kForward:
    case State::Mode::kRefresh:
      break;
  }
  const bool refresh = s->mode == State::Mode::kRefresh;
  const TimePoint now = now_seconds();
  const module::Request& req = ctx.request();

  if (response.status == 304 && s->stale) {
    // Revalidated: the stored response with the 304's fields, fresh again (RFC 9111 §4.3.4).
    auto updated = std::make_shared<Entry>(*s->stale);
    updated->headers = merge_not_modified(s->stale->headers, stored_fields(response.headers));
    updated->headers.compact();
    module::Response merged{s->stale->status, updated->headers};
    updated->freshness = compute_freshness(merged, *s->settings, s->request_time, now);
    std::shared_ptr<const Entry> entry = updated;
    bool stored = core().store.insert(entry) == Store::InsertResult::kStored;
    s->lease.finish(stored ? FetchOutcome::kStored : FetchOutcome::kNotStored, entry);
    if (refresh) return;
    CacheStatus status;
    status.fwd = CacheStatus::Fwd::kStale;
    status.fwd_status = 304;
    status.stored = stored;
    s->mode = State::Mode::kServed;
    s->log = "revalidated";
    ctx.replace_response(reply_from_entry(s->client, entry, now, status));
    return;
  }

  if (response.status >= 500 && s->stale && !refresh && usable_on_error(s->stale->freshness, now)) {
    s->lease.finish(FetchOutcome::kFailed, nullptr);
    counters().stale.add();
    CacheStatus status;
    status.fwd = CacheStatus::Fwd::kStale;
    status.fwd_status = response.status;
    status.detail = "stale-if-error";
    s->mode = State::Mode::kServed;
    s->log = "stale";
    ctx.replace_response(reply_from_entry(s->client, s->stale, now, status));
    return;
  }

  CacheStatus status;
  status.fwd = s->fwd;
  status.fwd_status = response.status;
  StoreVerdict verdict = storable(req, response, *s->settings);
  std::optional<std::vector<std::string>> vary = parse_vary(response.headers);
  if (verdict == StoreVerdict::kStore && vary) {
    auto e = std::make_shared<Entry>();
    e->status = response.status;
    e->headers = stored_fields(response.headers);
    e->headers.compact();
    e->freshness = compute_freshness(response, *s->settings, s->request_time, now);
    e->vary = std::move(*vary);
    CacheKey key = e->vary.empty() ? s->primary : variant_key(s->primary, e->vary, req.headers);
    e->key = std::move(key.text);
    e->hash = key.hash;
    status.stored = true;
    status.ttl = time_to_live(e->freshness, now);
    s->building = std::move(e);
    s->log = s->stale ? "revalidated" : "miss";
  } else {
    s->lease.finish(response.status >= 500 ? FetchOutcome::kFailed : FetchOutcome::kNotStored,
                    nullptr);
    status.detail = to_string(verdict == StoreVerdict::kStore ? StoreVerdict::kVaryStar : verdict);
    s->log = "uncacheable";
  }
  if (!refresh) response.headers.set(kCacheStatusField, format_cache_status(status));
}

void CacheModule::on_response_body(ExchangeContext& ctx, evbuffer* piece, bool last) {
  State* s = state(ctx);
  if (!s || !s->building) return;
  const size_t n = evbuffer_get_length(piece);
  std::string& body = s->building->body;
  if (body.size() + n > max_object()) {
    s->building.reset();
    s->lease.finish(FetchOutcome::kNotStored, nullptr);
    return;
  }
  if (n) {
    const int chunks = evbuffer_peek(piece, -1, nullptr, nullptr, 0);
    std::vector<evbuffer_iovec> vec(static_cast<size_t>(chunks > 0 ? chunks : 0));
    evbuffer_peek(piece, -1, nullptr, vec.data(), chunks);
    if (body.capacity() < body.size() + n) body.reserve(std::max(body.size() + n, 2 * body.size()));
    for (const evbuffer_iovec& v : vec)
      body.append(static_cast<const char*>(v.iov_base), v.iov_len);
  }
  if (last) store_entry(*s);
}

void CacheModule::store_entry(State& s) {
  std::shared_ptr<Entry> e = std::move(s.building);
  e->body.shrink_to_fit();
  if (should_compress(e->status, e->headers, e->body.size())) {
    // Once per stored object, so that no hit ever compresses. Kept only when clearly smaller.
    const size_t worth = e->body.size() - e->body.size() / 8;
    if (auto br = brotli_compress(e->body); br && br->size() < worth) e->body_br = std::move(*br);
    if (auto gz = gzip_compress(e->body); gz && gz->size() < worth) e->body_gzip = std::move(*gz);
  }
  Store& store = core().store;
  if (!e->vary.empty()) {
    auto marker = std::make_shared<Entry>();
    marker->key = s.primary.text;
    marker->hash = s.primary.hash;
    marker->vary_marker = true;
    marker->vary = e->vary;
    marker->freshness = e->freshness;
    store.insert(std::move(marker));
  }
  std::shared_ptr<const Entry> entry = std::move(e);
  bool stored = store.insert(entry) == Store::InsertResult::kStored;
  s.lease.finish(stored ? FetchOutcome::kStored : FetchOutcome::kNotStored,
                 stored ? entry : nullptr);
}

void CacheModule::on_log(ExchangeContext& ctx, module::LogRecord& record) {
  State* s = state(ctx);
  if (!s) return;
  record.cache_status.assign(s->log);
  // The response ended without storing (client gone, body cut): let the waiters go.
  s->building.reset();
  s->lease.finish(FetchOutcome::kNotStored, nullptr);
}

}  // namespace

void CacheShared::write_metrics(module::MetricsWriter& out) const {
  StoreStats st = core_->store.stats();
  out.gauge("pforte_cache_bytes", "Bytes the cache's objects occupy (all included).", {},
            static_cast<double>(st.bytes));
  out.gauge("pforte_cache_objects", "Objects in the cache.", {}, static_cast<double>(st.objects));
  out.gauge("pforte_cache_memory_bytes", "The cache's memory budget ([cache] memory).", {},
            static_cast<double>(core_->store.options().memory));
  out.counter("pforte_cache_evictions_total", "Objects evicted to make room.", {},
              static_cast<double>(st.evictions));
}

namespace {

struct StatusFigures {
  StoreStats store;
  uint64_t memory = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t stale = 0;
  uint64_t coalesced = 0;
  double fill = 0;
  double hit_ratio = 0;
};

StatusFigures figures(const CacheCore& core) {
  StatusFigures f;
  f.store = core.store.stats();
  f.memory = core.store.options().memory;
  f.hits = counters().hits.value();
  f.misses = counters().misses.value();
  f.stale = counters().stale.value();
  f.coalesced = counters().coalesced.value();
  f.fill = f.memory ? static_cast<double>(f.store.bytes) / static_cast<double>(f.memory) : 0;
  f.hit_ratio =
      f.hits + f.misses ? static_cast<double>(f.hits) / static_cast<double>(f.hits + f.misses) : 0;
  return f;
}

}  // namespace

void CacheShared::write_status_json(std::string& out) const {
  StatusFigures f = figures(*core_);
  char buf[512];
  int n = std::snprintf(
      buf, sizeof buf,
      "{\"memory\":%llu,\"bytes\":%llu,\"objects\":%llu,\"fill\":%.4f,\"hits\":%llu,"
      "\"misses\":%llu,\"stale\":%llu,\"coalesced\":%llu,\"hit_ratio\":%.4f,\"evictions\":%llu}",
      static_cast<unsigned long long>(f.memory), static_cast<unsigned long long>(f.store.bytes),
      static_cast<unsigned long long>(f.store.objects), f.fill,
      static_cast<unsigned long long>(f.hits), static_cast<unsigned long long>(f.misses),
      static_cast<unsigned long long>(f.stale), static_cast<unsigned long long>(f.coalesced),
      f.hit_ratio, static_cast<unsigned long long>(f.store.evictions));
  if (n > 0) out.append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}

void CacheShared::write_status_html(std::string& out) const {
  StatusFigures f = figures(*core_);
  char buf[768];
  int n = std::snprintf(
      buf, sizeof buf,
      "<h2>Cache</h2>\n<table>\n"
      "<tr><th>Fill</th><td>%.1f%% (%llu of %llu bytes)</td></tr>\n"
      "<tr><th>Objects</th><td>%llu</td></tr>\n"
      "<tr><th>Hit ratio</th><td>%.1f%% (%llu hits, %llu misses)</td></tr>\n"
      "<tr><th>Stale served</th><td>%llu</td></tr>\n"
      "<tr><th>Coalesced</th><td>%llu</td></tr>\n"
      "<tr><th>Evictions</th><td>%llu</td></tr>\n</table>\n",
      f.fill * 100, static_cast<unsigned long long>(f.store.bytes),
      static_cast<unsigned long long>(f.memory), static_cast<unsigned long long>(f.store.objects),
      f.hit_ratio * 100, static_cast<unsigned long long>(f.hits),
      static_cast<unsigned long long>(f.misses), static_cast<unsigned long long>(f.stale),
      static_cast<unsigned long long>(f.coalesced),
      static_cast<unsigned long long>(f.store.evictions));
  if (n > 0) out.append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}

StoreOptions store_options(const SectionConfig& section) {
  StoreOptions o;
  o.memory = section.memory;
  o.max_object = section.max_object;
  o.shards = 16;
  while (o.shards > 1 && o.memory / o.shards < 2 * o.max_object) o.shards /= 2;
  return o;
}

std::expected<std::shared_ptr<module::ModuleShared>, std::string> prepare(
    const config::Config& config, std::shared_ptr<module::ModuleShared> previous) {
  static const SectionConfig kDefaults;
  const SectionConfig* section = &kDefaults;
  if (auto it = config.modules.find("cache"); it != config.modules.end() && it->second) {
    section = static_cast<const SectionConfig*>(it->second.get());
  }
  StoreOptions options = store_options(*section);
  counters();  // registered at start, so a scrape shows them before the first request
  if (auto* prev = dynamic_cast<CacheShared*>(previous.get())) {
    const StoreOptions& old = prev->core().store.options();
    if (old.memory == options.memory && old.max_object == options.max_object) {
      return std::make_shared<CacheShared>(prev->core_ptr());
    }
  }
  return std::make_shared<CacheShared>(std::make_shared<CacheCore>(options));
}

module::ModuleFactory factory() {
  module::ModuleFactory f;
  f.name = "cache";
  f.order = 20;
  f.parser = config_parser();
  f.prepare = prepare;
  f.create = [](const module::WorkerInfo& info) -> std::unique_ptr<module::Module> {
    return std::make_unique<CacheModule>(info, std::static_pointer_cast<CacheShared>(info.shared));
  };
  return f;
}

}  // namespace pforte::modules::cache
