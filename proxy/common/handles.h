// RAII owners for libevent, OpenSSL and nghttp2 handles: one small deleter type each.
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <memory>

namespace pforte {

struct EvbufferFree {
  void operator()(evbuffer* b) const { evbuffer_free(b); }
};
struct EventFree {
  void operator()(event* e) const { event_free(e); }
};
struct EventBaseFree {
  void operator()(event_base* b) const { event_base_free(b); }
};
struct BuffereventFree {
  void operator()(bufferevent* b) const { bufferevent_free(b); }
};
struct ListenerFree {
  void operator()(evconnlistener* l) const { evconnlistener_free(l); }
};

using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferFree>;
using EventPtr = std::unique_ptr<event, EventFree>;
using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;
using BuffereventPtr = std::unique_ptr<bufferevent, BuffereventFree>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerFree>;

inline EvbufferPtr make_evbuffer() {
  return EvbufferPtr(evbuffer_new());
}

/// Silences a bufferevent whose owner is letting go of it: no more callbacks, no more I/O.
inline void quiesce(bufferevent* bev) {
  bufferevent_setcb(bev, nullptr, nullptr, nullptr, nullptr);
  bufferevent_disable(bev, EV_READ | EV_WRITE);
}

/// Lets a bufferevent move up to 256 KiB per read or write callback instead of libevent's
/// 16 KiB: a 64 KiB body that does not fit the socket at once then takes one more writev, not
/// four more trips through epoll. Memory is not affected (it is a cap per call).
inline void allow_large_io(bufferevent* bev) {
  constexpr ev_ssize_t kMaxSingleIo = 256 * 1024;
  bufferevent_set_max_single_write(bev, kMaxSingleIo);
  bufferevent_set_max_single_read(bev, kMaxSingleIo);
}

/// bufferevent_enable re-adds the events (and their timers) even when already enabled; this
/// enables only what is not.
inline void ensure_enabled(bufferevent* bev, short what) {
  short missing = static_cast<short>(what & ~bufferevent_get_enabled(bev));
  if (missing) bufferevent_enable(bev, missing);
}

/// Writes a socket bufferevent's output to the socket now, bypassing the write event, which is
/// then disabled if the socket took everything and enabled for what is left (or for an error,
/// which the bufferevent then reports). With the worker's epoll change list, a write event
/// enabled and disabled again within one loop turn costs no epoll_ctl. (bufferevent_socket keeps
/// the start of its output frozen so that only its own write callback drains it; a plain
/// evbuffer_write() on it fails at once without a syscall.)
inline void flush_socket_output(bufferevent* bev) {
  evbuffer* out = bufferevent_get_output(bev);
  evbuffer_unfreeze(out, 1);
  const int n = evbuffer_write(out, bufferevent_getfd(bev));
  evbuffer_freeze(out, 1);
  if (n > 0 && evbuffer_get_length(out) == 0) {
    if (bufferevent_get_enabled(bev) & EV_WRITE) bufferevent_disable(bev, EV_WRITE);
  } else {
    ensure_enabled(bev, EV_WRITE);
  }
}

}  // namespace pforte
