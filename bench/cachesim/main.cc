// pforte-cachesim: hit ratio of the real cache store (modules/cache/store.h, S3-FIFO) against a
// plain LRU of the same byte capacity, on Zipf-distributed traffic with one-off scans mixed in.
// Used by bench/cache.sh; see bench/RESULTS.md.
//
//   pforte-cachesim [--objects N] [--requests N] [--body BYTES] [--seed S]
//
// For each alpha (0.8, 1.0), capacity (1%, 5%, 10% of the objects) and shard count (1, 16):
//   zipf       Zipf traffic only: `requests` counted requests after a warm-up of as many;
//   zipf+scan  the same warm-up, then a one-time scan of 10x the capacity in new keys,
//              interleaved 1:1 with the Zipf traffic; the hit ratio counts the Zipf requests
//              during the scan (the scan's own requests miss in both policies and are not
//              counted).
// Both policies see the same key stream and charge every object Store::charge() bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/cachesim/reference.h"
#include "modules/cache/store.h"

using pforte::bench::Lru;
using pforte::bench::Zipf;
using pforte::modules::cache::CacheKey;
using pforte::modules::cache::Entry;
using pforte::modules::cache::make_key;
using pforte::modules::cache::Store;

namespace {

std::string url(uint64_t i) {
  return "https://schule.example/static/" + std::to_string(i) + ".js";
}

std::shared_ptr<Entry> make_entry(const std::string& text, size_t body_size) {
  CacheKey key = make_key(text);
  auto e = std::make_shared<Entry>();
  e->key = key.text;
  e->hash = key.hash;
  e->headers.add("content-type", "application/javascript; charset=utf-8");
  e->headers.add("cache-control", "public, max-age=3600");
  e->body.assign(body_size, 'b');
  return e;
}

struct Options {
  size_t objects = 100'000;
  size_t requests = 400'000;  ///< warm-up length, and the Zipf requests after the scan
  size_t body = 1000;
  uint64_t seed = 12345;
};

struct Ratios {
  double s3 = 0;
  double lru = 0;
};

Ratios simulate(const Options& o, double alpha, size_t capacity, size_t shards, bool scan) {
  uint64_t charge = Store::charge(*make_entry(url(0), o.body));
  Store store({.memory = charge * capacity, .max_object = 1 << 20, .shards = shards});
  Lru lru(charge * capacity);
  Zipf zipf(o.objects, alpha, o.seed);
  pforte::bench::SideBySide both(store, lru, charge,
                                 [&o](const std::string& k) { return make_entry(k, o.body); });
  auto request = [&](const std::string& k, bool count) { both.request(k, count); };
  for (size_t i = 0; i < o.requests; ++i) request(url(zipf.next()), false);
  if (scan) {  // count the Zipf requests while the scan passes through
    for (size_t i = 0; i < 10 * capacity; ++i) {
      request(url(o.objects + 1'000'000 + i), false);
      request(url(zipf.next()), true);
    }
  } else {
    for (size_t i = 0; i < o.requests; ++i) request(url(zipf.next()), true);
  }
  return {both.store_ratio(), both.lru_ratio()};
}

bool parse_size(const char* text, size_t& out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || v == 0) return false;
  out = static_cast<size_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {  // every option takes a value
    size_t v = 0;
    bool has_value = i + 1 < argc && parse_size(argv[i + 1], v);
    if (std::strcmp(argv[i], "--objects") == 0 && has_value) {
      o.objects = v;
    } else if (std::strcmp(argv[i], "--requests") == 0 && has_value) {
      o.requests = v;
    } else if (std::strcmp(argv[i], "--body") == 0 && has_value) {
      o.body = v;
    } else if (std::strcmp(argv[i], "--seed") == 0 && has_value) {
      o.seed = v;
    } else {
      std::fprintf(stderr,
                   "usage: pforte-cachesim [--objects N] [--requests N] [--body BYTES] "
                   "[--seed S]\n");
      return 2;
    }
  }
  std::printf("# %zu objects of %zu body bytes (%llu bytes charged each), warm-up %zu requests\n",
              o.objects, o.body,
              static_cast<unsigned long long>(Store::charge(*make_entry(url(0), o.body))),
              o.requests);
  std::printf("alpha\tcapacity_pct\tshards\tworkload\ts3fifo\tlru\tdiff\n");
  for (double alpha : {0.8, 1.0}) {
    for (size_t pct : {1, 5, 10}) {
      size_t capacity = o.objects * pct / 100;
      for (size_t shards : {1, 16}) {
        for (bool scan : {false, true}) {
          Ratios r = simulate(o, alpha, capacity, shards, scan);
          std::printf("%.1f\t%zu\t%zu\t%s\t%.4f\t%.4f\t%+.4f\n", alpha, pct, shards,
                      scan ? "zipf+scan" : "zipf", r.s3, r.lru, r.s3 - r.lru);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
