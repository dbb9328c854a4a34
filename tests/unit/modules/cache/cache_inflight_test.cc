#define BOOST_TEST_MODULE cache_inflight
#include "modules/cache/inflight.h"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <thread>
#include <vector>

using namespace pforte::modules::cache;

namespace {

struct Woken {
  std::vector<FetchOutcome> outcomes;
  WakeFn fn() {
    return [this](FetchOutcome o, const std::shared_ptr<const Entry>&) { outcomes.push_back(o); };
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(first_request_leads_later_ones_wait) {
  Inflight table;
  CacheKey key = make_key("http://a/x");
  Woken woken;
  Lease lead;
  BOOST_TEST((table.join(key, woken.fn(), lead) == Inflight::Role::kLeader));
  BOOST_TEST(lead.active());
  Lease other;
  BOOST_TEST((table.join(key, woken.fn(), other) == Inflight::Role::kWaiter));
  BOOST_TEST((table.join(key, woken.fn(), other) == Inflight::Role::kWaiter));
  BOOST_TEST(!other.active());
  BOOST_TEST(table.waiters(key) == 2u);
  BOOST_TEST(lead.finish(FetchOutcome::kStored, nullptr) == 2u);
  BOOST_TEST(woken.outcomes.size() == 2u);
  BOOST_TEST((woken.outcomes[0] == FetchOutcome::kStored));
  BOOST_TEST(table.running() == 0u);
  // Finishing twice wakes nobody.
  BOOST_TEST(lead.finish(FetchOutcome::kStored, nullptr) == 0u);
}

BOOST_AUTO_TEST_CASE(dropped_lease_lets_waiters_go_upstream) {
  Inflight table;
  CacheKey key = make_key("http://a/x");
  Woken woken;
  {
    Lease lead;
    table.join(key, woken.fn(), lead);
    Lease none;
    table.join(key, woken.fn(), none);
  }
  BOOST_TEST(woken.outcomes.size() == 1u);
  BOOST_TEST((woken.outcomes[0] == FetchOutcome::kNotStored));
  Lease again;
  BOOST_TEST((table.join(key, woken.fn(), again) == Inflight::Role::kLeader));
}

BOOST_AUTO_TEST_CASE(waiters_are_bounded) {
  Inflight table(2);
  CacheKey key = make_key("http://a/x");
  Woken woken;
  Lease lead;
  Lease none;
  table.join(key, woken.fn(), lead);
  BOOST_TEST((table.join(key, woken.fn(), none) == Inflight::Role::kWaiter));
  BOOST_TEST((table.join(key, woken.fn(), none) == Inflight::Role::kWaiter));
  BOOST_TEST((table.join(key, woken.fn(), none) == Inflight::Role::kFull));
  BOOST_TEST((table.wait_if_running(key, woken.fn()) == Inflight::Role::kFull));
}

BOOST_AUTO_TEST_CASE(keys_are_independent) {
  Inflight table;
  Woken woken;
  Lease a;
  Lease b;
  BOOST_TEST((table.join(make_key("http://a/1"), woken.fn(), a) == Inflight::Role::kLeader));
  BOOST_TEST((table.join(make_key("http://a/2"), woken.fn(), b) == Inflight::Role::kLeader));
  BOOST_TEST(table.running() == 2u);
}

BOOST_AUTO_TEST_CASE(try_lead_and_wait_if_running) {
  Inflight table;
  CacheKey key = make_key("http://a/x");
  Woken woken;
  BOOST_TEST((table.wait_if_running(key, woken.fn()) == Inflight::Role::kFull));
  Lease lead = table.try_lead(key);
  BOOST_TEST(lead.active());
  BOOST_TEST(!table.try_lead(key).active());
  BOOST_TEST((table.wait_if_running(key, woken.fn()) == Inflight::Role::kWaiter));
  lead.finish(FetchOutcome::kFailed, nullptr);
  BOOST_TEST((woken.outcomes.at(0) == FetchOutcome::kFailed));
}

BOOST_AUTO_TEST_CASE(moved_lease_finishes_once) {
  Inflight table;
  CacheKey key = make_key("http://a/x");
  Woken woken;
  Lease lead = table.try_lead(key);
  table.wait_if_running(key, woken.fn());
  Lease moved = std::move(lead);
  BOOST_TEST(!lead.active());
  moved = Lease();
  BOOST_TEST(woken.outcomes.size() == 1u);
}

BOOST_AUTO_TEST_CASE(one_leader_among_many_threads) {
  Inflight table;
  CacheKey key = make_key("http://a/contended");
  std::atomic<int> leaders{0};
  std::atomic<int> woken{0};
  std::vector<Lease> leases(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        Lease l;
        auto role = table.join(
            key, [&](FetchOutcome, const std::shared_ptr<const Entry>&) { ++woken; }, l);
        if (role == Inflight::Role::kLeader) {
          ++leaders;
          if (i == 999) leases[t] = std::move(l);  // keep the last one running
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& l : leases) l.finish(FetchOutcome::kStored, nullptr);
  // Every join either led or was woken exactly once.
  BOOST_TEST(leaders.load() + woken.load() == 8000);
  BOOST_TEST(table.running() == 0u);
}
