// A worker: one thread, one event_base, its own SO_REUSEPORT listening sockets, its own sessions,
// upstream pools and module instances. Connections never move between workers. Other threads talk
// to a worker only through post(). Everything else is worker thread only.
#pragma once

#include <algorithm>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proxy/common/handles.h"
#include "proxy/common/reaper.h"
#include "proxy/core/internal_fetch.h"
#include "proxy/core/worker_context.h"
#include "proxy/net/tls.h"
#include "proxy/net/tls_output.h"

namespace pforte::server {

/// State shared by all workers of the process. Read-only after start except the atomics.
struct SharedState {
  std::atomic<uint64_t> connections{0};  ///< open client connections, all workers
  /// Client connections the process's descriptors allow (each may hold an upstream one too);
  /// the effective limit is the smaller of this and `limits.max_connections`.
  uint64_t descriptor_cap = UINT64_MAX;
  /// accept() failures for want of descriptors (EMFILE/ENFILE), all workers; logged rate-limited.
  std::atomic<uint64_t> accept_fd_failures{0};
  std::atomic<int64_t> accept_fd_logged_ms{0};
  core::AccessLog* access_log = nullptr;
  std::function<void()> on_worker_exit;  ///< called (from the worker thread) when it ends
};

/// One listening socket handed to a worker.
struct ListenerSpec {
  uint64_t id = 0;                 ///< stable across reloads while the address stays configured
  int fd = -1;                     ///< this worker's socket (the worker takes ownership)
  net::TlsContext* tls = nullptr;  ///< null: cleartext (outlives the worker)
  bool admin = false;              ///< the admin listener
};

/// What a reload changes in a worker.
struct ReloadPlan {
  std::shared_ptr<const module::Generation> generation;
  std::vector<ListenerSpec> added;  ///< new sockets for this worker
  std::vector<uint64_t> removed;    ///< listener ids to close
  /// Kept listeners whose TLS settings changed (new certificates apply to new connections).
  std::vector<std::pair<uint64_t, net::TlsContext*>> tls_changed;
};

class Worker final : public core::WorkerContext, public module::WorkerServices {
 public:
  /// `listeners` are this worker's sockets (the worker owns their fds).
  Worker(size_t index, std::shared_ptr<const module::Generation> generation, SharedState& shared,
         std::vector<ListenerSpec> listeners);
  ~Worker() override;

  /// Starts the thread.
  void start();
  void join();
  /// Runs `fn` on the worker thread. Any thread.
  void post(std::function<void()> fn) override;
  /// Graceful stop (SIGTERM): stop accepting, finish in-flight work up to drain_timeout. Any
  /// thread.
  void drain();
  /// Fast stop (SIGINT). Any thread.
  void stop();
  /// Switches to a new generation: new exchanges use it, in-flight ones finish on theirs;
  /// listeners are added, closed or given new certificates. Any thread.
  void reload(ReloadPlan plan);

  // core::WorkerContext
  event_base* base() override { return base_.get(); }
  Reaper& reaper() override { return *reaper_; }
  CommonTimeouts& timeouts() override { return *timeouts_; }
  const std::shared_ptr<core::WorkerGeneration>& generation() override { return current_; }
  module::WorkerServices& services() override { return *this; }
  core::AccessLog& access_log() override { return *shared_.access_log; }
  bool draining() const override { return draining_; }
  void session_closed(core::Session* session) override;
  void start_h2(core::Session* replaced, BuffereventPtr bev, core::PeerInfo peer) override;

  // module::WorkerServices
  module::FetchHandle fetch(module::Request request, module::FetchOptions options,
                            std::function<void(module::FetchResult)> done) override;

 private:
  struct Listener {
    ListenerPtr listener;
    ListenerSpec spec;
    Worker* worker = nullptr;
  };
  struct PendingTls;

  void run();
  void open_listeners();
  void open_listener(const ListenerSpec& spec);
  void apply_reload(ReloadPlan& plan);
  void pause_accept(bool paused);
  /// `http2`: for pforte_connections{protocol}.
  void add_session(std::unique_ptr<core::Session> session, bool http2);
  /// Forgets `session`'s connection gauge entry.
  void count_closed(core::Session* session);
  void begin_drain();
  void maybe_exit();
  /// Builds this worker's instances for `generation`, reusing unchanged upstream pools of the
  /// current one.
  std::shared_ptr<core::WorkerGeneration> build(std::shared_ptr<const module::Generation> gen);
  const config::Config& config_ref() const { return current_->config(); }
  /// max_connections, clamped to what the descriptors allow.
  uint64_t connection_limit() const {
    return std::min<uint64_t>(config_ref().limits.max_connections, shared_.descriptor_cap);
  }
  /// accept() ran out of descriptors: stop accepting for a moment instead of spinning.
  void accept_failed(int error);

  static void on_accept(evconnlistener* l, evutil_socket_t fd, sockaddr* addr, int len, void* arg);
  static void on_accept_error(evconnlistener* l, void* arg);
  static void on_tls_event(bufferevent* bev, short what, void* arg);
  static void on_mailbox(evutil_socket_t, short, void* self);
  static void on_tick(evutil_socket_t, short, void* self);
  static void on_drain_deadline(evutil_socket_t, short, void* self);

  size_t index_;
  SharedState& shared_;
  std::vector<ListenerSpec> pending_listeners_;  ///< opened on the worker thread at start
  EventBasePtr base_;
  std::unique_ptr<Reaper> reaper_;
  std::unique_ptr<CommonTimeouts> timeouts_;
  std::unique_ptr<net::TlsOutput> tls_output_;  ///< the BIO of every client TLS connection
  std::shared_ptr<core::WorkerGeneration> current_;
  std::unordered_map<core::InternalFetch*, std::shared_ptr<core::InternalFetch>> fetches_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<core::Session*, std::unique_ptr<core::Session>> sessions_;
  std::unordered_map<PendingTls*, std::unique_ptr<PendingTls>> handshakes_;
  std::unordered_map<core::Session*, module::Gauge*> session_gauges_;
  int mailbox_fd_ = -1;  ///< eventfd that wakes the loop for post()
  EventPtr mailbox_event_;
  EventPtr tick_;
  EventPtr drain_deadline_;
  std::mutex mailbox_mutex_;
  std::vector<std::function<void()>> mailbox_;
  std::thread thread_;
  bool accept_paused_ = false;
  /// Monotonic ms until which accepting stays paused after running out of descriptors.
  int64_t fd_backoff_until_ms_ = 0;
  bool draining_ = false;
  bool exiting_ = false;
};

}  // namespace pforte::server
