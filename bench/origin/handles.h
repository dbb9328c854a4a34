// Owning handles for the libevent objects of pforte-origin.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <memory>

namespace pforte::origin {

struct EventBaseDeleter {
  void operator()(event_base* base) const { event_base_free(base); }
};
struct EventDeleter {
  void operator()(event* ev) const { event_free(ev); }
};
struct ListenerDeleter {
  void operator()(evconnlistener* listener) const { evconnlistener_free(listener); }
};
struct BuffereventDeleter {
  void operator()(bufferevent* bev) const { bufferevent_free(bev); }
};

using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerDeleter>;
using BuffereventPtr = std::unique_ptr<bufferevent, BuffereventDeleter>;

}  // namespace pforte::origin
