// Reading past libevent 2.1's 4 KiB cap per read of a socket bufferevent.
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstddef>

namespace pforte {

/// One readv of at most `max` bytes from `fd` into the end of `in`, the input of a socket
/// bufferevent (whose end bufferevent_socket keeps frozen except while it reads itself).
/// Returns what readv returned: the bytes read, 0 at EOF, -1 on error (errno says which).
inline ssize_t read_socket_chunk(evbuffer* in, evutil_socket_t fd, size_t max) {
  evbuffer_unfreeze(in, 0);
  evbuffer_iovec vec[2];
  const int n = evbuffer_reserve_space(in, static_cast<ev_ssize_t>(max), vec, 2);
  ssize_t got = -1;
  if (n > 0) {
    iovec iov[2];
    size_t room = max;  // the reservation may be larger than asked
    for (int i = 0; i < n; ++i) {
      vec[i].iov_len = std::min(vec[i].iov_len, room);
      room -= vec[i].iov_len;
      iov[i] = {vec[i].iov_base, vec[i].iov_len};
    }
    got = readv(fd, iov, n);
    size_t left = got > 0 ? static_cast<size_t>(got) : 0;
    int used = 0;
    for (; used < n && left > 0; ++used) {
      if (vec[used].iov_len > left) vec[used].iov_len = left;
      left -= vec[used].iov_len;
    }
    evbuffer_commit_space(in, vec, used);
  }
  evbuffer_freeze(in, 0);
  return got;
}

/// libevent 2.1's evbuffer_read() takes at most 4096 bytes per call (EVBUFFER_MAX_READ, fixed
/// when libevent is built), and a socket bufferevent calls it once per read event. So a 4,330
/// byte response took two turns of the event loop (epoll_wait, ioctl(FIONREAD) and readv each),
/// and a 64 KiB one sixteen. A ReadRest watches the input of one socket bufferevent and notes
/// whether its last read was such a capped one; the owner's read callback calls take() first,
/// which then reads what else the socket holds in one readv.
///
/// For socket bufferevents only: a TLS bufferevent's input is filled by SSL_read, and reading
/// its socket would steal TLS records. The object must not move while it watches.
class ReadRest {
 public:
  /// What take() reads at most in one readv.
  static constexpr size_t kMaxRead = 64 * 1024;

  ReadRest() = default;
  ReadRest(const ReadRest&) = delete;
  ReadRest& operator=(const ReadRest&) = delete;
  ~ReadRest() { stop(); }

  void watch(bufferevent* bev) {
    stop();
    bev_ = bev;
    cb_ = evbuffer_add_cb(bufferevent_get_input(bev), &ReadRest::on_input, this);
  }

  void stop() {
    if (cb_) evbuffer_remove_cb_entry(bufferevent_get_input(bev_), cb_);
    cb_ = nullptr;
    bev_ = nullptr;
    capped_ = false;
  }

  /// Reads the rest of what the socket holds if the bufferevent's last read was capped. An
  /// EOF, an error or nothing to read is left to the bufferevent's next read, which sees it too.
  void take() {
    if (!capped_ || !bev_) return;
    read_socket_chunk(bufferevent_get_input(bev_), bufferevent_getfd(bev_), kMaxRead);
    capped_ = false;  // on_input() saw that read too, and it was not the bufferevent's
  }

  /// What libevent reads at most per read event.
  static constexpr size_t kLibeventMaxRead = 4096;

 private:
  static void on_input(evbuffer*, const evbuffer_cb_info* info, void* self) {
    if (info->n_added) static_cast<ReadRest*>(self)->capped_ = info->n_added == kLibeventMaxRead;
  }

  bufferevent* bev_ = nullptr;
  evbuffer_cb_entry* cb_ = nullptr;
  bool capped_ = false;
};

}  // namespace pforte
