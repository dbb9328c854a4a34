#include "modules/isolation/fragments.h"

#include <event2/buffer.h>
#include <event2/event.h>

#include <toml++/toml.h>
#include <algorithm>
#include <chrono>
#include <vector>

#include "modules/isolation/esi.h"
#include "modules/isolation/fragment_assembler.h"
#include "modules/isolation/last_good_store.h"

namespace pforte::modules::isolation {

namespace {

constexpr std::string_view kName = "fragments";
constexpr Millis kMaxTimeout{60'000};
// Last good copies: plenty for the few fragment URLs a site has, small next to the cache.
constexpr size_t kStoreEntries = 1024;
constexpr size_t kStoreBytes = 16u << 20;
constexpr size_t kStoreEntryBytes = 1u << 20;
constexpr uint64_t kMaxFragmentBytes = 1u << 20;

using SteadyClock = std::chrono::steady_clock;

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && http::iequals(s.substr(0, prefix.size()), prefix);
}

enum class Outcome : uint8_t { kFragment, kLastGood, kAlt, kEmpty };

module::Counter& outcome_counter(Outcome o) {
  static constexpr const char* kHelp =
      "ESI includes by what was rendered: the fragment, its last good copy, its alt, or nothing.";
  static module::Counter* counters[4] = {
      &module::metrics().counter("pforte_fragment_includes_total", kHelp,
                                 {{"outcome", "fragment"}}),
      &module::metrics().counter("pforte_fragment_includes_total", kHelp,
                                 {{"outcome", "last_good"}}),
      &module::metrics().counter("pforte_fragment_includes_total", kHelp, {{"outcome", "alt"}}),
      &module::metrics().counter("pforte_fragment_includes_total", kHelp, {{"outcome", "empty"}}),
  };
  return *counters[static_cast<size_t>(o)];
}

/// A sink that keeps only text: a fragment's own markup is dropped (its includes render as
/// nothing), so nothing of ESI reaches the page from a fragment either.
class TextSink : public EsiSink {
 public:
  void on_text(std::string_view text) override { text_.append(text); }
  void on_include(EsiInclude) override {}
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

/// Feeds every segment of `buffer` to `fn` without copying.
template <typename Fn>
void for_each_segment(evbuffer* buffer, Fn&& fn) {
  int n = evbuffer_peek(buffer, -1, nullptr, nullptr, 0);
  if (n <= 0) return;
  std::vector<evbuffer_iovec> v(static_cast<size_t>(n));
  n = evbuffer_peek(buffer, -1, nullptr, v.data(), n);
  for (int i = 0; i < n; ++i) {
    fn(std::string_view(static_cast<const char*>(v[i].iov_base), v[i].iov_len));
  }
}

std::string strip_esi(evbuffer* body) {
  EsiParser parser;
  TextSink sink;
  if (body) for_each_segment(body, [&](std::string_view s) { parser.feed(s, sink); });
  parser.finish(sink);
  return sink.take();
}

class FragmentsShared : public module::ModuleShared {
 public:
  explicit FragmentsShared(std::shared_ptr<LastGoodStore> store) : store_(std::move(store)) {}
  LastGoodStore& store() const { return *store_; }
  const std::shared_ptr<LastGoodStore>& store_ptr() const { return store_; }

  void write_metrics(module::MetricsWriter& out) const override {
    out.gauge("pforte_fragment_last_good_entries", "Fragments kept as last good copies.", {},
              static_cast<double>(store_->entries()));
    out.gauge("pforte_fragment_last_good_bytes", "Bytes of fragments kept as last good copies.", {},
              static_cast<double>(store_->bytes()));
  }

 private:
  std::shared_ptr<LastGoodStore> store_;
};

class FragmentsModule;
struct Page;

/// One <esi:include> of a page being composed.
struct Include {
  Page* page = nullptr;
  size_t slot = 0;
  IncludeTarget src;
  std::optional<IncludeTarget> alt;
  SteadyClock::time_point deadline;
  module::FetchHandle src_fetch;
  module::FetchHandle alt_fetch;
  EventPtr hedge;  ///< at half the timeout: start the alt if the source is still pending
  std::optional<std::string> alt_body;
  bool src_failed = false;
  bool alt_started = false;
  bool alt_done = false;
  bool settled = false;
};

/// The per-exchange state of a page being composed.
struct Page : module::ModuleState, EsiSink {
  module::ExchangeContext* ctx = nullptr;
  FragmentsModule* module = nullptr;
  Millis timeout{};
  EsiParser parser;
  FragmentAssembler out;
  bool held = false;  ///< the body's end is held until every include settled
  // Last: destroyed first, cancelling fetches whose callbacks point here.
  std::vector<std::unique_ptr<Include>> includes;

