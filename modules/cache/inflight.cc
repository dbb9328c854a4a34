#include "modules/cache/inflight.h"

namespace pforte::modules::cache {

Lease& Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    finish(FetchOutcome::kNotStored, nullptr);
    table_ = o.table_;
    key_ = std::move(o.key_);
    o.table_ = nullptr;
  }
  return *this;
}

size_t Lease::finish(FetchOutcome outcome, const std::shared_ptr<const Entry>& entry) {
  if (!table_) return 0;
  Inflight* table = table_;
  table_ = nullptr;
  return table->finish(key_, outcome, entry);
}

Inflight::Role Inflight::join(const CacheKey& key, WakeFn wake, Lease& lease) {
  Shard& s = shard(key);
  {
    std::lock_guard lock(s.mu);
    auto [it, created] = s.flights.try_emplace(key.text);
    if (!created) {
      if (it->second.waiters.size() >= max_waiters_) return Role::kFull;
      it->second.waiters.push_back(std::move(wake));
      return Role::kWaiter;
    }
  }
  lease = Lease(this, key);
  return Role::kLeader;
}

Lease Inflight::try_lead(const CacheKey& key) {
  Shard& s = shard(key);
  {
    std::lock_guard lock(s.mu);
    if (!s.flights.try_emplace(key.text).second) return Lease();
  }
  return Lease(this, key);
}

Inflight::Role Inflight::wait_if_running(const CacheKey& key, WakeFn wake) {
  Shard& s = shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.flights.find(key.text);
  if (it == s.flights.end() || it->second.waiters.size() >= max_waiters_) return Role::kFull;
  it->second.waiters.push_back(std::move(wake));
  return Role::kWaiter;
}

size_t Inflight::finish(const CacheKey& key, FetchOutcome outcome,
                        const std::shared_ptr<const Entry>& entry) {
  std::vector<WakeFn> waiters;
  {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    auto it = s.flights.find(key.text);
    if (it == s.flights.end()) return 0;
    waiters = std::move(it->second.waiters);
    s.flights.erase(it);
  }
  for (WakeFn& w : waiters) w(outcome, entry);
  return waiters.size();
}

size_t Inflight::running() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.flights.size();
  }
  return n;
}

size_t Inflight::waiters(const CacheKey& key) const {
  const Shard& s = shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.flights.find(key.text);
  return it == s.flights.end() ? 0 : it->second.waiters.size();
}

}  // namespace pforte::modules::cache
