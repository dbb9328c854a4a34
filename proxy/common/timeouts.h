// Timeouts for libevent. Durations from the config become "common timeouts": libevent keeps all
// timers of one duration in a queue (O(1) add and delete) instead of its heap, which matters when
// every request re-arms several timers.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "proxy/common/units.h"

namespace pforte {

inline timeval to_timeval(Millis ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

/// Per event_base cache of common timeouts. Worker thread only.
class CommonTimeouts {
 public:
  explicit CommonTimeouts(event_base* base) : base_(base) {}

  /// A timeval to pass to event_add / bufferevent_set_timeouts for `ms`; valid while the base
  /// lives. Falls back to a plain timeval if libevent refuses (it allows 256 durations per base).
  const timeval* get(Millis ms) {
    for (const auto& [d, tv] : cache_) {
      if (d == ms.count()) return tv;
    }
    timeval plain = to_timeval(ms);
    const timeval* tv = event_base_init_common_timeout(base_, &plain);
    if (!tv) {
      fallback_.push_back(plain);  // a deque: addresses stay valid as it grows
      tv = &fallback_.back();
    }
    cache_.emplace_back(ms.count(), tv);
    return tv;
  }

 private:
  event_base* base_;
  std::vector<std::pair<int64_t, const timeval*>> cache_;
  std::deque<timeval> fallback_;
};

}  // namespace pforte