  void on_text(std::string_view text) override { out.add_text(text); }
  void on_include(EsiInclude include) override;
};

class FragmentsModule : public module::Module {
 public:
  FragmentsModule(size_t index, std::shared_ptr<FragmentsShared> shared)
      : index_(index), shared_(std::move(shared)) {}

  module::Decision on_request(module::ExchangeContext& ctx) override {
    if (const FragmentsRouteConfig* cfg = route_config(ctx); cfg && cfg->enabled) {
      // The page must arrive as plain and whole HTML to be parsed.
      http::Headers& h = ctx.request().headers;
      h.remove("accept-encoding");
      h.remove("range");
      h.remove("if-range");
    }
    return module::Decision::proceed();
  }

  void on_response_head(module::ExchangeContext& ctx, module::Response& response) override {
    ctx.state(index_).reset();  // the head hooks run again for a replaced response
    const FragmentsRouteConfig* cfg = route_config(ctx);
    if (!cfg || !cfg->enabled || ctx.request().method == "HEAD") return;
    if (response.status < 200 || response.status == 204 || response.status == 304) return;
    std::optional<std::string_view> type = response.headers.get("content-type");
    if (!type || !istarts_with(*type, "text/html")) return;
    std::optional<std::string_view> coding = response.headers.get("content-encoding");
    if (coding && !http::iequals(*coding, "identity")) return;  // not asked for; cannot parse
    auto page = std::make_unique<Page>();
    page->ctx = &ctx;
    page->module = this;
    page->timeout = cfg->timeout;
    ctx.state(index_) = std::move(page);
    ctx.set_body_rewritten();
    response.headers.remove("etag");
    response.headers.remove("last-modified");
    response.headers.remove("accept-ranges");
    response.headers.remove("content-length");
  }

  void on_response_body(module::ExchangeContext& ctx, evbuffer* piece, bool last) override {
    Page* page = static_cast<Page*>(ctx.state(index_).get());
    if (!page) return;
    size_t length = evbuffer_get_length(piece);
    if (length) {
      for_each_segment(piece, [&](std::string_view s) { page->parser.feed(s, *page); });
      evbuffer_drain(piece, length);
    }
    if (last) page->parser.finish(*page);
    std::string ready;
    page->out.take_ready(ready);
    evbuffer_add(piece, ready.data(), ready.size());
    if (last && !page->out.empty()) {
      ctx.hold_body_end();
      page->held = true;
    }
  }

  void start_include(Page& page, EsiInclude esi) {
    auto inc = std::make_unique<Include>();
    Include& i = *inc;
    i.page = &page;
    i.slot = page.out.add_slot();
    page.includes.push_back(std::move(inc));
    const module::Request& req = page.ctx->request();
    std::optional<IncludeTarget> src =
        resolve_include(esi.src, req.scheme, req.authority, req.path);
    if (!src || page.ctx->fetch_depth() + 1 > kMaxFragmentDepth) {
      settle(i, "", Outcome::kEmpty);
      return;
    }
    i.src = std::move(*src);
    if (!esi.alt.empty()) i.alt = resolve_include(esi.alt, req.scheme, req.authority, req.path);
    i.deadline = SteadyClock::now() + page.timeout;
    i.src_fetch = fetch(page, i.src, page.timeout, [&i](module::FetchResult r) {
      i.page->module->on_source(i, std::move(r));
    });
    if (i.alt) {
      i.hedge.reset(evtimer_new(page.ctx->base(), &FragmentsModule::on_hedge, &i));
      Millis half = page.timeout / 2;
      timeval tv{static_cast<time_t>(half.count() / 1000),
                 static_cast<suseconds_t>(half.count() % 1000 * 1000)};
      evtimer_add(i.hedge.get(), &tv);
    }
  }

