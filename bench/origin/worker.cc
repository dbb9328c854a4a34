#include "bench/origin/worker.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/origin/connection.h"

namespace pforte::origin {
namespace {

constexpr timeval kAcceptResumeDelay{0, 100 * 1000};
constexpr timeval kLoginRetryInterval{0, 1000};

}  // namespace

Worker::Worker(Origin& origin, int index, const std::vector<evutil_socket_t>& listen_fds)
    : origin_(origin), counters_(*origin.counters.at(static_cast<size_t>(index))) {
  event_config* config = event_config_new();
  // Each worker is driven by exactly one thread; it needs no locks of its own.
  event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
  base_.reset(event_base_new_with_config(config));
  event_config_free(config);
  if (!base_) {
    std::fprintf(stderr, "pforte-origin: event_base_new failed\n");
    std::abort();
  }
  for (evutil_socket_t fd : listen_fds) {
    evconnlistener* listener =
        evconnlistener_new(base_.get(), on_accept, this, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    if (!listener) {
      std::fprintf(stderr, "pforte-origin: evconnlistener_new failed\n");
      std::abort();
    }
    evconnlistener_set_error_cb(listener, on_accept_error);
    listeners_.emplace_back(listener);
  }
  accept_resume_.reset(evtimer_new(base_.get(), on_accept_resume, this));
  login_retry_.reset(event_new(base_.get(), -1, EV_PERSIST, on_login_retry, this));
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    std::perror("pforte-origin: eventfd");
    std::abort();
  }
  stop_event_.reset(event_new(base_.get(), stop_fd_, EV_READ, on_stop, this));
  event_add(stop_event_.get(), nullptr);
}

Worker::~Worker() {
  while (connections_) delete connections_;
  stop_event_.reset();
  close(stop_fd_);
  login_retry_.reset();
  accept_resume_.reset();
  listeners_.clear();
  base_.reset();
}

void Worker::run() {
  event_base_loop(base_.get(), EVLOOP_NO_EXIT_ON_EMPTY);
}

void Worker::stop() {
  // The base has no locks (one thread drives it), so wake it through a descriptor.
  uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof one) < 0) std::perror("pforte-origin: stop");
}

void Worker::on_stop(evutil_socket_t, short, void* arg) {
  event_base_loopbreak(static_cast<Worker*>(arg)->base_.get());
}

std::string_view Worker::date_field() {
  time_t now = time(nullptr);
  if (now != date_second_) {
    tm parts;
    gmtime_r(&now, &parts);
    date_length_ = strftime(date_, sizeof date_, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &parts);
    date_second_ = now;
  }
  return std::string_view(date_, date_length_);
}

void Worker::add(Connection* connection) {
  connection->prev = nullptr;
  connection->next = connections_;
  if (connections_) connections_->prev = connection;
  connections_ = connection;
}

void Worker::remove(Connection* connection) {
  if (connection->prev) {
    connection->prev->next = connection->next;
  } else {
    connections_ = connection->next;
  }
  if (connection->next) connection->next->prev = connection->prev;
  connection->prev = connection->next = nullptr;
}

void Worker::queue_login(Connection* connection) {
  connection->queued = true;
  connection->wait_next = nullptr;
  connection->wait_prev = wait_tail_;
  if (wait_tail_) {
    wait_tail_->wait_next = connection;
  } else {
    wait_head_ = connection;
  }
  wait_tail_ = connection;
  if (!event_pending(login_retry_.get(), EV_TIMEOUT, nullptr)) {
    event_add(login_retry_.get(), &kLoginRetryInterval);
  }
}

void Worker::unqueue_login(Connection* connection) {
  if (!connection->queued) return;
  if (connection->wait_prev) {
    connection->wait_prev->wait_next = connection->wait_next;
  } else {
    wait_head_ = connection->wait_next;
  }
  if (connection->wait_next) {
    connection->wait_next->wait_prev = connection->wait_prev;
  } else {
    wait_tail_ = connection->wait_prev;
  }
  connection->wait_prev = connection->wait_next = nullptr;
  connection->queued = false;
  if (!wait_head_) event_del(login_retry_.get());
}

void Worker::grant_login_slots() {
  while (wait_head_ && origin_.login_gate.try_acquire()) {
    Connection* connection = wait_head_;
    unqueue_login(connection);
    connection->login_slot_granted();
  }
}

void Worker::on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  self->counters_.connections.fetch_add(1, std::memory_order_relaxed);
  // Owned by the worker's list from here on; it deletes itself when it closes.
  auto* connection = new Connection(*self, fd);
  if (connection->closed()) delete connection;
}

void Worker::on_accept_error(evconnlistener*, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  int error = EVUTIL_SOCKET_ERROR();
  std::fprintf(stderr, "pforte-origin: accept: %s; pausing accepts for 100 ms\n",
               evutil_socket_error_to_string(error));
  // Out of descriptors and the like: stop accepting briefly instead of spinning.
  for (auto& listener : self->listeners_) evconnlistener_disable(listener.get());
  evtimer_add(self->accept_resume_.get(), &kAcceptResumeDelay);
}

void Worker::on_accept_resume(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  for (auto& listener : self->listeners_) evconnlistener_enable(listener.get());
}

void Worker::on_login_retry(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  self->grant_login_slots();
}

}  // namespace pforte::origin
