// Request coalescing: at most one upstream fetch per cache key at a time. The first request that
// needs the upstream for a key becomes its leader (it holds a Lease); later requests for the same
// key join as waiters and are woken when the leader is done, with how it went. Waiters decide
// themselves what to do then (look the key up again, serve a stale copy, or go upstream).
//
// The table is shared by all workers: 16 shards with one mutex each, held only to add or take
// waiters, never while a waiter is woken. A waiter is a callback that must be safe to call from
// any thread; the cache module's waiters post to their own worker (WorkerServices::post).
//
// Thread affinity: any thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "modules/cache/key.h"

namespace pforte::modules::cache {

struct Entry;

/// How a leader's fetch ended, as its waiters learn it.
enum class FetchOutcome : uint8_t {
  kStored,     ///< a response was stored (or a stored one refreshed): look the key up again
  kNotStored,  ///< the response could not be stored (or the leader went away): go upstream
  kFailed,     ///< the upstream failed or answered 5xx: a stale copy may be served
};

/// Called once when the leader is done. Any thread; must not block.
using WakeFn = std::function<void(FetchOutcome, const std::shared_ptr<const Entry>&)>;

class Inflight;

/// The leadership of one key. Finishing (or destroying) it wakes the waiters. Movable.
class Lease {
 public:
  Lease() = default;
  Lease(Inflight* table, CacheKey key) : table_(table), key_(std::move(key)) {}
  Lease(Lease&& o) noexcept : table_(o.table_), key_(std::move(o.key_)) { o.table_ = nullptr; }
  Lease& operator=(Lease&& o) noexcept;
  ~Lease() { finish(FetchOutcome::kNotStored, nullptr); }

  bool active() const { return table_ != nullptr; }
  const CacheKey& key() const { return key_; }
  /// Ends the leadership and wakes every waiter with `outcome`. Idempotent; returns how many
  /// waiters were woken.
  size_t finish(FetchOutcome outcome, const std::shared_ptr<const Entry>& entry);

 private:
  Inflight* table_ = nullptr;
  CacheKey key_;
};

class Inflight {
 public:
  /// Beyond this many waiters a key takes no more; later requests go upstream themselves.
  static constexpr size_t kDefaultMaxWaiters = 10'000;

  explicit Inflight(size_t max_waiters = kDefaultMaxWaiters) : max_waiters_(max_waiters) {}
  Inflight(const Inflight&) = delete;
  Inflight& operator=(const Inflight&) = delete;

  enum class Role : uint8_t {
    kLeader,  ///< no fetch was running: the caller leads (see `lease`)
    kWaiter,  ///< `wake` will be called once the leader is done
    kFull,    ///< a fetch is running but has too many waiters: go upstream alone
  };
  /// Joins the fetch for `key`, or starts leading it when none runs (`lease` is then set).
  /// `wake` is kept only for kWaiter.
  Role join(const CacheKey& key, WakeFn wake, Lease& lease);
  /// Starts leading `key` if no fetch runs for it (e.g. a background refresh); else an inactive
  /// lease.
  Lease try_lead(const CacheKey& key);
  /// Joins only if a fetch is running (kFull also when none runs, i.e. "go alone").
  Role wait_if_running(const CacheKey& key, WakeFn wake);

  /// Keys with a fetch running (for tests and the status page).
  size_t running() const;
  /// Waiters of `key`.
  size_t waiters(const CacheKey& key) const;

 private:
  friend class Lease;
  struct Flight {
    std::vector<WakeFn> waiters;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Flight> flights;
  };
  static constexpr size_t kShards = 16;
  Shard& shard(const CacheKey& key) { return shards_[key.hash % kShards]; }
  const Shard& shard(const CacheKey& key) const { return shards_[key.hash % kShards]; }
  /// Removes the flight and wakes its waiters (outside the lock).
  size_t finish(const CacheKey& key, FetchOutcome outcome,
                const std::shared_ptr<const Entry>& entry);

  size_t max_waiters_;
  std::array<Shard, kShards> shards_;
};

}  // namespace pforte::modules::cache
