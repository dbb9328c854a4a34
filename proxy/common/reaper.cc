#include "proxy/common/reaper.h"

#include <utility>

namespace pforte {

Reaper::Reaper(event_base* base) : event_(evtimer_new(base, &Reaper::on_timer, this)) {}

Reaper::~Reaper() {
  flush();
}

void Reaper::defer(std::shared_ptr<void> object) {
  if (object) push(Entry{std::move(object), nullptr, nullptr});
}

void Reaper::push(Entry entry) {
  pending_.push_back(std::move(entry));
  if (!armed_) {
    armed_ = true;
    timeval zero{0, 0};
    evtimer_add(event_.get(), &zero);
  }
}

void Reaper::flush() {
  // Releasing may defer more objects (an exchange releasing an upstream connection): they go to
  // pending_, which is then released in the next round. A flush from inside a release is left to
  // the one running.
  if (flushing_) return;
  flushing_ = true;
  while (!pending_.empty()) {
    releasing_.swap(pending_);
    for (Entry& e : releasing_) {
      if (e.owned) e.destroy(e.owned);
      e.shared.reset();
    }
    releasing_.clear();
  }
  flushing_ = false;
}

void Reaper::on_timer(evutil_socket_t, short, void* self) {
  auto* reaper = static_cast<Reaper*>(self);
  reaper->armed_ = false;
  reaper->flush();
}

}  // namespace pforte
