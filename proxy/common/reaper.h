// Deferred destruction on an event loop. Objects whose methods are on the stack (a session inside
// its own bufferevent callback, an exchange inside an upstream callback) are handed to the reaper
// and destroyed on the next loop iteration, never synchronously. Worker thread only.
#pragma once

#include <event2/event.h>

#include <memory>
#include <vector>

#include "proxy/common/handles.h"

namespace pforte {

class Reaper {
 public:
  explicit Reaper(event_base* base);
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  ~Reaper();

  /// Keeps `object` alive until the next loop iteration, then releases it.
  void defer(std::shared_ptr<void> object);
  /// The same for a sole owner, without the allocation a shared_ptr would need.
  template <typename T>
  void defer(std::unique_ptr<T> object) {
    if (object) push(Entry{nullptr, object.release(), [](void* p) { delete static_cast<T*>(p); }});
  }
  /// Releases everything deferred so far (at shutdown).
  void flush();

 private:
  struct Entry {
    std::shared_ptr<void> shared;
    void* owned = nullptr;
    void (*destroy)(void*) = nullptr;  ///< deletes `owned`
  };
  void push(Entry entry);
  static void on_timer(evutil_socket_t, short, void* self);
  EventPtr event_;
  bool armed_ = false;
  bool flushing_ = false;
  std::vector<Entry> pending_;
  std::vector<Entry> releasing_;  ///< keeps its capacity between turns
};

}  // namespace pforte
