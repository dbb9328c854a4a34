#include "proxy/server/server.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <map>
#include <thread>

#include "pforte_version.h"
#include "proxy/common/log.h"
#include "proxy/config/loader.h"
#include "proxy/core/access_log.h"
#include "proxy/net/listen_socket.h"
#include "proxy/net/tls.h"
#include "proxy/server/notify.h"
#include "proxy/server/worker.h"

namespace pforte::server {

namespace {

/// One configured listening address and its per-worker sockets' identity.
struct OpenListener {
  uint64_t id = 0;
  std::optional<config::TlsConfig> tls;
  net::TlsContext* tls_context = nullptr;
  bool admin = false;
};

/// The main thread's view of the process. Main thread only.
struct MainLoop {
  event_base* base = nullptr;
  std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  core::AccessLog* access_log = nullptr;
  std::atomic<size_t> running{0};
  event* all_exited = nullptr;
  bool stopping = false;
  std::shared_ptr<const module::Generation> current;
  size_t n_workers = 0;
  uint64_t descriptor_cap = UINT64_MAX;  ///< SharedState::descriptor_cap
  /// By listener key (address text, "admin " prefix for the admin listener).
  std::map<std::string, OpenListener> listeners;
  uint64_t next_listener_id = 1;
  /// Every TLS context ever made; kept until exit because handshakes in progress may still use
  /// a replaced one.
  std::vector<std::unique_ptr<net::TlsContext>> tls_contexts;
};

std::string listener_key(const config::SocketAddress& address, bool admin) {
  return (admin ? "admin " : "") + address.text;
}

bool same_tls(const std::optional<config::TlsConfig>& a,
              const std::optional<config::TlsConfig>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->cert == b->cert && a->key == b->key);
}

/// Opens one socket per worker for `address`. For port 0 the first bind picks the port and the
/// other workers bind the same one. On failure nothing stays open.
std::expected<std::vector<int>, std::string> open_sockets(const config::SocketAddress& address,
                                                          size_t n_workers, const char* what) {
  std::vector<int> fds;
  config::SocketAddress addr = address;
  for (size_t w = 0; w < n_workers; ++w) {
    auto fd = net::open_listen_socket(addr);
    if (!fd) {
      for (int f : fds) ::close(f);
      return std::unexpected("listener " + address.text + ": " + fd.error());
    }
    if (w == 0) {
      config::SocketAddress bound = net::bound_address(*fd);
      addr.addr = bound.addr;
      addr.len = bound.len;
      PF_INFO("listening on %s (%s)", bound.text.c_str(), what);
    }
    fds.push_back(*fd);
  }
  return fds;
}

/// Every listener of `config` (the admin listener last) as (key, address, tls, admin).
struct WantedListener {
  std::string key;
  config::SocketAddress address;
  std::optional<config::TlsConfig> tls;
  bool admin = false;
};
std::vector<WantedListener> wanted_listeners(const config::Config& config) {
  std::vector<WantedListener> out;
  for (const config::ListenerConfig& l : config.listeners)
    out.push_back({listener_key(l.address, false), l.address, l.tls, false});
  if (config.admin)
    out.push_back({listener_key(config.admin->address, true), config.admin->address, {}, true});
  return out;
}

const char* listener_kind(const WantedListener& w) {
  return w.admin ? "admin: http/1.1, h2c" : w.tls ? "TLS: h2, http/1.1" : "http/1.1, h2c";
}

/// Makes the TLS context of a listener; errors carry the `tls` table's location.
std::expected<net::TlsContext*, std::string> make_tls(MainLoop& loop, const config::Config& config,
                                                      const WantedListener& w) {
  auto ctx = net::TlsContext::create(*w.tls);
  if (!ctx) {
    return std::unexpected(config.source_path + ":" + std::to_string(w.tls->line) + ":" +
                           std::to_string(w.tls->column) + ": listener " + w.address.text + ": " +
                           ctx.error());
  }
  loop.tls_contexts.push_back(std::move(*ctx));
  return loop.tls_contexts.back().get();
}

size_t resolve_workers(const config::Config& config) {
  return config.global.workers > 0 ? static_cast<size_t>(config.global.workers)
                                   : std::max<size_t>(1, std::thread::hardware_concurrency());
}

/// Raises the soft descriptor limit to the hard one and returns how many client connections the
/// descriptors allow: each may hold an upstream connection too, and a reserve stays for
/// listening sockets, log files, eventfds and health checks.
uint64_t descriptor_cap(size_t workers, size_t listeners) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return UINT64_MAX;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  const uint64_t reserve = 64 + 4 * workers + workers * listeners;
  const uint64_t limit = rl.rlim_cur;
  return limit > reserve + 2 ? (limit - reserve) / 2 : 1;
}

