// Per-worker pools of HTTP/1.1 keep-alive connections to the servers of one upstream, with server
// selection (proxy/upstream/balancer.h) and passive failure marking: a server whose connect fails
// is considered down for a short, growing period, so backups take over when no primary answers.
// A server is also down while the process-wide health board (proxy/module/upstream_health.h) says
// so: active health checks and passive ejection, written by the isolation module.
// Worker thread only.
#pragma once

#include <event2/bufferevent.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "proxy/common/handles.h"
#include "proxy/common/reaper.h"
#include "proxy/common/timeouts.h"
#include "proxy/config/config.h"
#include "proxy/module/metrics.h"
#include "proxy/module/upstream_health.h"
#include "proxy/upstream/balancer.h"
#include "proxy/upstream/retry_budget.h"

namespace pforte::upstream {

class UpstreamPool;

/// One TCP connection to an upstream server. Owned by an UpstreamRequest while in use and by the
/// pool while idle.
///
/// Writing and connecting go through the bufferevent; reading does not. libevent 2.1's socket
/// bufferevent asks the kernel how much is readable (ioctl FIONREAD) before every read and then
/// reads at most 4 KiB, so a 4.3 KiB response cost three syscalls. A Connection reads its socket
/// itself, into the bufferevent's input, in one readv of up to ~16 KiB (and, when that fills,
/// one more of up to 64 KiB), and hands the result to the bufferevent's current read and event
/// callbacks exactly as the bufferevent would: the read callback after bytes arrived; the event
/// callback with BEV_EVENT_READING and EOF, ERROR or TIMEOUT, reading then being off. So the
/// owners keep one set of callbacks (bufferevent_setcb) and switch reading with enable_read()
/// and disable_read() instead of bufferevent_enable/disable(EV_READ). The bufferevent's own
/// read stays disabled, except in a tunnel (H1Session), which takes the bufferevent whole.
class Connection {
 public:
  Connection(UpstreamPool& pool, size_t server, BuffereventPtr bev);
  ~Connection();
  bufferevent* bev() const { return bev_.get(); }
  /// Reading on (a no-op when it is already on), with the current read timeout.
  void enable_read();
  void disable_read();
  bool reading() const { return reading_; }
  /// The longest wait for the next bytes while reading (null: none). Counts from now.
  void set_read_timeout(const timeval* tv);
  /// No more callbacks or I/O of either kind (the owner is letting go).
  void quiesce();
  size_t server() const { return server_; }
  /// True if this connection served an earlier request (it may have been closed by the server
  /// meanwhile, so a failure before the first response byte is worth one retry).
  bool reused() const { return reused_; }
  void mark_reused() { reused_ = true; }
  UpstreamPool& pool() { return pool_; }

  /// What the first readv of a readable event takes at most: with libevent's chain header the
  /// input chain is then one 16 KiB allocation.
  static constexpr size_t kFirstRead = 16 * 1024 - 128;

 private:
  static void on_readable(evutil_socket_t fd, short what, void* self);
  /// Creates the read event once the bufferevent has its socket.
  bool ensure_event();

