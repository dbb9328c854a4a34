#include "modules/cache/store.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <list>
#include <mutex>
#include <unordered_map>

#include "proxy/common/heap_size.h"

namespace pforte::modules::cache {

namespace {

/// Heap bytes of a std::string (libstdc++ keeps up to 15 characters inline).
uint64_t heap_bytes(const std::string& s) {
  return s.capacity() > 15 ? allocation_bytes(s.capacity() + 1) : 0;
}

constexpr uint8_t kMaxFrequency = 3;

}  // namespace

class Store::Shard {
 public:
  explicit Shard(uint64_t budget) : budget_(budget), small_target_(budget / 10) {}

  std::shared_ptr<const Entry> find(const CacheKey& key) {
    std::lock_guard lock(mu_);
    auto it = index_.find(IndexKey{key.hash, key.text});
    if (it == index_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    Node& node = *it->second;
    if (node.freq < kMaxFrequency) ++node.freq;
    return node.entry;
  }

  /// Victims are handed back so they are freed after the lock is released.
  void insert(std::shared_ptr<const Entry> entry, uint64_t charge,
              std::vector<std::shared_ptr<const Entry>>& victims) {
    std::lock_guard lock(mu_);
    ++inserts_;
    IndexKey ikey{entry->hash, entry->key};
    bool to_main = false;
    uint8_t freq = 0;
    if (auto it = index_.find(ikey); it != index_.end()) {
      to_main = it->second->main;
      freq = it->second->freq;
      victims.push_back(unlink(it));
    } else if (auto g = ghost_.find(entry->hash); g != ghost_.end()) {
      to_main = true;  // seen recently and evicted too early: it has proven itself
      ghost_.erase(g);
    }
    List& list = to_main ? main_ : small_;
    list.push_front(Node{std::move(entry), charge, freq, to_main});
    (to_main ? main_bytes_ : small_bytes_) += charge;
    index_.emplace(IndexKey{list.front().entry->hash, list.front().entry->key}, list.begin());
    evict(victims);
  }

  bool purge(const CacheKey& key, std::vector<std::shared_ptr<const Entry>>& victims) {
    std::lock_guard lock(mu_);
    auto it = index_.find(IndexKey{key.hash, key.text});
    if (it == index_.end()) return false;
    victims.push_back(unlink(it));
    return true;
  }

  size_t purge_prefix(std::string_view prefix, std::vector<std::shared_ptr<const Entry>>& victims) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (auto it = index_.begin(); it != index_.end();) {
      if (it->first.text.starts_with(prefix)) {
        auto next = std::next(it);
        victims.push_back(unlink(it));
        it = next;
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  void add_stats(StoreStats& s) const {
    std::lock_guard lock(mu_);
    s.hits += hits_;
    s.misses += misses_;
    s.inserts += inserts_;
    s.evictions += evictions_;
    s.bytes += small_bytes_ + main_bytes_;
    s.objects += index_.size();
  }

  uint64_t budget() const { return budget_; }

 private:
  struct Node {
    std::shared_ptr<const Entry> entry;
    uint64_t charge = 0;
    uint8_t freq = 0;   ///< hits since it entered its queue (or since its last second chance)
    bool main = false;  ///< in the main FIFO, else in the small one
  };
  using List = std::list<Node>;  ///< front = newest, back = next to leave

  /// Views into the entry's own key: valid while the node holds the entry.
  struct IndexKey {
    uint64_t hash;
    std::string_view text;
  };
  struct IndexHash {
    size_t operator()(const IndexKey& k) const { return static_cast<size_t>(k.hash); }
  };
  struct IndexEq {
    bool operator()(const IndexKey& a, const IndexKey& b) const {
      return a.hash == b.hash && a.text == b.text;
    }
  };
  using Index = std::unordered_map<IndexKey, List::iterator, IndexHash, IndexEq>;

  /// Removes an indexed node from its queue and the index; returns its entry.
  std::shared_ptr<const Entry> unlink(Index::iterator it) {
    List::iterator node = it->second;
    index_.erase(it);
    std::shared_ptr<const Entry> entry = std::move(node->entry);
    (node->main ? main_bytes_ : small_bytes_) -= node->charge;
    (node->main ? main_ : small_).erase(node);
    return entry;
  }

  void evict(std::vector<std::shared_ptr<const Entry>>& victims) {
    while (small_bytes_ + main_bytes_ > budget_) {
      if (small_bytes_ > small_target_ || main_.empty()) {
        evict_small(victims);
      } else {
        evict_main(victims);
      }
    }
  }

  void evict_small(std::vector<std::shared_ptr<const Entry>>& victims) {
    assert(!small_.empty());
    auto tail = std::prev(small_.end());
    if (tail->freq > 0) {
      tail->freq = 0;
      tail->main = true;
      small_bytes_ -= tail->charge;
      main_bytes_ += tail->charge;
      main_.splice(main_.begin(), small_, tail);
      return;
    }
    uint64_t hash = tail->entry->hash;
    victims.push_back(unlink(index_.find(IndexKey{hash, tail->entry->key})));
    ++evictions_;
    remember(hash);
  }

  void evict_main(std::vector<std::shared_ptr<const Entry>>& victims) {
    auto tail = std::prev(main_.end());
    if (tail->freq > 0) {
      --tail->freq;
      main_.splice(main_.begin(), main_, tail);
      return;
    }
    victims.push_back(unlink(index_.find(IndexKey{tail->entry->hash, tail->entry->key})));
    ++evictions_;
  }

  /// Adds a hash to the ghost FIFO, which holds at most as many hashes as there are resident
  /// objects (each entry's charge includes one ghost slot). A hash that left the map early (it
  /// came back) may leave a stale FIFO slot behind; it only ages out.
  void remember(uint64_t hash) {
    ghost_fifo_.push_back(hash);
    ++ghost_[hash];
    size_t limit = std::max<size_t>(index_.size(), 16);
    while (ghost_fifo_.size() > limit) {
      uint64_t old = ghost_fifo_.front();
      ghost_fifo_.pop_front();
      if (auto g = ghost_.find(old); g != ghost_.end() && --g->second == 0) ghost_.erase(g);
    }
  }

  mutable std::mutex mu_;
  const uint64_t budget_;
  const uint64_t small_target_;
  Index index_;
  List small_;
  List main_;
  uint64_t small_bytes_ = 0;
  uint64_t main_bytes_ = 0;
  std::deque<uint64_t> ghost_fifo_;
  std::unordered_map<uint64_t, uint32_t> ghost_;  ///< hash -> slots in ghost_fifo_
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t inserts_ = 0;
  uint64_t evictions_ = 0;

 public:
  /// Bookkeeping bytes per entry: its queue node, its index node and bucket slot, its ghost slot
  /// (FIFO element and map node).
  static constexpr uint64_t kOverhead =
      allocation_bytes(sizeof(Node) + 2 * sizeof(void*)) +
      allocation_bytes(sizeof(IndexKey) + sizeof(List::iterator) + 2 * sizeof(void*)) +
      sizeof(void*) + sizeof(uint64_t) +
      allocation_bytes(sizeof(uint64_t) + sizeof(uint32_t) + 2 * sizeof(void*)) + sizeof(void*);
};

Store::Store(StoreOptions options) : options_(options) {
  if (options_.shards == 0) options_.shards = 1;
  uint64_t per_shard = options_.memory / options_.shards;
  shards_.reserve(options_.shards);
  for (size_t i = 0; i < options_.shards; ++i)
    shards_.push_back(std::make_unique<Shard>(per_shard));
}

Store::~Store() = default;

Store::Shard& Store::shard_for(uint64_t hash) {
  // The high bits: the index buckets use the low ones.
  return *shards_[(hash >> 32) % shards_.size()];
}

uint64_t Store::charge(const Entry& e) {
  // make_shared: the control block and the Entry in one allocation.
  uint64_t bytes = allocation_bytes(sizeof(Entry) + 2 * sizeof(void*) + sizeof(long));
  bytes += heap_bytes(e.key) + heap_bytes(e.body) + heap_bytes(e.body_br) + heap_bytes(e.body_gzip);
  bytes += allocation_bytes(e.vary.capacity() * sizeof(std::string));
  for (const std::string& v : e.vary) bytes += heap_bytes(v);
  bytes += e.headers.heap_bytes();
  return bytes + Shard::kOverhead;
}

std::shared_ptr<const Entry> Store::find(const CacheKey& key) {
  return shard_for(key.hash).find(key);
}

Store::InsertResult Store::insert(std::shared_ptr<const Entry> entry) {
  assert(entry);
  Shard& shard = shard_for(entry->hash);
  uint64_t bytes = charge(*entry);
  if (entry->body.size() > options_.max_object || bytes > shard.budget()) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return InsertResult::kTooLarge;
  }
  std::vector<std::shared_ptr<const Entry>> victims;
  shard.insert(std::move(entry), bytes, victims);
  return InsertResult::kStored;  // victims are freed here, outside the shard lock
}

bool Store::purge(const CacheKey& key) {
  std::vector<std::shared_ptr<const Entry>> victims;
  return shard_for(key.hash).purge(key, victims);
}

size_t Store::purge_prefix(std::string_view prefix) {
  size_t n = 0;
  for (auto& shard : shards_) {
    std::vector<std::shared_ptr<const Entry>> victims;
    n += shard->purge_prefix(prefix, victims);
  }
  return n;
}

StoreStats Store::stats() const {
  StoreStats s;
  for (const auto& shard : shards_) shard->add_stats(s);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  return s;
}

bool add_body_reference(evbuffer* out, const std::shared_ptr<const Entry>& entry, size_t offset,
                        size_t length) {
  return add_reference(out, entry, entry->body, offset, length);
}

bool add_reference(evbuffer* out, const std::shared_ptr<const Entry>& entry,
                   const std::string& body, size_t offset, size_t length) {
  if (offset > body.size() || length > body.size() - offset) return false;
  if (length == 0) return true;
  auto* keep = new std::shared_ptr<const Entry>(entry);
  auto release = [](const void*, size_t, void* arg) {
    delete static_cast<std::shared_ptr<const Entry>*>(arg);
  };
  if (evbuffer_add_reference(out, body.data() + offset, length, release, keep) != 0) {
    delete keep;
    return false;
  }
  return true;
}

}  // namespace pforte::modules::cache
