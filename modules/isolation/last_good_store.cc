#include "modules/isolation/last_good_store.h"

namespace pforte::modules::isolation {

LastGoodStore::LastGoodStore(size_t max_entries, size_t max_bytes, size_t max_entry_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes), max_entry_bytes_(max_entry_bytes) {}

void LastGoodStore::put(std::string_view key, std::string body) {
  if (body.size() > max_entry_bytes_ || body.size() + key.size() > max_bytes_) return;
  auto shared = std::make_shared<const std::string>(std::move(body));
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->key.size() + it->second->body->size();
    lru_.splice(lru_.begin(), lru_, it->second);
    it->second->body = std::move(shared);
  } else {
    lru_.push_front(Entry{std::string(key), std::move(shared)});
    index_.emplace(lru_.front().key, lru_.begin());
  }
  bytes_ += lru_.front().key.size() + lru_.front().body->size();
  evict();
}

std::shared_ptr<const std::string> LastGoodStore::get(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->body;
}

void LastGoodStore::evict() {
  while (lru_.size() > 1 && (lru_.size() > max_entries_ || bytes_ > max_bytes_)) {
    Entry& last = lru_.back();
    bytes_ -= last.key.size() + last.body->size();
    index_.erase(last.key);
    lru_.pop_back();
  }
}

size_t LastGoodStore::entries() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

size_t LastGoodStore::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace pforte::modules::isolation