 private:
  const FragmentsRouteConfig* route_config(module::ExchangeContext& ctx) const {
    if (ctx.admin()) return nullptr;
    const auto& modules = ctx.route().modules;
    auto it = modules.find(kName);
    return it == modules.end() ? nullptr
                               : static_cast<const FragmentsRouteConfig*>(it->second.get());
  }

  module::FetchHandle fetch(Page& page, const IncludeTarget& target, Millis timeout,
                            std::function<void(module::FetchResult)> done) {
    module::Request r;
    r.method = "GET";
    r.scheme = target.scheme;
    r.authority = target.authority;
    r.path = target.path;
    r.headers.add("accept", "text/html");
    r.headers.add("user-agent", "pforte-fragments");
    if (auto id = page.ctx->request().headers.get("x-request-id"))
      r.headers.add("x-request-id", *id);
    module::FetchOptions options;
    options.timeout = timeout;
    options.max_body_bytes = kMaxFragmentBytes;
    options.depth = page.ctx->fetch_depth() + 1;
    return page.ctx->services().fetch(std::move(r), options, std::move(done));
  }

  static bool good(const module::FetchResult& r) {
    return r.status >= 200 && r.status < 300 && r.body;
  }

  void on_source(Include& i, module::FetchResult r) {
    if (i.settled) return;
    if (good(r)) {
      std::string body = strip_esi(r.body.get());
      shared_->store().put(i.src.key(), body);
      settle(i, body, Outcome::kFragment);
      return;
    }
    if (std::shared_ptr<const std::string> copy = shared_->store().get(i.src.key())) {
      settle(i, *copy, Outcome::kLastGood);
      return;
    }
    i.src_failed = true;
    if (i.alt_done) {
      settle_with_alt(i);
    } else if (!i.alt_started) {
      if (!start_alt(i)) settle(i, "", Outcome::kEmpty);
    }  // else: the alt is on its way and ends by the deadline
  }

  void on_alt(Include& i, module::FetchResult r) {
    if (i.settled) return;
    i.alt_done = true;
    if (good(r)) i.alt_body = strip_esi(r.body.get());
    if (i.src_failed) settle_with_alt(i);
  }

  void settle_with_alt(Include& i) {
    if (i.alt_body)
      settle(i, *i.alt_body, Outcome::kAlt);
    else
      settle(i, "", Outcome::kEmpty);
  }

  /// Starts fetching the alt within what is left until the deadline. False if there is no alt
  /// or no time left.
  bool start_alt(Include& i) {
    if (!i.alt || i.alt_started) return false;
    auto left = std::chrono::duration_cast<Millis>(i.deadline - SteadyClock::now());
    if (left < Millis(1)) return false;
    i.alt_started = true;
    i.alt_fetch = fetch(*i.page, *i.alt, left,
                        [&i](module::FetchResult r) { i.page->module->on_alt(i, std::move(r)); });
    return true;
  }

  static void on_hedge(evutil_socket_t, short, void* arg) {
    Include& i = *static_cast<Include*>(arg);
    if (i.settled || i.alt_started) return;
    // A last good copy will stand in if the source is late: no need for the alt.
    if (i.page->module->shared_->store().get(i.src.key())) return;
    i.page->module->start_alt(i);
  }

  void settle(Include& i, std::string_view content, Outcome outcome) {
    i.settled = true;
    i.hedge.reset();
    // Cancels what is still running; safe from inside that fetch's own callback.
    i.src_fetch.reset();
    i.alt_fetch.reset();
    outcome_counter(outcome).add();
    Page& page = *i.page;
    page.out.fill(i.slot, content);
    if (!page.held) return;  // the text goes out with the next body piece
    std::string ready;
    page.out.take_ready(ready);
    if (!ready.empty()) {
      EvbufferPtr buffer = make_evbuffer();
      evbuffer_add(buffer.get(), ready.data(), ready.size());
      page.ctx->write_body(buffer.get());
    }
    if (page.out.empty()) {
      page.held = false;
      page.ctx->end_body();
    }
  }

