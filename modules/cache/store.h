// The in-memory object store shared by all workers.
//
// Sharded by key hash (16 shards by default); each shard has its own mutex, held only for the
// index lookup, insert and eviction bookkeeping — never across I/O, never while an evicted
// object is freed. Entries are immutable and reference-counted (std::shared_ptr<const Entry>): a
// worker serving a hit holds its own reference, so eviction, replacement or a purge never pulls
// a body from under a response in flight.
//
// Memory: every entry is charged the bytes it really occupies (key, header fields, body, the
// Entry itself, allocator rounding, and the index, queue and ghost bookkeeping it causes) against
// `memory`, split evenly between the shards; a shard evicts until it is within its share, so the
// store never holds more than `memory`. Entries still referenced by responses in flight after
// eviction are no longer counted; they live only as long as those responses.
//
// Eviction: S3-FIFO per shard (Yang et al., SOSP 2023). New objects enter a small FIFO (~10% of
// the shard); an object hit while there moves to the main FIFO when it reaches the tail,
// otherwise it leaves and its hash goes to a ghost FIFO. An object inserted while its hash is in
// the ghost goes straight to main. Main is a FIFO with up to three second chances (a 2-bit
// frequency counter). A one-time scan passes through the small FIFO without disturbing main.
//
// Thread affinity: any thread.
#pragma once

#include <event2/buffer.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "modules/cache/key.h"
#include "modules/cache/policy.h"
#include "proxy/http/headers.h"

namespace pforte::modules::cache {

/// One stored response (or Vary marker). Immutable once inserted.
struct Entry {
  std::string key;    ///< the full key text (CacheKey::text)
  uint64_t hash = 0;  ///< CacheKey::hash
  /// True for the entry under a primary key whose response has Vary: it holds only `vary`; the
  /// response itself is stored under variant_key(primary, vary, request).
  bool vary_marker = false;
  std::vector<std::string> vary;  ///< the Vary field names (parse_vary)
  int status = 200;
  http::Headers headers;  ///< as stored (headers_to_store): no Set-Cookie
  std::string body;       ///< the complete body; served by reference (add_body_reference)
  /// The body compressed once at store time for text types the upstream sent uncompressed
  /// (compress.h); empty when not worth it. Served by reference like `body`.
  std::string body_br;
  std::string body_gzip;
  Freshness freshness;  ///< age and lifetime bookkeeping
};

/// The `[cache]` section, as the store needs it.
struct StoreOptions {
  uint64_t memory = 512ull << 20;     ///< the whole store's budget, in bytes
  uint64_t max_object = 16ull << 20;  ///< larger bodies are not stored
  size_t shards = 16;
};

/// Counters summed over all shards.
struct StoreStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t inserts = 0;
  uint64_t evictions = 0;  ///< removed to make room (not purges, not replacements)
  uint64_t rejected = 0;   ///< too large to store
  uint64_t bytes = 0;      ///< charged bytes of resident entries
  uint64_t objects = 0;    ///< resident entries
};

class Store {
 public:
  explicit Store(StoreOptions options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// The entry stored under `key`, or null. Counts a hit or a miss and raises the entry's
  /// frequency (capped at 3).
  std::shared_ptr<const Entry> find(const CacheKey& key);

  enum class InsertResult : uint8_t { kStored, kTooLarge };
  /// Stores `entry` under (entry->key, entry->hash), replacing an entry with the same key (the
  /// replacement keeps its place and frequency), then evicts until the shard is within budget.
  InsertResult insert(std::shared_ptr<const Entry> entry);

  /// Removes the entry with exactly this key. True if there was one.
  bool purge(const CacheKey& key);
  /// Removes every entry whose key starts with `prefix` (walks all shards). Returns how many.
  size_t purge_prefix(std::string_view prefix);

  StoreStats stats() const;
  const StoreOptions& options() const { return options_; }

  /// The bytes `entry` is charged: everything it owns plus the store's bookkeeping for it.
  static uint64_t charge(const Entry& entry);

 private:
  class Shard;
  Shard& shard_for(uint64_t hash);

  StoreOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> rejected_{0};
};

/// Appends entry->body[offset, offset + length) to `out` without copying it
/// (evbuffer_add_reference). The evbuffer holds a std::shared_ptr to the entry until it releases
/// those bytes (sent, drained or freed), so the body outlives any eviction. The release may
/// happen on whichever thread frees the data; dropping a shared_ptr is safe there. False (and
/// nothing appended) if the range is outside the body or libevent fails.
bool add_body_reference(evbuffer* out, const std::shared_ptr<const Entry>& entry, size_t offset,
                        size_t length);

/// Same for `data`, a string the entry owns (body, body_br or body_gzip).
bool add_reference(evbuffer* out, const std::shared_ptr<const Entry>& entry,
                   const std::string& data, size_t offset, size_t length);

}  // namespace pforte::modules::cache
