#include "proxy/common/reaper.h"

namespace pforte {

Reaper::Reaper(event_base* base) : event_(evtimer_new(base, &Reaper::on_timer, this)) {}

Reaper::~Reaper() {
  flush();
}

void Reaper::defer(std::shared_ptr<void> object) {
  pending_.push_back(std::move(object));
  if (!armed_) {
    armed_ = true;
    timeval zero{0, 0};
    evtimer_add(event_.get(), &zero);
  }
}

void Reaper::flush() {
  // Releasing may defer more objects (an exchange releasing an upstream connection): loop.
  while (!pending_.empty()) {
    std::vector<std::shared_ptr<void>> batch;
    batch.swap(pending_);
    batch.clear();
  }
}

void Reaper::on_timer(evutil_socket_t, short, void* self) {
  auto* reaper = static_cast<Reaper*>(self);
  reaper->armed_ = false;
  reaper->flush();
}

}  // namespace pforte