  size_t index_;
  std::shared_ptr<FragmentsShared> shared_;
};

void Page::on_include(EsiInclude include) {
  module->start_include(*this, std::move(include));
}

bool bad_url_char(char c) {
  return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#' || c == '\\';
}

}  // namespace

std::optional<IncludeTarget> resolve_include(std::string_view src, std::string_view scheme,
                                             std::string_view authority,
                                             std::string_view page_path) {
  if (src.empty() || std::any_of(src.begin(), src.end(), bad_url_char)) return std::nullopt;
  IncludeTarget t;
  t.scheme.assign(scheme.empty() ? "http" : scheme);
  std::string_view rest;
  if (istarts_with(src, "http://") || istarts_with(src, "https://")) {
    size_t colon = src.find(':');
    t.scheme.clear();
    for (char c : src.substr(0, colon)) t.scheme.push_back(static_cast<char>(c | 0x20));
    rest = src.substr(colon + 1);
  } else if (src.starts_with("//")) {
    rest = src;
  } else if (src.front() == '/') {
    t.authority.assign(authority);
    t.path.assign(src);
    return t;
  } else {
    // A relative reference: only a path (a ':' before any '/' would be another scheme).
    size_t colon = src.find(':');
    if (colon != std::string_view::npos && colon < src.find('/')) return std::nullopt;
    std::string_view base = page_path.substr(0, page_path.find('?'));
    base = base.substr(0, base.rfind('/') + 1);
    t.authority.assign(authority);
    t.path.assign(base.empty() ? "/" : base).append(src);
    return t;
  }
  if (!rest.starts_with("//")) return std::nullopt;
  rest.remove_prefix(2);
  size_t end = rest.find_first_of("/?");
  t.authority.assign(rest.substr(0, end));
  if (t.authority.empty()) return std::nullopt;
  std::string_view path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (path.empty() || path.front() == '?') t.path = "/";
  t.path.append(path);
  return t;
}

std::shared_ptr<const config::ModuleConfig> parse_fragments_route(const toml::node& node,
                                                                  config::ErrorSink& errors) {
  const toml::table* table = node.as_table();
  if (!table) {
    errors.add(node,
               R"("fragments" must be a table such as { enabled = true, timeout = "200ms" })");
    return nullptr;
  }
  auto out = std::make_shared<FragmentsRouteConfig>();
  bool ok = true;
  for (const auto& [key, value] : *table) {
    std::string_view k = key.str();
    if (k == "enabled") {
      if (const auto* b = value.as_boolean()) {
        out->enabled = b->get();
      } else {
        errors.add(value, R"("enabled" must be true or false)");
        ok = false;
      }
    } else if (k == "timeout") {
      const auto* s = value.as_string();
      std::optional<Millis> d = s ? parse_duration(s->get()) : std::nullopt;
      if (!d) {
        errors.add(value, R"("timeout" must be a duration string such as "200ms" or "1s")");
        ok = false;
      } else if (d->count() == 0 || *d > kMaxTimeout) {
        errors.add(value, R"("timeout" must be greater than 0 and at most "60s")");
        ok = false;
      } else {
        out->timeout = *d;
      }
    } else {
      errors.add(value, "unknown key \"" + std::string(k) +
                            R"(" in "fragments" (expected "enabled", "timeout"))");
      ok = false;
    }
  }
  if (!ok) return nullptr;
  return out;
}

module::ModuleFactory fragments_factory() {
  module::ModuleFactory f;
  f.name = std::string(kName);
  f.order = 30;  // after the cache (which keeps the raw template), before isolation
  f.parser.name = f.name;
  f.parser.parse_route = [](const toml::node& node, const config::ModuleConfig*,
                            config::ErrorSink& errors) {
    return parse_fragments_route(node, errors);
  };
  f.prepare = [](const config::Config&, std::shared_ptr<module::ModuleShared> previous)
      -> std::expected<std::shared_ptr<module::ModuleShared>, std::string> {
    // Last good copies survive a reload: they are keyed by URL, not by config.
    std::shared_ptr<LastGoodStore> store;
    if (auto* before = dynamic_cast<FragmentsShared*>(previous.get())) store = before->store_ptr();
    if (!store)
      store = std::make_shared<LastGoodStore>(kStoreEntries, kStoreBytes, kStoreEntryBytes);
    return std::make_shared<FragmentsShared>(std::move(store));
  };
  f.create = [](const module::WorkerInfo& info) -> std::unique_ptr<module::Module> {
    return std::make_unique<FragmentsModule>(
        info.module_index, std::static_pointer_cast<FragmentsShared>(info.shared));
  };
  return f;
}

}  // namespace pforte::modules::isolation
