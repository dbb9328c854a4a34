#define BOOST_TEST_MODULE cache_store
#include "modules/cache/store.h"

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <list>
#include <random>
#include <thread>
#include <unordered_map>

#include "bench/cachesim/reference.h"
#include "proxy/common/handles.h"

using namespace pforte::modules::cache;
using pforte::bench::Lru;  // the references, shared with bench/cachesim
using pforte::bench::Zipf;

namespace {

std::shared_ptr<Entry> make_entry(const CacheKey& key, size_t body_size, char fill = 'b') {
  auto e = std::make_shared<Entry>();
  e->key = key.text;
  e->hash = key.hash;
  e->headers.add("content-type", "application/javascript; charset=utf-8");
  e->headers.add("cache-control", "public, max-age=3600");
  e->headers.compact();  // as the cache module keeps them
  e->body.assign(body_size, fill);
  return e;
}

std::shared_ptr<Entry> make_entry(const std::string& text, size_t body_size, char fill = 'b') {
  return make_entry(make_key(text), body_size, fill);
}

std::string url(uint64_t i) {
  return "https://schule.example/static/" + std::to_string(i) + ".js";
}

constexpr size_t kBodySize = 1000;

}  // namespace

BOOST_AUTO_TEST_CASE(inserted_entries_are_found_and_misses_counted) {
  Store store({.memory = 1 << 20, .max_object = 1 << 16, .shards = 4});
  auto key = make_key(url(1));
  BOOST_TEST(!store.find(key));
  BOOST_TEST((store.insert(make_entry(key, 100)) == Store::InsertResult::kStored));
  auto hit = store.find(key);
  BOOST_TEST(hit);
  BOOST_TEST(hit->body.size() == 100u);
  StoreStats s = store.stats();
  BOOST_TEST(s.hits == 1u);
  BOOST_TEST(s.misses == 1u);
  BOOST_TEST(s.inserts == 1u);
  BOOST_TEST(s.objects == 1u);
  BOOST_TEST(s.bytes == Store::charge(*hit));
}

BOOST_AUTO_TEST_CASE(insert_replaces_an_entry_with_the_same_key) {
  Store store({.memory = 1 << 20, .max_object = 1 << 16, .shards = 4});
  auto key = make_key(url(1));
  store.insert(make_entry(key, 100, 'a'));
  store.insert(make_entry(key, 200, 'z'));
  auto hit = store.find(key);
  BOOST_TEST(hit->body == std::string(200, 'z'));
  BOOST_TEST(store.stats().objects == 1u);
  BOOST_TEST(store.stats().bytes == Store::charge(*hit));
}

BOOST_AUTO_TEST_CASE(keys_with_equal_hashes_never_answer_for_each_other) {
  Store store({.memory = 1 << 20, .max_object = 1 << 16, .shards = 4});
  CacheKey a{url(1), 42};
  CacheKey b{url(2), 42};
  store.insert(make_entry(a, 10, 'a'));
  BOOST_TEST(!store.find(b));
  store.insert(make_entry(b, 10, 'b'));
  BOOST_TEST(store.find(a)->body == std::string(10, 'a'));
  BOOST_TEST(store.find(b)->body == std::string(10, 'b'));
  BOOST_TEST(store.purge(a));
  BOOST_TEST(!store.find(a));
  BOOST_TEST(store.find(b));
}

BOOST_AUTO_TEST_CASE(objects_above_max_object_are_not_stored) {
  Store store({.memory = 1 << 20, .max_object = 1000, .shards = 4});
  BOOST_TEST((store.insert(make_entry(url(1), 1000)) == Store::InsertResult::kStored));
  BOOST_TEST((store.insert(make_entry(url(2), 1001)) == Store::InsertResult::kTooLarge));
  BOOST_TEST(!store.find(make_key(url(2))));
  BOOST_TEST(store.stats().rejected == 1u);
  // An object that would not fit its shard's share is refused too, whatever max_object says.
  Store tiny({.memory = 4096, .max_object = 1 << 20, .shards = 4});
  BOOST_TEST((tiny.insert(make_entry(url(3), 2000)) == Store::InsertResult::kTooLarge));
}

