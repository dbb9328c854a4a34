#define BOOST_TEST_MODULE isolation_bulkhead
#include "modules/isolation/bulkhead.h"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>
#include <vector>

using pforte::modules::isolation::Bulkhead;

BOOST_AUTO_TEST_CASE(admits_up_to_max_connections) {
  Bulkhead b(2, 1);
  auto g1 = b.try_acquire();
  auto g2 = b.try_acquire();
  BOOST_TEST(g1.has_value());
  BOOST_TEST(g2.has_value());
  BOOST_TEST(!b.try_acquire().has_value());
  BOOST_TEST(b.in_flight() == 2u);
}

BOOST_AUTO_TEST_CASE(a_released_guard_frees_its_place) {
  Bulkhead b(1, 0);
  {
    auto g = b.try_acquire();
    BOOST_TEST(!b.try_acquire().has_value());
  }
  BOOST_TEST(b.in_flight() == 0u);
  auto g = b.try_acquire();
  BOOST_REQUIRE(g.has_value());
  g->release();  // early
  BOOST_TEST(b.in_flight() == 0u);
  g.reset();  // and once only
  BOOST_TEST(b.in_flight() == 0u);
}

BOOST_AUTO_TEST_CASE(beyond_max_connections_requests_may_wait_up_to_max_pending) {
  Bulkhead b(1, 2);
  auto busy = b.try_acquire();
  BOOST_REQUIRE(!b.try_acquire().has_value());
  auto w1 = b.try_enqueue();
  auto w2 = b.try_enqueue();
  BOOST_TEST(w1.has_value());
  BOOST_TEST(w2.has_value());
  BOOST_TEST(b.pending() == 2u);
  BOOST_TEST(!b.try_enqueue().has_value());  // full: answer at once
  // The first waiter gets the place when it comes free, and leaves the queue.
  busy.reset();
  auto admitted = b.try_acquire();
  BOOST_TEST(admitted.has_value());
  w1.reset();
  BOOST_TEST(b.pending() == 1u);
  BOOST_TEST(b.try_enqueue().has_value());
}

BOOST_AUTO_TEST_CASE(a_moved_guard_gives_its_place_back_once) {
  Bulkhead b(2, 0);
  {
    auto g = b.try_acquire();
    Bulkhead::Guard moved = std::move(*g);
    BOOST_TEST(b.in_flight() == 1u);
    auto other = b.try_acquire();
    *other = std::move(moved);  // `other`'s own place is given back
    BOOST_TEST(b.in_flight() == 1u);
  }
  BOOST_TEST(b.in_flight() == 0u);
}

BOOST_AUTO_TEST_CASE(new_limits_apply_to_new_requests) {
  Bulkhead b(3, 0);
  auto g1 = b.try_acquire();
  auto g2 = b.try_acquire();
  b.set_limits(1, 1);
  BOOST_TEST(!b.try_acquire().has_value());  // the two in flight finish normally
  BOOST_TEST(b.try_enqueue().has_value());
  g1.reset();
  g2.reset();
  BOOST_TEST(b.try_acquire().has_value());
}

BOOST_AUTO_TEST_CASE(zero_limits_admit_nothing) {
  Bulkhead b(0, 0);
  BOOST_TEST(!b.try_acquire().has_value());
  BOOST_TEST(!b.try_enqueue().has_value());
}

BOOST_AUTO_TEST_CASE(workers_sharing_it_never_exceed_the_limit) {
  Bulkhead b(3, 0);
  std::atomic<uint32_t> inside{0};
  std::atomic<uint32_t> most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        auto g = b.try_acquire();
        if (!g) continue;
        uint32_t now = ++inside;
        uint32_t seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --inside;
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(most.load() <= 3u);
  BOOST_TEST(b.in_flight() == 0u);
}
