#define BOOST_TEST_MODULE cache_module
#include "modules/cache/cache_module.h"

#include <event2/event.h>

#include <boost/test/unit_test.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

// The module's phases against a fake exchange and fake worker services: no sockets, no threads.
// Posted work (the coalescing wake-ups) runs when a test says so.

using namespace pforte;
using namespace pforte::modules::cache;
using module::Decision;

namespace {

class FakeServices final : public module::WorkerServices {
 public:
  explicit FakeServices(event_base* base) : base_(base) {}
  event_base* base() override { return base_; }
  module::FetchHandle fetch(module::Request request, module::FetchOptions options,
                            std::function<void(module::FetchResult)> done) override {
    fetches.push_back({std::move(request), options, std::move(done)});
    return module::FetchHandle();
  }
  void post(std::function<void()> fn) override { posted.push_back(std::move(fn)); }
  size_t run_posted() {
    std::vector<std::function<void()>> batch = std::move(posted);
    posted.clear();
    for (auto& fn : batch) fn();
    return batch.size();
  }

  struct Fetch {
    module::Request request;
    module::FetchOptions options;
    std::function<void(module::FetchResult)> done;
  };
  std::vector<Fetch> fetches;
  std::vector<std::function<void()>> posted;

 private:
  event_base* base_;
};

class FakeExchange final : public module::ExchangeContext,
                           public std::enable_shared_from_this<FakeExchange> {
 public:
  FakeExchange(const module::Generation& gen, const config::RouteConfig& route,
               FakeServices& services, event_base* base)
      : gen_(gen), route_(route), services_(services), base_(base) {
    states_.resize(1);
  }
  module::Request& request() override { return request_; }
  const config::RouteConfig& route() const override { return route_; }
  const config::Config& config() const override { return *gen_.config; }
  std::string_view client_address() const override { return "192.0.2.1"; }
  bool tls() const override { return false; }
  event_base* base() override { return base_; }
  module::LogRecord& log_record() override { return log_; }
  std::unique_ptr<module::ModuleState>& state(size_t i) override { return states_.at(i); }
  module::ResumeHandle resume_handle() override {
    return module::ResumeHandle(std::weak_ptr<module::ExchangeContext>(shared_from_this()));
  }
  const module::Generation& generation() const override { return gen_; }
  bool admin() const override { return admin_; }
  int fetch_depth() const override { return 0; }
  uint32_t fetch_flags() const override { return flags_; }
  module::WorkerServices& services() override { return services_; }
  void replace_response(module::LocalReply reply) override {
    replacement = std::make_unique<module::LocalReply>(std::move(reply));
  }
  void set_body_rewritten() override {}
  void hold_body_end() override {}
  void write_body(evbuffer*) override {}
  void end_body() override {}

  module::Request request_;
  bool admin_ = false;
  uint32_t flags_ = 0;
  std::unique_ptr<module::LocalReply> replacement;
  std::optional<Decision::Kind> resumed;
  std::unique_ptr<module::LocalReply> resumed_reply;

 protected:
  void resume(Decision d) override {
    resumed = d.kind();
    if (d.kind() == Decision::Kind::kReply) resumed_reply = d.take_reply();
  }

 private:
  const module::Generation& gen_;
  const config::RouteConfig& route_;
  FakeServices& services_;
  event_base* base_;
  module::LogRecord log_;
  std::vector<std::unique_ptr<module::ModuleState>> states_;
};

std::string body_of(const module::LocalReply& r) {
  size_t n = evbuffer_get_length(r.body.get());
  std::string out(n, '\0');
  evbuffer_copyout(r.body.get(), out.data(), n);
  return out;
}

std::string field(const module::LocalReply& r, std::string_view name) {
  return std::string(r.response.headers.get(name).value_or(""));
}

/// One worker's cache module over a config with three routes by host: "swr.test"
/// (stale-while-revalidate), "fast.test" (an upstream with a 1 ms response timeout, the bound of
/// a wait) and the rest (stale-if-error).
struct Fixture {
  Fixture() {
    auto loaded = config::load_config_text(
        "[[listener]]\naddress = \"127.0.0.1:8080\"\n"
        "[upstream.app]\nservers = [\"127.0.0.1:9000\"]\n"
        "[upstream.fast]\nservers = [\"127.0.0.1:9001\"]\nresponse_timeout = \"1ms\"\n"
        "[[route]]\nhost = \"swr.test\"\nupstream = \"app\"\n"
        "cache = { enabled = true, stale_while_revalidate = \"1m\" }\n"
        "[[route]]\nhost = \"fast.test\"\nupstream = \"fast\"\ncache = { enabled = true }\n"
        "[[route]]\nupstream = \"app\"\n"
        "cache = { enabled = true, default_ttl = \"1h\", stale_if_error = \"1d\" }\n",
        "t.toml", {config_parser()});
    BOOST_REQUIRE(loaded.has_value());
    gen.config = *loaded;
    auto shared = prepare(*gen.config, nullptr);
    BOOST_REQUIRE(shared.has_value());
    gen.shared = {*shared};
    module::WorkerInfo info;
    info.base = base.get();
    info.module_index = 0;
    info.shared = *shared;
    info.generation = &gen;
    info.services = &services;
    mod = factory().create(info);
  }

