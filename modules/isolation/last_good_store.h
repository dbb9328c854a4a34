// The last good copy of each ESI include, by include URL: what a page shows in place of a
// fragment that is late or failed. Bounded in entries and bytes (least recently used goes first);
// a fragment larger than the per-entry limit is not kept. Copies never expire: an old fragment
// beats an empty box, and a fresh one replaces it at the next success.
//
// Shared by all workers (in the fragments module's ModuleShared, kept across reloads): every
// member function takes a small mutex for a map update, never across I/O.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pforte::modules::isolation {

class LastGoodStore {
 public:
  LastGoodStore(size_t max_entries, size_t max_bytes, size_t max_entry_bytes);
  LastGoodStore(const LastGoodStore&) = delete;
  LastGoodStore& operator=(const LastGoodStore&) = delete;

  /// Keeps `body` as the last good copy of `key`, replacing an older one. Ignored if the body is
  /// over the per-entry limit.
  void put(std::string_view key, std::string body);
  /// The last good copy of `key`, or null. Marks it recently used.
  std::shared_ptr<const std::string> get(std::string_view key);

  size_t entries() const;
  size_t bytes() const;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const std::string> body;
  };
  void evict();  // lock held

  const size_t max_entries_;
  const size_t max_bytes_;
  const size_t max_entry_bytes_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  ///< most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  ///< keys view lru_
  size_t bytes_ = 0;
};

}  // namespace pforte::modules::isolation
