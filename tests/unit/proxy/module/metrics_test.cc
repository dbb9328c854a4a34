#define BOOST_TEST_MODULE metrics
#include <boost/test/unit_test.hpp>

#include <string>
#include <thread>
#include <vector>

#include "proxy/module/metrics.h"

using namespace pforte::module;

BOOST_AUTO_TEST_SUITE(counters)

BOOST_AUTO_TEST_CASE(adds_from_many_threads_sum_up) {
  Counter c;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      set_metric_shard(t);
      for (int i = 0; i < 10000; ++i) c.add();
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(c.value() == 40000u);
}

BOOST_AUTO_TEST_CASE(registry_returns_the_same_counter_for_the_same_labels) {
  MetricsRegistry r;
  Counter& a = r.counter("x_total", "help", {{"route", "0"}});
  Counter& b = r.counter("x_total", "help", {{"route", "0"}});
  Counter& c = r.counter("x_total", "help", {{"route", "1"}});
  BOOST_TEST(&a == &b);
  BOOST_TEST(&a != &c);
  a.add(3);
  BOOST_TEST(r.counter_value("x_total", {{"route", "0"}}) == 3u);
  BOOST_TEST(r.counters("x_total").size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(histograms)

BOOST_AUTO_TEST_CASE(buckets_are_cumulative_and_end_with_the_count) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.observe(v);
  Histogram::Snapshot s = h.snapshot();
  BOOST_TEST((s.cumulative == std::vector<uint64_t>{2, 3, 4, 5}));
  BOOST_TEST(s.sum == 55.65, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(text_format)

BOOST_AUTO_TEST_CASE(families_get_one_help_and_type_and_escaped_labels) {
  MetricsWriter w;
  w.gauge("q_length", "Queue length.", {{"room", "lo\"gin"}}, 3);
  w.gauge("q_length", "Queue length.", {{"room", "b"}}, 0.5);
  std::string text = w.text();
  BOOST_TEST(text ==
             "# HELP q_length Queue length.\n# TYPE q_length gauge\n"
             "q_length{room=\"lo\\\"gin\"} 3\nq_length{room=\"b\"} 0.5\n");
}

BOOST_AUTO_TEST_CASE(histogram_lines_have_le_sum_and_count) {
  Histogram h({1});
  h.observe(0.5);
  h.observe(2);
  MetricsWriter w;
  w.histogram("d_seconds", "Durations.", {{"room", "a"}}, h.snapshot());
  std::string text = w.text();
  BOOST_TEST(text.find("d_seconds_bucket{room=\"a\",le=\"1\"} 1\n") != std::string::npos);
  BOOST_TEST(text.find("d_seconds_bucket{room=\"a\",le=\"+Inf\"} 2\n") != std::string::npos);
  BOOST_TEST(text.find("d_seconds_sum{room=\"a\"} 2.5\n") != std::string::npos);
  BOOST_TEST(text.find("d_seconds_count{room=\"a\"} 2\n") != std::string::npos);
  BOOST_TEST(text.find("# TYPE d_seconds histogram\n") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