/// Says once per configuration that max_connections is more than the descriptors allow.
void warn_if_clamped(const config::Config& config, uint64_t cap) {
  if (config.limits.max_connections <= cap) return;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  PF_WARN(
      "max_connections = %llu needs more file descriptors than the limit of %llu allows "
      "(a client and an upstream descriptor per connection): accepting at most %llu client "
      "connections. Raise LimitNOFILE (ulimit -n) or lower max_connections",
      static_cast<unsigned long long>(config.limits.max_connections),
      static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(cap));
}

void count_reload(bool ok) {
  static module::Counter& accepted = module::metrics().counter(
      "pforte_config_reloads_total", "Configuration reloads (SIGHUP) by result.",
      {{"result", "accepted"}});
  static module::Counter& refused = module::metrics().counter(
      "pforte_config_reloads_total", "Configuration reloads (SIGHUP) by result.",
      {{"result", "refused"}});
  (ok ? accepted : refused).add();
}

void refuse_reload(const std::string& message) {
  PF_ERROR("reload refused, the running configuration stays: %s", message.c_str());
  notify_service_manager("READY=1\nSTATUS=reload refused: " + message);
  count_reload(false);
  module::server_info().set_reload_result(false, message, time(nullptr));
}

/// SIGHUP: loads and validates the config file again, exactly as `pforte -t` does, and switches
/// the workers to it if it is valid. Main thread (never a worker: they keep serving meanwhile).
void reload(MainLoop& loop) {
  const config::Config& old = *loop.current->config;
  PF_INFO("SIGHUP: reloading %s", old.source_path.c_str());
  notify_reloading();
  auto loaded = config::load_config_file(old.source_path, module::config_parsers());
  if (!loaded) {
    for (const auto& e : loaded.error()) PF_ERROR("%s", e.to_string().c_str());
    refuse_reload(loaded.error().front().to_string() +
                  (loaded.error().size() > 1
                       ? " (and " + std::to_string(loaded.error().size() - 1) + " more)"
                       : ""));
    return;
  }
  const config::Config& next = **loaded;
  const bool limit_changed = next.limits.max_connections != old.limits.max_connections;
  // Settings the running process cannot change.
  std::vector<std::string> fixed;
  if (resolve_workers(next) != loop.n_workers) fixed.push_back("global.workers");
  if (next.global.access_log != old.global.access_log) fixed.push_back("global.access_log");
  if (next.global.error_log != old.global.error_log) fixed.push_back("global.error_log");
  if (!fixed.empty()) {
    std::string names;
    for (const std::string& f : fixed) names.append(names.empty() ? "" : ", ").append(f);
    refuse_reload(next.source_path + ": " + names +
                  " cannot change while pforte runs; restart it to apply");
    return;
  }
  auto generation = module::prepare_generation(*loaded, loop.current.get());
  if (!generation) {
    refuse_reload(generation.error());
    return;
  }
  // Listeners: keep those still configured, open new ones, close the rest.
  std::vector<ReloadPlan> plans(loop.n_workers);
  std::map<std::string, OpenListener> listeners;
  std::vector<std::vector<int>> opened;  // to close again if a later step fails
  auto undo = [&] {
    for (auto& fds : opened)
      for (int fd : fds) ::close(fd);
  };
  for (const WantedListener& w : wanted_listeners(next)) {
    auto it = loop.listeners.find(w.key);
    net::TlsContext* tls = nullptr;
    bool tls_changed = it == loop.listeners.end() || !same_tls(it->second.tls, w.tls);
    if (w.tls) {
      if (!tls_changed && it != loop.listeners.end()) {
        tls = it->second.tls_context;
      }
      // Certificates are read again on every reload so that renewed files take effect.
      auto ctx = make_tls(loop, next, w);
      if (!ctx) {
        undo();
        refuse_reload(ctx.error());
        return;
      }
      tls = *ctx;
      tls_changed = true;
    }
    if (it != loop.listeners.end()) {
      OpenListener kept = it->second;
      if (tls_changed) {
        for (ReloadPlan& p : plans) p.tls_changed.emplace_back(kept.id, tls);
      }
      kept.tls = w.tls;
      kept.tls_context = tls;
      listeners.emplace(w.key, kept);
      continue;
    }
    auto fds = open_sockets(w.address, loop.n_workers, listener_kind(w));
    if (!fds) {
      undo();
      refuse_reload(next.source_path + ": " + fds.error());
      return;
    }
    opened.push_back(*fds);
    OpenListener added{loop.next_listener_id++, w.tls, tls, w.admin};
    for (size_t i = 0; i < loop.n_workers; ++i)
      plans[i].added.push_back(ListenerSpec{added.id, (*fds)[i], tls, w.admin});
    listeners.emplace(w.key, added);
  }
  for (const auto& [key, l] : loop.listeners) {
    if (listeners.count(key)) continue;
    PF_INFO("closing listener %s", key.c_str());
    for (ReloadPlan& p : plans) p.removed.push_back(l.id);
  }
  loop.listeners = std::move(listeners);
  loop.current = *generation;
  log::set_level(next.global.log_level);
  for (size_t i = 0; i < loop.n_workers; ++i) {
    plans[i].generation = loop.current;
    (*loop.workers)[i]->reload(std::move(plans[i]));
  }
  if (limit_changed) warn_if_clamped(next, loop.descriptor_cap);
  module::server_info().generation = loop.current->number;
  module::server_info().set_reload_result(true, "", time(nullptr));
  count_reload(true);
  notify_service_manager("READY=1\nSTATUS=serving generation " +
                         std::to_string(loop.current->number));
  PF_INFO("reload accepted: generation %llu",
          static_cast<unsigned long long>(loop.current->number));
}