  std::shared_ptr<FakeExchange> exchange(std::string path, std::string method = "GET",
                                         size_t route = 2, std::string host = "site.test") {
    auto ex =
        std::make_shared<FakeExchange>(gen, gen.config->routes.at(route), services, base.get());
    ex->request_.method = std::move(method);
    ex->request_.scheme = "http";
    ex->request_.authority = std::move(host);
    ex->request_.path = std::move(path);
    return ex;
  }

  /// The upstream answers `ex` with `status`, `fields` and `body`; returns the head as the client
  /// would get it (unless the module replaced it: see ex.replacement).
  module::Response respond(FakeExchange& ex, int status,
                           std::initializer_list<std::pair<const char*, const char*>> fields,
                           std::string_view body = "hello") {
    module::Response r;
    r.status = status;
    for (auto& [n, v] : fields) r.headers.add(n, v);
    mod->on_response_head(ex, r);
    if (!ex.replacement) {
      EvbufferPtr piece = make_evbuffer();
      evbuffer_add(piece.get(), body.data(), body.size());
      mod->on_response_body(ex, piece.get(), true);
    }
    mod->on_log(ex, ex.log_record());
    return r;
  }

  /// Stores `path` (route 2) with the given Cache-Control and an ETag.
  void store(const std::string& path, const char* cache_control, size_t route = 2,
             const char* host = "site.test") {
    auto ex = exchange(path, "GET", route, host);
    BOOST_REQUIRE((mod->on_request(*ex).kind() == Decision::Kind::kProceed));
    auto head = respond(*ex, 200, {{"cache-control", cache_control}, {"etag", "\"e1\""}});
    BOOST_REQUIRE(std::string(head.headers.get("cache-status").value_or("")).find("stored") !=
                  std::string::npos);
  }

