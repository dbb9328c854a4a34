// Reference pieces for judging the cache store's eviction: a plain LRU with a byte budget, a
// Zipf key generator, and a driver that feeds the real store and the LRU the same requests.
// Used by bench/cachesim (pforte-cachesim) and the store's unit tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <list>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "modules/cache/store.h"

namespace pforte::bench {

/// Plain LRU over string keys, each charged a given number of bytes against the budget.
class Lru {
 public:
  explicit Lru(uint64_t budget) : budget_(budget) {}
  bool find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    return true;
  }
  void insert(const std::string& key, uint64_t charge) {
    order_.push_front({key, charge});
    index_[key] = order_.begin();
    bytes_ += charge;
    while (bytes_ > budget_) {
      bytes_ -= order_.back().second;
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  using Order = std::list<std::pair<std::string, uint64_t>>;
  uint64_t budget_;
  uint64_t bytes_ = 0;
  Order order_;
  std::unordered_map<std::string, Order::iterator> index_;
};

/// Zipf-distributed ranks 0..n-1 (rank 0 most popular), by inverse CDF.
class Zipf {
 public:
  Zipf(size_t n, double alpha, uint64_t seed) : rng_(seed) {
    cdf_.reserve(n);
    double sum = 0;
    for (size_t i = 1; i <= n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i), alpha);
      cdf_.push_back(sum);
    }
    for (double& c : cdf_) c /= sum;
  }
  size_t next() {
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return std::min(static_cast<size_t>(it - cdf_.begin()), cdf_.size() - 1);
  }

 private:
  std::mt19937_64 rng_;
  std::vector<double> cdf_;
};

/// Requests keys from a Store and an Lru side by side; a miss inserts into the one that missed
/// (`make(key)` builds the store's entry, charged `charge` bytes in the LRU). Counts the hits of
/// the requests marked as counted.
template <class MakeEntry>
class SideBySide {
 public:
  SideBySide(modules::cache::Store& store, Lru& lru, uint64_t charge, MakeEntry make)
      : store_(store), lru_(lru), charge_(charge), make_(std::move(make)) {}
  void request(const std::string& key, bool count) {
    bool s3 = store_.find(modules::cache::make_key(key)) != nullptr;
    if (!s3) store_.insert(make_(key));
    bool l = lru_.find(key);
    if (!l) lru_.insert(key, charge_);
    if (count) {
      ++counted_;
      store_hits_ += s3;
      lru_hits_ += l;
    }
  }
  double store_ratio() const { return ratio(store_hits_); }
  double lru_ratio() const { return ratio(lru_hits_); }

 private:
  double ratio(uint64_t hits) const {
    return counted_ ? static_cast<double>(hits) / static_cast<double>(counted_) : 0.0;
  }
  modules::cache::Store& store_;
  Lru& lru_;
  uint64_t charge_;
  MakeEntry make_;
  uint64_t store_hits_ = 0, lru_hits_ = 0, counted_ = 0;
};

}  // namespace pforte::bench
