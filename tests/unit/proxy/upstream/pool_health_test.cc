#define BOOST_TEST_MODULE pool_health
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <set>

#include "proxy/common/handles.h"
#include "proxy/common/reaper.h"
#include "proxy/module/upstream_health.h"
#include "proxy/upstream/pool.h"

using pforte::config::UpstreamConfig;
using pforte::module::health_board;
using pforte::upstream::UpstreamPool;

namespace {

struct Fixture {
  pforte::EventBasePtr base{event_base_new()};
  pforte::Reaper reaper{base.get()};
  UpstreamConfig config;

  explicit Fixture(const std::string& name) {
    config.name = name;
    config.servers = {*pforte::config::parse_socket_address("127.0.0.1:1001"),
                      *pforte::config::parse_socket_address("127.0.0.1:1002")};
    config.backup = {*pforte::config::parse_socket_address("127.0.0.1:1003")};
  }

  std::set<size_t> picks(UpstreamPool& pool, int n = 20) {
    std::set<size_t> seen;
    for (int i = 0; i < n; ++i) seen.insert(*pool.pick({}));
    return seen;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(servers_that_fail_checks_are_skipped) {
  Fixture f("checks");
  UpstreamPool pool(f.base.get(), f.reaper, f.config);
  BOOST_TEST((f.picks(pool) == std::set<size_t>{0, 1}));
  health_board().server("checks", "127.0.0.1:1001").checks_up = false;
  BOOST_TEST((f.picks(pool) == std::set<size_t>{1}));
  health_board().server("checks", "127.0.0.1:1001").checks_up = true;
  BOOST_TEST((f.picks(pool) == std::set<size_t>{0, 1}));
}

BOOST_AUTO_TEST_CASE(backup_serves_only_when_no_primary_is_healthy) {
  Fixture f("backup");
  UpstreamPool pool(f.base.get(), f.reaper, f.config);
  health_board().server("backup", "127.0.0.1:1001").checks_up = false;
  health_board().server("backup", "127.0.0.1:1002").checks_up = false;
  BOOST_TEST((f.picks(pool) == std::set<size_t>{2}));
  health_board().server("backup", "127.0.0.1:1002").checks_up = true;
  BOOST_TEST((f.picks(pool) == std::set<size_t>{1}));
}

BOOST_AUTO_TEST_CASE(an_ejection_ends_by_itself) {
  Fixture f("eject");
  UpstreamPool pool(f.base.get(), f.reaper, f.config);
  auto now = std::chrono::steady_clock::now();
  auto& flags = health_board().server("eject", "127.0.0.1:1002");
  flags.set_ejected_until(now + std::chrono::hours(1));
  BOOST_TEST((f.picks(pool) == std::set<size_t>{0}));
  BOOST_TEST(!flags.up(now));
  BOOST_TEST(flags.up(now + std::chrono::hours(2)));
  flags.set_ejected_until(now - std::chrono::seconds(1));
  BOOST_TEST((f.picks(pool) == std::set<size_t>{0, 1}));
}

BOOST_AUTO_TEST_CASE(a_failed_server_is_not_tried_for_a_while_even_as_a_last_try) {
  Fixture f("refused");
  UpstreamPool pool(f.base.get(), f.reaper, f.config);
  auto now = std::chrono::steady_clock::now();
  pool.server_failed(0, now);
  BOOST_TEST((f.picks(pool) == std::set<size_t>{1}));
  pool.server_failed(1, now);
  BOOST_TEST((f.picks(pool) == std::set<size_t>{2}));  // the backup, which is up
  pool.server_failed(2, now);
  // Every server failed: none is tried until its block ends.
  BOOST_TEST(!pool.pick({}, now + UpstreamPool::kBlock / 2).has_value());
  // Then each is tried again, still down, so only as a last try: primaries first.
  auto later = now + UpstreamPool::kBlock;
  BOOST_TEST(pool.pick({}, later).value() == 0u);
  BOOST_TEST(pool.pick({0}, later).value() == 1u);
  pool.connect_succeeded(1);
  BOOST_TEST(pool.pick({}, now).value() == 1u);
}

BOOST_AUTO_TEST_CASE(a_server_that_never_answers_is_taken_out_again_by_one_miss) {
  using std::chrono::milliseconds;
  Fixture f("hung");
  UpstreamPool pool(f.base.get(), f.reaper, f.config);
  auto picks_at = [&](std::chrono::steady_clock::time_point t) {
    std::set<size_t> seen;
    for (int i = 0; i < 6; ++i) seen.insert(*pool.pick({}, t));
    return seen;
  };
  auto now = std::chrono::steady_clock::now();
  // Two misses are not enough (a slow URL), the third takes the server out.
  pool.server_unanswered(0, now);
  pool.server_unanswered(0, now);
  BOOST_TEST((picks_at(now) == std::set<size_t>{0, 1}));
  pool.server_unanswered(0, now);
  BOOST_TEST(!pool.pick({1, 2}, now).has_value());  // blocked: not even a last try
  BOOST_TEST((picks_at(now + milliseconds(500)) == std::set<size_t>{1}));
  // Its down time ends; a new connection to it succeeds (it accepts) but the request is not
  // answered either: out again at once, for twice as long (2 s).
  auto back = now + milliseconds(1100);
  BOOST_TEST((picks_at(back) == std::set<size_t>{0, 1}));
  pool.connect_succeeded(0);
  pool.server_unanswered(0, back);
  BOOST_TEST(!pool.pick({1, 2}, back).has_value());
  BOOST_TEST((picks_at(back + milliseconds(1500)) == std::set<size_t>{1}));
  BOOST_TEST(pool.pick({1, 2}, back + milliseconds(1500)).value() == 0u);  // down: last try only
  BOOST_TEST((picks_at(back + milliseconds(2100)) == std::set<size_t>{0, 1}));
  // Once it answers, its failures are forgotten: three misses are needed again.
  pool.connect_succeeded(0);
  pool.server_answered(0);
  auto healthy = back + milliseconds(3000);
  pool.server_unanswered(0, healthy);
  pool.server_unanswered(0, healthy);
  BOOST_TEST((picks_at(healthy) == std::set<size_t>{0, 1}));
  pool.server_unanswered(0, healthy);
  BOOST_TEST((picks_at(healthy + milliseconds(500)) == std::set<size_t>{1}));
  // And the time out starts again at 1 s.
  BOOST_TEST((picks_at(healthy + milliseconds(1100)) == std::set<size_t>{0, 1}));
}

BOOST_AUTO_TEST_CASE(the_board_keys_servers_by_upstream_and_address) {
  auto& a = health_board().server("u1", "127.0.0.1:1");
  auto& b = health_board().server("u2", "127.0.0.1:1");
  BOOST_TEST(&a != &b);
  BOOST_TEST(&a == &health_board().server("u1", "127.0.0.1:1"));
  BOOST_TEST(a.up(std::chrono::steady_clock::now()));
}