BOOST_AUTO_TEST_CASE(charge_counts_key_headers_body_and_bookkeeping) {
  auto small = make_entry(url(1), 10);
  auto large = make_entry(url(1), 10'000);
  uint64_t payload = small->key.size() + small->body.size();
  for (const auto& f : small->headers) payload += f.name.size() + f.value.size();
  BOOST_TEST(Store::charge(*small) > payload + sizeof(Entry));
  BOOST_TEST(Store::charge(*large) - Store::charge(*small) >= 10'000u - 10u);
  // Bounded overhead: allocator rounding and bookkeeping, not a multiple of the body.
  BOOST_TEST(Store::charge(*large) < large->body.size() + 1024);
}

BOOST_AUTO_TEST_CASE(memory_never_exceeds_the_budget_under_random_inserts) {
  constexpr uint64_t kMemory = 256 * 1024;
  Store store({.memory = kMemory, .max_object = 16 * 1024, .shards = 16});
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<size_t> size(0, 20 * 1024);
  std::uniform_int_distribution<uint64_t> key(0, 3000);
  uint64_t peak = 0;
  for (int i = 0; i < 5'000; ++i) {
    uint64_t k = key(rng);
    if (!store.find(make_key(url(k)))) store.insert(make_entry(url(k), size(rng)));
    peak = std::max(peak, store.stats().bytes);
  }
  BOOST_TEST(peak <= kMemory);
  StoreStats s = store.stats();
  BOOST_TEST(s.evictions > 0u);
  BOOST_TEST(s.rejected > 0u);
  BOOST_TEST(s.bytes > kMemory / 2);  // and it is used, not left empty
}

BOOST_AUTO_TEST_CASE(purge_removes_an_exact_key_or_every_key_under_a_prefix) {
  Store store({.memory = 1 << 20, .max_object = 1 << 16, .shards = 4});
  for (int i = 0; i < 50; ++i) {
    store.insert(make_entry("https://a.example/static/" + std::to_string(i), 10));
    store.insert(make_entry("https://a.example/news/" + std::to_string(i), 10));
  }
  BOOST_TEST(store.purge(make_key("https://a.example/news/7")));
  BOOST_TEST(!store.purge(make_key("https://a.example/news/7")));
  BOOST_TEST(!store.find(make_key("https://a.example/news/7")));
  BOOST_TEST(store.purge_prefix("https://a.example/static/") == 50u);
  BOOST_TEST(!store.find(make_key("https://a.example/static/3")));
  BOOST_TEST(store.find(make_key("https://a.example/news/8")));
  BOOST_TEST(store.stats().objects == 49u);
}

BOOST_AUTO_TEST_CASE(an_evicted_entry_stays_valid_while_a_response_holds_it) {
  Store store({.memory = 64 * 1024, .max_object = 16 * 1024, .shards = 1});
  std::shared_ptr<const Entry> held = make_entry(url(0), 1000, 'h');
  store.insert(held);  // as a response being sent from it would hold it
  for (int i = 1; i < 500; ++i) store.insert(make_entry(url(i), 1000));
  BOOST_TEST(!store.find(make_key(url(0))));
  BOOST_TEST(held->body == std::string(1000, 'h'));
}

BOOST_AUTO_TEST_CASE(hits_are_served_by_reference_and_release_the_entry_when_sent) {
  Store store({.memory = 1 << 20, .max_object = 1 << 16, .shards = 4});
  auto e = make_entry(url(1), 0);
  e->body = "0123456789";
  store.insert(e);
  e.reset();
  auto hit = store.find(make_key(url(1)));
  long before = hit.use_count();
  pforte::EvbufferPtr out = pforte::make_evbuffer();
  BOOST_TEST(add_body_reference(out.get(), hit, 0, 10));
  BOOST_TEST(add_body_reference(out.get(), hit, 2, 3));
  BOOST_TEST(!add_body_reference(out.get(), hit, 8, 3));
  BOOST_TEST(hit.use_count() == before + 2);
  // The bytes in the evbuffer are the entry's own, not a copy.
  evbuffer_iovec vec[2];
  BOOST_TEST(evbuffer_peek(out.get(), -1, nullptr, vec, 2) == 2);
  BOOST_TEST(vec[0].iov_base == static_cast<const void*>(hit->body.data()));
  BOOST_TEST(vec[1].iov_base == static_cast<const void*>(hit->body.data() + 2));
  std::string sent(evbuffer_get_length(out.get()), '\0');
  evbuffer_copyout(out.get(), sent.data(), sent.size());
  BOOST_TEST(sent == "0123456789234");
  evbuffer_drain(out.get(), 10);
  BOOST_TEST(hit.use_count() == before + 1);
  out.reset();
  BOOST_TEST(hit.use_count() == before);
}

BOOST_AUTO_TEST_CASE(a_one_time_scan_does_not_evict_a_hot_set_that_keeps_being_hit) {
  // 500 objects fit. 100 hot objects are requested in rotation, one every 10 requests of a scan
  // of 5,000 new objects (10x the capacity): each hot object comes back after ~1,000 scan
  // objects, more than LRU can hold, so LRU loses them; S3-FIFO keeps them in main while the
  // scan passes through the small FIFO.
  uint64_t charge = Store::charge(*make_entry(url(0), kBodySize));
  uint64_t budget = charge * 500;
  Store store({.memory = budget, .max_object = 1 << 20, .shards = 1});
  Lru lru(budget);
  auto request = [&](const std::string& k, bool& s3_hit, bool& lru_hit) {
    s3_hit = store.find(make_key(k)) != nullptr;
    if (!s3_hit) store.insert(make_entry(k, kBodySize));
    lru_hit = lru.find(k);
    if (!lru_hit) lru.insert(k, charge);
  };
  bool a, b;
  for (int round = 0; round < 3; ++round) {  // warm: each hot object requested a few times
    for (int h = 0; h < 100; ++h) request(url(h), a, b);
  }
  int s3_hot_hits = 0, lru_hot_hits = 0, hot_requests = 0;
  for (int i = 0; i < 5'000; ++i) {
    request(url(1'000'000 + i), a, b);
    if (i % 10 == 0) {
      request(url(static_cast<uint64_t>(i / 10 % 100)), a, b);
      ++hot_requests;
      s3_hot_hits += a;
      lru_hot_hits += b;
    }
  }
  int resident = 0;
  for (int h = 0; h < 100; ++h) resident += store.find(make_key(url(h))) != nullptr;
  BOOST_TEST_MESSAGE("hot-set hits during the scan: S3-FIFO " << s3_hot_hits << "/" << hot_requests
                                                              << ", LRU " << lru_hot_hits << "/"
                                                              << hot_requests);
  BOOST_TEST(resident == 100);
  BOOST_TEST(s3_hot_hits >= hot_requests * 95 / 100);
  BOOST_TEST(lru_hot_hits <= hot_requests * 25 / 100);  // only before LRU filled up
}

BOOST_AUTO_TEST_CASE(s3fifo_beats_lru_on_zipf_traffic_with_a_scan) {
  // 10,000 objects, Zipf(1.0); the cache holds 5% of them. Warm-up, then a one-time scan of 10x
  // the capacity interleaved 1:1 with the Zipf traffic, then Zipf again. Hit ratios count the
  // Zipf requests from the start of the scan on.
  constexpr size_t kObjects = 10'000;
  constexpr size_t kCapacity = 500;
  uint64_t charge = Store::charge(*make_entry(url(0), kBodySize));
  Store store({.memory = charge * kCapacity, .max_object = 1 << 20, .shards = 1});
  Lru lru(charge * kCapacity);
  Zipf zipf(kObjects, 1.0, 12345);
  pforte::bench::SideBySide both(store, lru, charge,
                                 [](const std::string& k) { return make_entry(k, kBodySize); });
  auto request = [&](const std::string& k, bool count) { both.request(k, count); };
  for (int i = 0; i < 6'000; ++i) request(url(zipf.next()), false);
  for (size_t i = 0; i < 10 * kCapacity; ++i) {
    request(url(1'000'000 + i), false);
    request(url(zipf.next()), true);
  }
  for (int i = 0; i < 3'000; ++i) request(url(zipf.next()), true);
  double s3_ratio = both.store_ratio();
  double lru_ratio = both.lru_ratio();
  BOOST_TEST_MESSAGE("Zipf hit ratio through and after the scan: S3-FIFO " << s3_ratio << ", LRU "
                                                                           << lru_ratio);
  BOOST_TEST(s3_ratio > lru_ratio + 0.10);
}

BOOST_AUTO_TEST_CASE(four_threads_share_the_store_safely) {
  constexpr uint64_t kMemory = 512 * 1024;
  Store store({.memory = kMemory, .max_object = 8 * 1024, .shards = 16});
  // Boost.Test assertions are not thread-safe: workers count problems, the main thread checks.
  std::atomic<int> wrong_entry{0}, over_budget{0};
  auto worker = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<uint64_t> key(0, 800);
    std::uniform_int_distribution<size_t> size(0, 4 * 1024);
    pforte::EvbufferPtr out = pforte::make_evbuffer();
    for (int i = 0; i < 5'000; ++i) {
      uint64_t k = key(rng);
      CacheKey ck = make_key(url(k));
      if (auto hit = store.find(ck)) {
        // What a worker does with a hit: check it and send the body by reference.
        if (hit->key != ck.text || hit->body.find_first_not_of(hit->body[0]) != std::string::npos) {
          ++wrong_entry;
        }
        add_body_reference(out.get(), hit, 0, hit->body.size());
        if (evbuffer_get_length(out.get()) > 64 * 1024) {
          evbuffer_drain(out.get(), evbuffer_get_length(out.get()));
        }
      } else {
        store.insert(make_entry(ck, size(rng), static_cast<char>('a' + k % 26)));
      }
      if (i % 997 == 0) store.purge(make_key(url(key(rng))));
      if (i % 4999 == 0) store.purge_prefix("https://schule.example/static/1");
      if (i % 101 == 0 && store.stats().bytes > kMemory) ++over_budget;
    }
  };
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t) threads.emplace_back(worker, t + 1);
  for (auto& t : threads) t.join();
  BOOST_TEST(wrong_entry.load() == 0);
  BOOST_TEST(over_budget.load() == 0);
  StoreStats s = store.stats();
  BOOST_TEST(s.bytes <= kMemory);
  BOOST_TEST(s.hits + s.misses == 20'000u);
  BOOST_TEST(s.hits > 0u);
}
