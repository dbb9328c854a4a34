#define BOOST_TEST_MODULE balancer
#include "proxy/upstream/balancer.h"

#include <boost/test/unit_test.hpp>
#include <map>
#include <vector>

using pforte::config::Balance;
using pforte::upstream::Balancer;
using pforte::upstream::ServerView;

BOOST_AUTO_TEST_CASE(round_robin_cycles_over_primaries) {
  Balancer b(Balance::kRoundRobin);
  std::vector<ServerView> s(3);
  std::map<size_t, int> hits;
  for (int i = 0; i < 300; ++i) ++hits[*b.pick(s)];
  BOOST_TEST(hits[0] == 100);
  BOOST_TEST(hits[1] == 100);
  BOOST_TEST(hits[2] == 100);
}

BOOST_AUTO_TEST_CASE(backups_are_not_used_while_a_primary_is_up) {
  Balancer b(Balance::kRoundRobin);
  std::vector<ServerView> s(3);
  s[2].backup = true;
  for (int i = 0; i < 50; ++i) BOOST_TEST(*b.pick(s) != 2u);
}

BOOST_AUTO_TEST_CASE(backup_takes_over_when_every_primary_is_down) {
  Balancer b(Balance::kRoundRobin);
  std::vector<ServerView> s(3);
  s[0].up = false;
  s[1].up = false;
  s[2].backup = true;
  for (int i = 0; i < 10; ++i) BOOST_TEST(*b.pick(s) == 2u);
}

BOOST_AUTO_TEST_CASE(down_primary_is_tried_when_nothing_else_is_left) {
  Balancer b(Balance::kRoundRobin);
  std::vector<ServerView> s(2);
  s[0].up = false;
  s[1].backup = true;
  s[1].excluded = true;
  BOOST_TEST(*b.pick(s) == 0u);
}

BOOST_AUTO_TEST_CASE(excluded_servers_are_skipped_and_none_left_gives_nothing) {
  Balancer b(Balance::kRoundRobin);
  std::vector<ServerView> s(2);
  s[0].excluded = true;
  BOOST_TEST(*b.pick(s) == 1u);
  s[1].excluded = true;
  BOOST_TEST(!b.pick(s).has_value());
}

BOOST_AUTO_TEST_CASE(least_conn_prefers_the_server_with_fewest_requests_in_flight) {
  Balancer b(Balance::kLeastConn);
  std::vector<ServerView> s(3);
  s[0].in_flight = 5;
  s[1].in_flight = 1;
  s[2].in_flight = 3;
  for (int i = 0; i < 10; ++i) BOOST_TEST(*b.pick(s) == 1u);
}

BOOST_AUTO_TEST_CASE(least_conn_spreads_ties) {
  Balancer b(Balance::kLeastConn);
  std::vector<ServerView> s(2);
  std::map<size_t, int> hits;
  for (int i = 0; i < 100; ++i) ++hits[*b.pick(s)];
  BOOST_TEST(hits[0] == 50);
  BOOST_TEST(hits[1] == 50);
}
