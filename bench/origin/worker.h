// A worker of pforte-origin: one thread, one event_base, its own SO_REUSEPORT listening sockets
// and the connections they accept. Connections never move between workers.
#pragma once

#include <event2/util.h>

#include <ctime>
#include <string_view>
#include <vector>

#include "bench/origin/handles.h"
#include "bench/origin/state.h"

namespace pforte::origin {

class Connection;

class Worker {
 public:
  // Takes ownership of `listen_fds` (already bound and listening).
  Worker(Origin& origin, int index, const std::vector<evutil_socket_t>& listen_fds);
  // Destroys every connection still open. Call after run() has returned.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs the loop until stop(). Worker thread.
  void run();
  // Makes run() return soon. Any thread.
  void stop();

  Origin& origin() { return origin_; }
  WorkerCounters& counters() { return counters_; }
  event_base* base() { return base_.get(); }
  // "Date: <IMF-fixdate>\r\n" for the current second. Worker thread.
  std::string_view date_field();

  // Bookkeeping of open connections, so shutdown can free them. Worker thread.
  void add(Connection* connection);
  void remove(Connection* connection);

  // Login requests waiting for a slot (overload "slow"), served first come first served.
  // A queued connection gets Connection::login_slot_granted() once a slot is taken for it.
  void queue_login(Connection* connection);
  void unqueue_login(Connection* connection);
  // A login slot was given back somewhere: hand free slots to queued requests.
  void grant_login_slots();

 private:
  static void on_accept(evconnlistener* listener, evutil_socket_t fd, sockaddr* address, int length,
                        void* arg);
  static void on_accept_error(evconnlistener* listener, void* arg);
  static void on_accept_resume(evutil_socket_t fd, short what, void* arg);
  static void on_login_retry(evutil_socket_t fd, short what, void* arg);
  static void on_stop(evutil_socket_t fd, short what, void* arg);

  Origin& origin_;                      // shared state
  WorkerCounters& counters_;            // this worker's counters inside origin_
  EventBasePtr base_;                   // the loop
  std::vector<ListenerPtr> listeners_;  // one per --listen
  EventPtr accept_resume_;              // re-enables accepting after EMFILE and the like
  EventPtr login_retry_;                // polls for slots freed by other workers while queued
  int stop_fd_ = -1;                    // eventfd written by stop()
  EventPtr stop_event_;                 // reads stop_fd_ and breaks the loop
  Connection* connections_ = nullptr;   // intrusive list of open connections
  Connection* wait_head_ = nullptr;     // login queue, oldest first
  Connection* wait_tail_ = nullptr;     // login queue, newest
  time_t date_second_ = -1;             // second date_ was formatted for
  char date_[64] = {};                  // cached Date field
  size_t date_length_ = 0;              // length of date_
};

}  // namespace pforte::origin