  std::unique_ptr<event_base, EventBaseFree> base{event_base_new()};
  FakeServices services{base.get()};
  module::Generation gen;
  std::unique_ptr<module::Module> mod;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cache_module, Fixture)

BOOST_AUTO_TEST_CASE(miss_is_stored_and_the_next_request_is_a_hit_without_copy) {
  store("/a.css", "max-age=60");
  auto ex = exchange("/a.css");
  Decision d = mod->on_request(*ex);
  BOOST_REQUIRE((d.kind() == Decision::Kind::kReply));
  auto reply = d.take_reply();
  BOOST_TEST(reply->response.status == 200);
  BOOST_TEST(body_of(*reply) == "hello");
  BOOST_TEST(field(*reply, "cache-status").starts_with("pforte; hit; ttl="));
  BOOST_TEST(field(*reply, "age") == "0");
  mod->on_log(*ex, ex->log_record());
  BOOST_TEST(ex->log_record().cache_status == "hit");
}

BOOST_AUTO_TEST_CASE(waiters_get_the_leaders_stored_answer) {
  auto leader = exchange("/c.js");
  auto waiter = exchange("/c.js");
  auto head_waiter = exchange("/c.js", "HEAD");
  BOOST_TEST((mod->on_request(*leader).kind() == Decision::Kind::kProceed));
  BOOST_TEST((mod->on_request(*waiter).kind() == Decision::Kind::kSuspend));
  BOOST_TEST((mod->on_request(*head_waiter).kind() == Decision::Kind::kSuspend));
  respond(*leader, 200, {{"cache-control", "max-age=60"}});
  BOOST_TEST(services.run_posted() == 2u);
  for (auto* ex : {waiter.get(), head_waiter.get()}) {
    BOOST_REQUIRE((ex->resumed == Decision::Kind::kReply));
    BOOST_TEST(body_of(*ex->resumed_reply) == "hello");
    BOOST_TEST(field(*ex->resumed_reply, "cache-status") ==
               "pforte; fwd=uri-miss; collapsed; ttl=60");
  }
}

BOOST_AUTO_TEST_CASE(head_does_not_lead_a_fetch) {
  auto head = exchange("/h.js", "HEAD");
  BOOST_TEST((mod->on_request(*head).kind() == Decision::Kind::kProceed));
  auto get = exchange("/h.js");
  BOOST_TEST((mod->on_request(*get).kind() == Decision::Kind::kProceed));
}

BOOST_AUTO_TEST_CASE(waiters_go_upstream_when_the_answer_is_not_storable) {
  auto leader = exchange("/p");
  auto waiter = exchange("/p");
  mod->on_request(*leader);
  BOOST_TEST((mod->on_request(*waiter).kind() == Decision::Kind::kSuspend));
  auto head = respond(*leader, 200, {{"cache-control", "private"}});
  BOOST_TEST(std::string(*head.headers.get("cache-status")) ==
             "pforte; fwd=uri-miss; fwd-status=200; detail=private");
  services.run_posted();
  BOOST_TEST((waiter->resumed == Decision::Kind::kProceed));
}

BOOST_AUTO_TEST_CASE(waiters_go_upstream_when_the_leader_goes_away) {
  auto leader = exchange("/gone");
  auto waiter = exchange("/gone");
  mod->on_request(*leader);
  mod->on_request(*waiter);
  leader.reset();  // the client left before the head came
  BOOST_TEST(services.run_posted() == 1u);
  BOOST_TEST((waiter->resumed == Decision::Kind::kProceed));
}

BOOST_AUTO_TEST_CASE(a_gone_waiter_is_not_resumed) {
  auto leader = exchange("/w");
  auto waiter = exchange("/w");
  mod->on_request(*leader);
  mod->on_request(*waiter);
  waiter.reset();
  respond(*leader, 200, {{"cache-control", "max-age=60"}});
  BOOST_TEST(services.run_posted() == 1u);  // ran, and did nothing
}

BOOST_AUTO_TEST_CASE(waiter_gives_up_after_the_upstream_response_timeout) {
  auto leader = exchange("/slow", "GET", 1, "fast.test");
  auto waiter = exchange("/slow", "GET", 1, "fast.test");
  mod->on_request(*leader);
  BOOST_TEST((mod->on_request(*waiter).kind() == Decision::Kind::kSuspend));
  event_base_loop(base.get(), EVLOOP_ONCE);  // the 1 ms bound fires
  BOOST_TEST((waiter->resumed == Decision::Kind::kProceed));
  // The leader's answer later does not resume it again.
  waiter->resumed.reset();
  respond(*leader, 200, {{"cache-control", "max-age=60"}});
  services.run_posted();
  BOOST_TEST(!waiter->resumed.has_value());
}

BOOST_AUTO_TEST_CASE(stale_entry_is_revalidated_and_a_304_answers_from_the_cache) {
  store("/r", "max-age=0");
  auto ex = exchange("/r");
  ex->request_.headers.add("range", "bytes=1-2");
  BOOST_TEST((mod->on_request(*ex).kind() == Decision::Kind::kProceed));
  BOOST_TEST(std::string(ex->request_.headers.get("if-none-match").value_or("")) == "\"e1\"");
  BOOST_TEST(!ex->request_.headers.has("range"));  // the whole object is fetched
  respond(*ex, 304, {{"cache-control", "max-age=60"}, {"etag", "\"e1\""}});
  BOOST_REQUIRE(ex->replacement);
  BOOST_TEST(ex->replacement->response.status == 206);  // the client's Range, from the cache
  BOOST_TEST(body_of(*ex->replacement) == "el");
  BOOST_TEST(field(*ex->replacement, "cache-status") ==
             "pforte; fwd=stale; fwd-status=304; stored; ttl=60");
  BOOST_TEST(ex->log_record().cache_status == "revalidated");
  // Fresh again.
  auto next = exchange("/r");
  BOOST_TEST((mod->on_request(*next).kind() == Decision::Kind::kReply));
}

BOOST_AUTO_TEST_CASE(stale_copy_is_served_on_upstream_error_and_on_5xx) {
  store("/e", "max-age=0");
  auto ex = exchange("/e");
  mod->on_request(*ex);
  Decision d = mod->on_upstream_error(*ex, 502);
  BOOST_REQUIRE((d.kind() == Decision::Kind::kReply));
  auto reply = d.take_reply();
  BOOST_TEST(body_of(*reply) == "hello");
  BOOST_TEST(field(*reply, "cache-status").find("fwd=stale") != std::string::npos);
  BOOST_TEST(field(*reply, "cache-status").find("detail=stale-if-error") != std::string::npos);

  auto ex5 = exchange("/e");
  mod->on_request(*ex5);
  respond(*ex5, 503, {{"cache-control", "no-store"}});
  BOOST_REQUIRE(ex5->replacement);
  BOOST_TEST(ex5->replacement->response.status == 200);
  BOOST_TEST(field(*ex5->replacement, "cache-status").find("fwd-status=503") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stale_while_revalidate_serves_and_refreshes_once) {
  store("/s", "max-age=0", 0, "swr.test");
  for (int i = 0; i < 3; ++i) {
    auto ex = exchange("/s", "GET", 0, "swr.test");
    Decision d = mod->on_request(*ex);
    BOOST_REQUIRE((d.kind() == Decision::Kind::kReply));
    BOOST_TEST(field(*d.take_reply(), "cache-status").find("detail=stale-while-revalidate") !=
               std::string::npos);
  }
  BOOST_REQUIRE(services.fetches.size() == 1u);
  BOOST_TEST(services.fetches[0].options.flags == module::kFetchRefresh);
  BOOST_TEST(services.fetches[0].request.path == "/s");
  // The refresh itself is never answered from the cache.
  auto refresh = exchange("/s", "GET", 0, "swr.test");
  refresh->flags_ = module::kFetchRefresh;
  BOOST_TEST((mod->on_request(*refresh).kind() == Decision::Kind::kProceed));
  BOOST_TEST(refresh->request_.headers.has("if-none-match"));
  respond(*refresh, 304, {{"cache-control", "max-age=60"}});
  BOOST_TEST(!refresh->replacement);  // a refresh's 304 is not turned into a full answer
  module::FetchResult ok;
  ok.status = 304;
  services.fetches[0].done(std::move(ok));
  auto fresh = exchange("/s", "GET", 0, "swr.test");
  Decision d = mod->on_request(*fresh);
  BOOST_REQUIRE((d.kind() == Decision::Kind::kReply));
  BOOST_TEST(field(*d.take_reply(), "cache-status") == "pforte; hit; ttl=60");
}

BOOST_AUTO_TEST_CASE(purge_on_the_admin_listener_only) {
  store("/static/x.css", "max-age=60");
  store("/static/y.css", "max-age=60");
  auto pub = exchange("/static/x.css", "PURGE");
  Decision refused = mod->on_request(*pub);
  BOOST_REQUIRE((refused.kind() == Decision::Kind::kReply));
  BOOST_TEST(refused.take_reply()->response.status == 405);

  auto purge = exchange("/static/x.css", "PURGE");
  purge->admin_ = true;
  Decision d = mod->on_admin(*purge);
  BOOST_REQUIRE((d.kind() == Decision::Kind::kReply));
  auto reply = d.take_reply();
  BOOST_TEST(reply->response.status == 200);
  BOOST_TEST(body_of(*reply) == "{\"purged\":1}\n");
  BOOST_TEST(mod->on_admin(*purge).take_reply()->response.status == 404);

  auto prefix = exchange("/static/*", "PURGE");
  prefix->admin_ = true;
  BOOST_TEST(body_of(*mod->on_admin(*prefix).take_reply()) == "{\"purged\":1}\n");
  auto other = exchange("/metrics", "GET");
  other->admin_ = true;
  BOOST_TEST((mod->on_admin(*other).kind() == Decision::Kind::kProceed));
}

BOOST_AUTO_TEST_CASE(other_methods_bypass_and_unsafe_ones_invalidate) {
  store("/u", "max-age=60");
  auto post = exchange("/u", "POST");
  BOOST_TEST((mod->on_request(*post).kind() == Decision::Kind::kProceed));
  auto head = respond(*post, 200, {});
  BOOST_TEST(std::string(*head.headers.get("cache-status")) == "pforte; fwd=method");
  auto get = exchange("/u");
  BOOST_TEST((mod->on_request(*get).kind() == Decision::Kind::kProceed));
}

BOOST_AUTO_TEST_CASE(vary_stores_variants_and_coalesces_per_variant) {
  auto de = exchange("/v");
  de->request_.headers.add("accept-language", "de");
  mod->on_request(*de);
  respond(*de, 200, {{"cache-control", "max-age=60"}, {"vary", "Accept-Language"}}, "Hallo");
  // Two languages missing at once lead their own fetches.
  auto en = exchange("/v");
  en->request_.headers.add("accept-language", "en");
  auto fr = exchange("/v");
  fr->request_.headers.add("accept-language", "fr");
  BOOST_TEST((mod->on_request(*en).kind() == Decision::Kind::kProceed));
  BOOST_TEST((mod->on_request(*fr).kind() == Decision::Kind::kProceed));
  auto again = exchange("/v");
  again->request_.headers.add("accept-language", "de");
  Decision d = mod->on_request(*again);
  BOOST_REQUIRE((d.kind() == Decision::Kind::kReply));
  BOOST_TEST(body_of(*d.take_reply()) == "Hallo");
}

BOOST_AUTO_TEST_SUITE_END()