void on_signal(evutil_socket_t sig, short, void* arg) {
  auto* loop = static_cast<MainLoop*>(arg);
  switch (sig) {
    case SIGTERM:
      PF_INFO("SIGTERM: draining (no new connections; in-flight requests may finish)");
      notify_service_manager("STOPPING=1\nSTATUS=draining");
      loop->stopping = true;
      for (auto& w : *loop->workers) w->drain();
      break;
    case SIGINT:
      PF_INFO("SIGINT: stopping now");
      notify_service_manager("STOPPING=1");
      loop->stopping = true;
      for (auto& w : *loop->workers) w->stop();
      break;
    case SIGHUP:
      if (loop->stopping) {
        PF_WARN("SIGHUP ignored: pforte is stopping");
        break;
      }
      reload(*loop);
      break;
    case SIGUSR1:
      PF_INFO("SIGUSR1: reopening log files");
      log::reopen();
      loop->access_log->reopen();
      PF_INFO("SIGUSR1: log files reopened");  // the first line of a rotated error log
      break;
    default:
      break;
  }
}

void on_all_exited(evutil_socket_t fd, short, void* arg) {
  uint64_t count;
  ssize_t ignored = ::read(fd, &count, sizeof count);
  (void)ignored;
  event_base_loopexit(static_cast<MainLoop*>(arg)->base, nullptr);
}

}  // namespace