  UpstreamPool& pool_;
  size_t server_;
  BuffereventPtr bev_;
  EventPtr read_event_;  ///< after bev_, so that it goes first (the socket closes with bev_)
  const timeval* read_timeout_ = nullptr;
  bool reading_ = false;
  bool reused_ = false;
};

/// The servers of one upstream as seen by one worker.
class UpstreamPool {
 public:
  using Clock = std::chrono::steady_clock;
  /// How long a server that server_failed() is not tried at all.
  static constexpr std::chrono::milliseconds kBlock{1'000};

  UpstreamPool(event_base* base, Reaper& reaper, const config::UpstreamConfig& config);
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;
  ~UpstreamPool();

  const config::UpstreamConfig& config() const { return config_; }
  event_base* base() const { return base_; }
  Reaper& reaper() { return reaper_; }
  /// A scratch buffer for passing body pieces along; always left empty after use.
  evbuffer* scratch() { return scratch_.get(); }
  /// The response timeout as a common timeout of this worker's base.
  const timeval* response_timeout() const { return response_tv_; }
  size_t server_count() const { return servers_.size(); }
  const config::SocketAddress& address(size_t server) const { return servers_[server].address; }

  /// Picks a server not in `excluded` (indexes) and not blocked (server_failed()), or nullopt
  /// if there is none.
  std::optional<size_t> pick(const std::vector<size_t>& excluded,
                             Clock::time_point now = Clock::now());
  /// An idle keep-alive connection to `server`, or null.
  std::unique_ptr<Connection> take_idle(size_t server);
  /// A new connection to `server`, connecting (the caller sets callbacks and waits for
  /// BEV_EVENT_CONNECTED). Null if the socket could not even be created.
  std::unique_ptr<Connection> connect(size_t server);
  /// Returns a connection after a complete exchange; kept idle if the pool has room.
  void give_back(std::unique_ptr<Connection> conn);

  /// Bookkeeping for balancing and passive health.
  void request_started(size_t server) { ++servers_[server].in_flight; }
  void request_finished(size_t server) { --servers_[server].in_flight; }
  /// The server refused a connect, or took requests and closed or timed out before answering
  /// (server_unanswered()): for kBlock it is not tried at all, not even as the last try when
  /// no server is up (it would fail again: a dead single server then costs a request nothing,
  /// not a connect and a log line); after that it is down, i.e. tried only when no server is up,
  /// for 1 s, doubling per failure in a row up to 30 s.
  void server_failed(size_t server, Clock::time_point now = Clock::now());
  void connect_succeeded(size_t server);
  /// A request to the server timed out or lost its connection before the response head. Three
  /// in a row without an answer in between count as one server_failed(): a server that answers
  /// other requests is not taken out for one slow URL. After a failure, until the server answers
  /// again, one is enough (and the time out doubles), so a server that accepts connections but
  /// never answers costs a client one response_timeout per down period, not three.
  void server_unanswered(size_t server, Clock::time_point now = Clock::now());
  /// A response head arrived from the server: its failures are forgotten.
  void server_answered(size_t server);

  /// This worker's retry budget for the upstream (every retry of UpstreamRequest asks it).
  RetryBudget& retry_budget() { return retry_budget_; }

  /// Why a request is sent again.
  enum class RetryReason : uint8_t { kConnect, kStaleConnection, kOtherServer };
  /// Asks the budget for one retry and counts the answer in
  /// pforte_upstream_retries_total{upstream,reason} or pforte_upstream_retries_refused_total.
  bool try_retry(RetryReason reason);

 private:
  struct Server {
    config::SocketAddress address;
    bool backup = false;
    uint32_t in_flight = 0;
    uint32_t consecutive_failures = 0;
    uint32_t unanswered = 0;  ///< requests in a row that got no response head
    Clock::time_point down_until{};
    Clock::time_point blocked_until{};  ///< server_failed(): not picked at all before it
    const module::ServerHealthFlags* health = nullptr;  ///< process-wide; never null
    std::vector<std::unique_ptr<Connection>> idle;      ///< most recently used last
  };

  static void on_idle_event(bufferevent* bev, short what, void* arg);
  static void on_idle_read(bufferevent* bev, void* arg);
  void drop_idle(Connection* conn);

  event_base* base_;
  Reaper& reaper_;
  config::UpstreamConfig config_;
  Balancer balancer_;
  RetryBudget retry_budget_;
  std::array<module::Counter*, 3> retries_{};  ///< by RetryReason; process-wide counters
  module::Counter* retries_refused_ = nullptr;
  std::vector<Server> servers_;
  std::vector<ServerView> views_;  ///< scratch for pick()
  EvbufferPtr scratch_ = make_evbuffer();
  CommonTimeouts timeouts_;
  const timeval* connect_tv_;
  const timeval* response_tv_;
  const timeval* idle_tv_;
};

}  // namespace pforte::upstream
