#include "proxy/net/tls_output.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <unistd.h>

#include <cerrno>
#include <iterator>
#include <utility>

namespace pforte::net {

namespace {

/// The state of one BIO.
struct BatchBio {
  TlsOutput* owner = nullptr;
  int fd = -1;
  EvbufferPtr collected = make_evbuffer();
  EventPtr flush;          ///< EV_WRITE on fd: activated at once, or added while the socket is full
  bool scheduled = false;  ///< `flush` is active or added
  bool failed = false;     ///< a write failed (or the BIO was released): no more output
  int error = 0;           ///< errno of the failed write
  bool eof = false;        ///< a read returned 0
  bool drained = false;    ///< the last read got less than asked: the socket had no more
  bool handed_over = false;  ///< the socket went to a Linger, which closes it
};

/// One writev of what is collected; waits for the socket when it took less than all of it.
void write_out(BatchBio& st) {
  evbuffer* out = st.collected.get();
  if (st.failed || evbuffer_get_length(out) == 0) return;
  if (evbuffer_write(out, st.fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    st.failed = true;
    st.error = errno;
    evbuffer_drain(out, evbuffer_get_length(out));
    return;
  }
  if (evbuffer_get_length(out) > 0 && !st.scheduled) {
    st.scheduled = true;
    event_add(st.flush.get(), nullptr);
  }
}

void on_flush(evutil_socket_t, short, void* arg) {
  auto* st = static_cast<BatchBio*>(arg);
  st->scheduled = false;
  write_out(*st);
}

int bio_write(BIO* b, const char* data, int len) {
  auto* st = static_cast<BatchBio*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (st->failed) {
    errno = st->error ? st->error : EPIPE;
    return -1;
  }
  if (len <= 0) return 0;
  if (evbuffer_get_length(st->collected.get()) >= TlsOutput::kHighWater) {
    write_out(*st);
    if (st->failed) {
      errno = st->error;
      return -1;
    }
    if (evbuffer_get_length(st->collected.get()) >= TlsOutput::kHighWater) {
      BIO_set_retry_write(b);
      return -1;
    }
  }
  evbuffer_add(st->collected.get(), data, static_cast<size_t>(len));
  if (!st->scheduled) {
    // Written after the callbacks of this loop turn, together with the records they add.
    st->scheduled = true;
    event_active(st->flush.get(), EV_WRITE, 0);
  }
  return len;
}

int bio_read(BIO* b, char* out, int len) {
  auto* st = static_cast<BatchBio*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  ssize_t n = ::read(st->fd, out, static_cast<size_t>(len));
  st->drained = n < len;
  if (n == 0) {
    st->eof = true;
  } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(b);
  }
  return static_cast<int>(n);
}

long bio_ctrl(BIO* b, int cmd, long num, void* ptr) {
  auto* st = static_cast<BatchBio*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_C_GET_FD: {
      // bufferevent_openssl closes the fd this reports when it is freed: none once a Linger
      // owns the socket.
      int fd = st->handed_over ? -1 : st->fd;
      if (ptr) *static_cast<int*>(ptr) = fd;
      return fd;
    }
    case BIO_CTRL_GET_CLOSE:
      return BIO_get_shutdown(b);
    case BIO_CTRL_SET_CLOSE:  // the socket's owner closes it; nothing to do either way
      BIO_set_shutdown(b, static_cast<int>(num));
      return 1;
    case BIO_CTRL_FLUSH:  // the end of a handshake flight: out at once
      write_out(*st);
      return st->failed ? 0 : 1;
    case BIO_CTRL_WPENDING:
      return static_cast<long>(evbuffer_get_length(st->collected.get()));
    case BIO_CTRL_PENDING:
      return 0;
    case BIO_CTRL_EOF:
      return st->eof ? 1 : 0;
    case BIO_CTRL_DUP:
      return 1;
    default:
      return 0;
  }
}

int bio_destroy(BIO* b) {
  delete static_cast<BatchBio*>(BIO_get_data(b));
  BIO_set_data(b, nullptr);
  BIO_set_init(b, 0);
  return 1;
}

struct Method {
  int type = 0;
  BIO_METHOD* method = nullptr;
};

const Method& method() {
  static const Method m = [] {
    Method out;
    out.type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR;
    out.method = BIO_meth_new(out.type, "pforte collected socket");
    BIO_meth_set_write(out.method, &bio_write);
    BIO_meth_set_read(out.method, &bio_read);
    BIO_meth_set_ctrl(out.method, &bio_ctrl);
    BIO_meth_set_destroy(out.method, &bio_destroy);
    return out;
  }();
  return m;
}

BatchBio* state_of(SSL* ssl) {
  BIO* b = ssl ? SSL_get_rbio(ssl) : nullptr;  // the wbio may have a handshake buffer on top
  if (!b || BIO_method_type(b) != method().type) return nullptr;
  return static_cast<BatchBio*>(BIO_get_data(b));
}

}  // namespace