int run(std::shared_ptr<const module::Generation> generation) {
  // No evthread_use_pthreads(): every event_base is used by one thread only, and cross-thread
  // wake-ups go through eventfds, so libevent runs without locks.
  signal(SIGPIPE, SIG_IGN);
  const config::Config& config = *generation->config;

  if (!log::open(config.global.error_log, config.global.log_level)) {
    fprintf(stderr, "pforte: cannot open error log %s\n", config.global.error_log.c_str());
    return 1;
  }
  core::AccessLog access_log(config.global.access_log);
  if (!access_log.open()) {
    PF_ERROR("cannot open access log %s: %s", config.global.access_log.c_str(), strerror(errno));
    return 1;
  }

  SharedState shared;
  shared.access_log = &access_log;
  MainLoop loop;
  loop.current = generation;
  loop.n_workers = resolve_workers(config);
  shared.descriptor_cap = descriptor_cap(loop.n_workers, wanted_listeners(config).size());
  loop.descriptor_cap = shared.descriptor_cap;

  std::vector<std::vector<ListenerSpec>> specs(loop.n_workers);
  auto close_all = [&] {
    for (auto& list : specs)
      for (const ListenerSpec& l : list) ::close(l.fd);
  };
  for (const WantedListener& w : wanted_listeners(config)) {
    net::TlsContext* tls = nullptr;
    if (w.tls) {
      auto ctx = make_tls(loop, config, w);
      if (!ctx) {
        PF_ERROR("%s", ctx.error().c_str());
        close_all();
        return 1;
      }
      tls = *ctx;
    }
    auto fds = open_sockets(w.address, loop.n_workers, listener_kind(w));
    if (!fds) {
      PF_ERROR("%s", fds.error().c_str());
      close_all();
      return 1;
    }
    OpenListener l{loop.next_listener_id++, w.tls, tls, w.admin};
    for (size_t i = 0; i < loop.n_workers; ++i)
      specs[i].push_back(ListenerSpec{l.id, (*fds)[i], tls, w.admin});
    loop.listeners.emplace(w.key, l);
  }

  event_base* base = event_base_new();
  loop.base = base;
  loop.access_log = &access_log;
  std::vector<std::unique_ptr<Worker>> workers;
  loop.workers = &workers;
  int exit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  loop.all_exited = event_new(base, exit_fd, EV_READ, &on_all_exited, &loop);
  event_add(loop.all_exited, nullptr);
  loop.running = loop.n_workers;
  shared.on_worker_exit = [&loop, exit_fd] {
    if (loop.running.fetch_sub(1) == 1) {
      uint64_t one = 1;
      ssize_t ignored = ::write(exit_fd, &one, sizeof one);
      (void)ignored;
    }
  };
  for (size_t i = 0; i < loop.n_workers; ++i) {
    workers.push_back(std::make_unique<Worker>(i, generation, shared, std::move(specs[i])));
  }
  std::vector<event*> signals;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    event* ev = evsignal_new(base, sig, &on_signal, &loop);
    evsignal_add(ev, nullptr);
    signals.push_back(ev);
  }
  module::ServerInfo& info = module::server_info();
  info.started_unix = time(nullptr);
  info.workers = loop.n_workers;
  info.generation = generation->number;
  for (auto& w : workers) w->start();
  warn_if_clamped(config, shared.descriptor_cap);
  PF_INFO("pforte %s started with %zu worker%s", PFORTE_VERSION, loop.n_workers,
          loop.n_workers == 1 ? "" : "s");
  // The listening sockets are open (connections queue from here on): ready.
  notify_service_manager("READY=1\nSTATUS=serving generation 1\nMAINPID=" +
                         std::to_string(getpid()));

  event_base_dispatch(base);

  for (auto& w : workers) w->join();
  workers.clear();
  for (const auto& shared_state : loop.current->shared) {
    if (shared_state) shared_state->shutdown();
  }
  for (event* ev : signals) event_free(ev);
  event_free(loop.all_exited);
  ::close(exit_fd);
  event_base_free(base);
  access_log.close();
  PF_INFO("pforte stopped");
  return 0;
}

}  // namespace pforte::server
