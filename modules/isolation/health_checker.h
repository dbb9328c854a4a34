// Active health checks of one upstream server: every `interval`, a plain HTTP/1.1
// `GET <path>` on a new connection (Connection: close), which must answer with a 2xx or 3xx status
// line within `timeout` (connect included). Only the status line is read. The result goes to a
// callback (the isolation module feeds ServerHealth::record_check with it).
//
// Not through the pools or the router: a check must reach one given server, healthy or not.
// Worker thread only (the isolation module runs the checkers on worker 0). Destroying the checker
// cancels a check in progress; the callback never destroys the checker.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/module/module.h"

namespace pforte::modules::isolation {

/// The status code of a response's first line ("HTTP/1.1 200 OK"), or nullopt if `line` is not
/// an HTTP/1.x status line.
std::optional<int> parse_status_line(std::string_view line);

/// A check passes with a 2xx or 3xx answer.
inline bool check_passed(int status) {
  return status >= 200 && status < 400;
}

class HealthChecker {
 public:
  HealthChecker(event_base* base, const config::SocketAddress& server,
                const config::HealthConfig& config, std::function<void(bool ok)> on_result);
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;
  ~HealthChecker();

  /// Runs the first check after `delay`, then one every interval.
  void start(Millis delay);

 private:
  static void on_tick(evutil_socket_t, short, void* self);
  static void on_deadline(evutil_socket_t, short, void* self);
  static void on_read(bufferevent* bev, void* self);
  static void on_event(bufferevent* bev, short what, void* self);
  void begin();
  void end(bool ok);
  void close();

  event_base* base_;
  config::SocketAddress server_;
  config::HealthConfig config_;
  std::function<void(bool)> on_result_;
  std::string request_;
  EventPtr tick_;
  EventPtr deadline_;
  BuffereventPtr bev_;  ///< the check in progress, if any
};

}  // namespace pforte::modules::isolation