struct TlsOutput::Linger {
  TlsOutput* owner = nullptr;
  int fd = -1;
  EvbufferPtr data;
  EventPtr event;
  std::list<std::unique_ptr<Linger>>::iterator self;
  ~Linger() {
    event.reset();
    if (fd >= 0) ::close(fd);
  }
};

TlsOutput::TlsOutput(event_base* base, std::function<void()> on_idle)
    : base_(base), on_idle_(std::move(on_idle)) {}

TlsOutput::~TlsOutput() = default;

BIO* TlsOutput::new_bio(int fd) {
  BIO* b = BIO_new(method().method);
  if (!b) return nullptr;
  auto* st = new BatchBio();
  st->owner = this;
  st->fd = fd;
  st->flush.reset(event_new(base_, fd, EV_WRITE, &on_flush, st));
  BIO_set_data(b, st);
  BIO_set_init(b, 1);
  BIO_set_shutdown(b, 0);
  return b;
}

bool TlsOutput::drained(SSL* ssl) {
  BatchBio* st = state_of(ssl);
  return !st || st->drained;
}

size_t TlsOutput::collected(SSL* ssl) {
  BatchBio* st = state_of(ssl);
  return st ? evbuffer_get_length(st->collected.get()) : 0;
}

void TlsOutput::release(SSL* ssl) {
  BatchBio* st = state_of(ssl);
  if (!st || st->failed) return;
  write_out(*st);  // a last try; the flush event is not needed after it either way
  event_del(st->flush.get());
  st->scheduled = false;
  if (!st->failed && evbuffer_get_length(st->collected.get()) > 0) {
    // The same fd, not a dup: with the epoll change list a dup would keep the socket registered
    // under the fd number the bufferevent closes.
    st->handed_over = true;
    st->owner->linger(st->fd, std::exchange(st->collected, make_evbuffer()));
  }
  st->failed = true;  // nothing more goes out through this BIO
  st->error = EPIPE;
}

void TlsOutput::linger(int fd, EvbufferPtr data) {
  auto l = std::make_unique<Linger>();
  l->owner = this;
  l->fd = fd;
  l->data = std::move(data);
  l->event.reset(event_new(base_, fd, EV_WRITE | EV_PERSIST, &TlsOutput::on_linger, l.get()));
  timeval tv{static_cast<time_t>(kLingerTimeout.count()), 0};
  event_add(l->event.get(), &tv);
  lingering_.push_back(std::move(l));
  lingering_.back()->self = std::prev(lingering_.end());
}

void TlsOutput::on_linger(evutil_socket_t fd, short what, void* arg) {
  auto* l = static_cast<Linger*>(arg);
  bool done = (what & EV_TIMEOUT) != 0;
  if (!done) {
    int n = evbuffer_write(l->data.get(), fd);
    done = (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
           evbuffer_get_length(l->data.get()) == 0;
  }
  if (!done) return;
  TlsOutput* owner = l->owner;
  owner->lingering_.erase(l->self);
  if (owner->lingering_.empty() && owner->on_idle_) owner->on_idle_();
}

void write_tls_now(bufferevent* bev) {
  if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) return;
  event_active(&bev->ev_write, EV_WRITE, 1);
}

void release_tls_output(bufferevent* bev) {
  SSL* ssl = bufferevent_openssl_get_ssl(bev);
  if (BatchBio* st = state_of(ssl)) st->owner->release(ssl);
}

}  // namespace pforte::net
