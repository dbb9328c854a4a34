#include "proxy/server/server.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "pforte_version.h"
#include "proxy/common/log.h"
#include "proxy/core/access_log.h"
#include "proxy/net/listen_socket.h"
#include "proxy/net/tls.h"
#include "proxy/server/worker.h"

namespace pforte::server {

namespace {

struct MainLoop {
  event_base* base = nullptr;
  std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  core::AccessLog* access_log = nullptr;
  std::atomic<size_t> running{0};
  event* all_exited = nullptr;
  bool stopping = false;
};

void on_signal(evutil_socket_t sig, short, void* arg) {
  auto* loop = static_cast<MainLoop*>(arg);
  switch (sig) {
    case SIGTERM:
      PF_INFO("SIGTERM: draining (no new connections; in-flight requests may finish)");
      loop->stopping = true;
      for (auto& w : *loop->workers) w->drain();
      break;
    case SIGINT:
      PF_INFO("SIGINT: stopping now");
      loop->stopping = true;
      for (auto& w : *loop->workers) w->stop();
      break;
    case SIGHUP:
      PF_WARN("SIGHUP: configuration reload is not supported yet; the running config stays");
      break;
    case SIGUSR1:
      PF_INFO("SIGUSR1: reopening log files");
      log::reopen();
      loop->access_log->reopen();
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
  const std::shared_ptr<const config::Config>& config = generation->config;
  // No evthread_use_pthreads(): every event_base is used by one thread only, and cross-thread
  // wake-ups go through eventfds, so libevent runs without locks.
  signal(SIGPIPE, SIG_IGN);

  if (!log::open(config->global.error_log, config->global.log_level)) {
    fprintf(stderr, "pforte: cannot open error log %s\n", config->global.error_log.c_str());
    return 1;
  }
  core::AccessLog access_log(config->global.access_log);
  if (!access_log.open()) {
    PF_ERROR("cannot open access log %s: %s", config->global.access_log.c_str(), strerror(errno));
    return 1;
  }

  SharedState shared;
  shared.access_log = &access_log;
  std::vector<std::unique_ptr<net::TlsContext>> tls_contexts;
  for (const config::ListenerConfig& l : config->listeners) {
    if (!l.tls) {
      shared.tls.push_back(nullptr);
      continue;
    }
    auto ctx = net::TlsContext::create(*l.tls);
    if (!ctx) {
      PF_ERROR("%s:%d:%d: listener %s: %s", config->source_path.c_str(), l.tls->line, l.tls->column,
               l.address.text.c_str(), ctx.error().c_str());
      return 1;
    }
    shared.tls.push_back(ctx->get());
    tls_contexts.push_back(std::move(*ctx));
  }

  size_t n_workers = config->global.workers > 0
                         ? static_cast<size_t>(config->global.workers)
                         : std::max<size_t>(1, std::thread::hardware_concurrency());

  // One socket per worker per listener (the admin listener last). For port 0 the first bind picks
  // the port and the other workers bind the same one.
  std::vector<std::vector<int>> fds(n_workers);
  std::vector<config::ListenerConfig> all_listeners = config->listeners;
  shared.public_listeners = all_listeners.size();
  if (config->admin) all_listeners.push_back(config::ListenerConfig{config->admin->address, {}});
  for (size_t li = 0; li < all_listeners.size(); ++li) {
    const config::ListenerConfig& l = all_listeners[li];
    bool admin = li >= shared.public_listeners;
    config::SocketAddress addr = l.address;
    for (size_t w = 0; w < n_workers; ++w) {
      auto fd = net::open_listen_socket(addr);
      if (!fd) {
        PF_ERROR("listener %s: %s", l.address.text.c_str(), fd.error().c_str());
        for (auto& list : fds) {
          for (int f : list) ::close(f);
        }
        return 1;
      }
      if (w == 0) {
        config::SocketAddress bound = net::bound_address(*fd);
        addr.addr = bound.addr;
        addr.len = bound.len;
        PF_INFO("listening on %s (%s)", bound.text.c_str(),
                admin   ? "admin: http/1.1, h2c"
                : l.tls ? "TLS: h2, http/1.1"
                        : "http/1.1, h2c");
      }
      fds[w].push_back(*fd);
    }
  }

  event_base* base = event_base_new();
  MainLoop loop;
  loop.base = base;
  loop.access_log = &access_log;
  std::vector<std::unique_ptr<Worker>> workers;
  loop.workers = &workers;
  int exit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  loop.all_exited = event_new(base, exit_fd, EV_READ, &on_all_exited, &loop);
  event_add(loop.all_exited, nullptr);
  loop.running = n_workers;
  shared.on_worker_exit = [&loop, exit_fd] {
    if (loop.running.fetch_sub(1) == 1) {
      uint64_t one = 1;
      ssize_t ignored = ::write(exit_fd, &one, sizeof one);
      (void)ignored;
    }
  };
  for (size_t i = 0; i < n_workers; ++i) {
    workers.push_back(std::make_unique<Worker>(i, generation, shared, std::move(fds[i])));
  }
  std::vector<event*> signals;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    event* ev = evsignal_new(base, sig, &on_signal, &loop);
    evsignal_add(ev, nullptr);
    signals.push_back(ev);
  }
  module::ServerInfo& info = module::server_info();
  info.started_unix = time(nullptr);
  info.workers = n_workers;
  info.generation = generation->number;
  for (auto& w : workers) w->start();
  PF_INFO("pforte %s started with %zu worker%s", PFORTE_VERSION, n_workers,
          n_workers == 1 ? "" : "s");

  event_base_dispatch(base);

  for (auto& w : workers) w->join();
  workers.clear();
  for (const auto& shared_state : generation->shared) {
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
