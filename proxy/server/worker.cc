#include "proxy/server/worker.h"

#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "proxy/common/log.h"
#include "proxy/core/h1_session.h"
#include "proxy/core/h2_session.h"
#include "proxy/net/listen_socket.h"

namespace pforte::server {

/// A TLS connection whose handshake is in progress; becomes a session once ALPN is known.
struct Worker::PendingTls {
  Worker* worker = nullptr;
  BuffereventPtr bev;
  core::PeerInfo peer;
};

namespace {

int64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}
constexpr timeval kTick{0, 100 * 1000};
}  // namespace

Worker::Worker(size_t index, std::shared_ptr<const module::Generation> generation,
               SharedState& shared, std::vector<ListenerSpec> listeners)
    : index_(index), shared_(shared), pending_listeners_(std::move(listeners)) {
  event_config* cfg = event_config_new();
  // libevent's time cache stays on (no EVENT_BASE_FLAG_NO_CACHE_TIME): a timer added in a
  // callback counts from when the loop turn began, so it may fire earlier by that turn's work
  // (microseconds to milliseconds, against timeouts of seconds), and an HTTP/1.1 request costs
  // five clock reads fewer (callgrind: 24,579 -> 24,313 instructions per proxied request).
  // epoll changes are applied once per loop turn, so an event enabled and disabled again within
  // one turn (the write event of a response that is then written directly) costs no epoll_ctl.
  // libevent's caveat, fds cloned with dup(), does not apply: sessions own their sockets.
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  base_.reset(event_base_new_with_config(cfg));
  event_config_free(cfg);
  reaper_ = std::make_unique<Reaper>(base_.get());
  timeouts_ = std::make_unique<CommonTimeouts>(base_.get());
  tls_output_ = std::make_unique<net::TlsOutput>(base_.get(), [this] { maybe_exit(); });
  current_ = build(std::move(generation));
  // The mailbox is an eventfd, so that libevent needs no locking at all: every other event of
  // this base is touched by the worker thread only.
  mailbox_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  mailbox_event_.reset(
      event_new(base_.get(), mailbox_fd_, EV_READ | EV_PERSIST, &Worker::on_mailbox, this));
  event_add(mailbox_event_.get(), nullptr);
  tick_.reset(event_new(base_.get(), -1, EV_PERSIST, &Worker::on_tick, this));
  drain_deadline_.reset(evtimer_new(base_.get(), &Worker::on_drain_deadline, this));
}

Worker::~Worker() {
  // Sessions, pools and modules go before the event base.
  handshakes_.clear();
  sessions_.clear();
  reaper_->flush();
  listeners_.clear();
  fetches_.clear();
  reaper_->flush();
  current_.reset();
  reaper_->flush();
  mailbox_event_.reset();
  tick_.reset();
  drain_deadline_.reset();
  tls_output_.reset();
  reaper_.reset();
  for (const ListenerSpec& l : pending_listeners_) {
    if (l.fd >= 0) ::close(l.fd);
  }
  if (mailbox_fd_ >= 0) ::close(mailbox_fd_);
}

std::shared_ptr<core::WorkerGeneration> Worker::build(
    std::shared_ptr<const module::Generation> gen) {
  auto wg = std::make_shared<core::WorkerGeneration>();
  wg->generation = std::move(gen);
  const config::Config& cfg = *wg->generation->config;
  for (const config::UpstreamConfig& u : cfg.upstreams) {
    std::shared_ptr<upstream::UpstreamPool> reused;
    if (current_) {
      for (const auto& pool : current_->pools) {
        if (pool->config().name == u.name && config::equivalent(pool->config(), u)) reused = pool;
      }
    }
    wg->pools.push_back(
        reused ? reused : std::make_shared<upstream::UpstreamPool>(base_.get(), *reaper_, u));
  }
  const auto& factories = module::registry();
  for (size_t i = 0; i < factories.size(); ++i) {
    module::WorkerInfo info;
    info.worker_index = index_;
    info.base = base_.get();
    info.module_index = i;
    info.shared = i < wg->generation->shared.size() ? wg->generation->shared[i] : nullptr;
    info.generation = wg->generation.get();
    info.services = this;
    wg->modules.push_back(factories[i].create(info));
  }
  return wg;
}

module::FetchHandle Worker::fetch(module::Request request, module::FetchOptions options,
                                  std::function<void(module::FetchResult)> done) {
  auto f = std::make_shared<core::InternalFetch>(
      *this, std::move(request), options, std::move(done), [this](core::InternalFetch* done_one) {
        auto it = fetches_.find(done_one);
        if (it == fetches_.end()) return;
        reaper_->defer(std::move(it->second));
        fetches_.erase(it);
      });
  fetches_.emplace(f.get(), f);
  f->start();
  std::weak_ptr<core::InternalFetch> weak = f;
  return module::FetchHandle([weak] {
    if (auto live = weak.lock()) live->cancel();
  });
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mailbox_mutex_);
    mailbox_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t ignored = ::write(mailbox_fd_, &one, sizeof one);
  (void)ignored;
}

void Worker::on_mailbox(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  uint64_t count;
  ssize_t ignored = ::read(w->mailbox_fd_, &count, sizeof count);
  (void)ignored;
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(w->mailbox_mutex_);
    batch.swap(w->mailbox_);
  }
  for (auto& fn : batch) fn();
}

void Worker::drain() {
  post([this] { begin_drain(); });
}

void Worker::stop() {
  post([this] {
    exiting_ = true;
    event_base_loopbreak(base_.get());
  });
}

void Worker::run() {
  module::set_metric_shard(index_);
  open_listeners();
  event_add(tick_.get(), &kTick);
  event_base_dispatch(base_.get());
  // Close what is left (fast stop or drain deadline).
  for (auto& [ptr, session] : sessions_) {
    count_closed(ptr);
    session.reset();
  }
  sessions_.clear();
  fetches_.clear();
  handshakes_.clear();
  reaper_->flush();
  if (shared_.on_worker_exit) shared_.on_worker_exit();
}

void Worker::open_listeners() {
  for (ListenerSpec& spec : pending_listeners_) {
    open_listener(spec);
    spec.fd = -1;  // owned by the evconnlistener now
  }
  pending_listeners_.clear();
}

void Worker::open_listener(const ListenerSpec& spec) {
  auto l = std::make_unique<Listener>();
  l->spec = spec;
  l->worker = this;
  l->listener.reset(evconnlistener_new(base_.get(), &Worker::on_accept, l.get(),
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, spec.fd));
  evconnlistener_set_error_cb(l->listener.get(), &Worker::on_accept_error);
  if (accept_paused_) evconnlistener_disable(l->listener.get());
  listeners_.push_back(std::move(l));
}

void Worker::reload(ReloadPlan plan) {
  auto shared_plan = std::make_shared<ReloadPlan>(std::move(plan));
  post([this, shared_plan] { apply_reload(*shared_plan); });
}

void Worker::apply_reload(ReloadPlan& plan) {
  if (draining_ || exiting_) {
    for (const ListenerSpec& l : plan.added) ::close(l.fd);
    return;
  }
  current_ = build(plan.generation);
  for (uint64_t id : plan.removed) {
    std::erase_if(listeners_,
                  [id](const std::unique_ptr<Listener>& l) { return l->spec.id == id; });
  }
  for (const auto& [id, tls] : plan.tls_changed) {
    for (auto& l : listeners_) {
      if (l->spec.id == id) l->spec.tls = tls;
    }
  }
  for (const ListenerSpec& spec : plan.added) open_listener(spec);
  plan.added.clear();
}

void Worker::pause_accept(bool paused) {
  if (accept_paused_ == paused) return;
  accept_paused_ = paused;
  for (auto& l : listeners_) {
    if (paused)
      evconnlistener_disable(l->listener.get());
    else
      evconnlistener_enable(l->listener.get());
  }
  if (paused && monotonic_ms() >= fd_backoff_until_ms_)
    PF_WARN("worker %zu: max_connections reached, accepting paused", index_);
}

void Worker::on_accept_error(evconnlistener*, void* arg) {
  const int error = EVUTIL_SOCKET_ERROR();
  static_cast<Listener*>(arg)->worker->accept_failed(error);
}

void Worker::accept_failed(int error) {
  if (error != EMFILE && error != ENFILE && error != ENOBUFS && error != ENOMEM) {
    PF_WARN("worker %zu: accept: %s", index_, strerror(error));
    return;
  }
  // Out of descriptors (or kernel memory): the pending connection stays queued in the kernel.
  // Retrying at once would spin on the same error, so accepting pauses for 100 ms (the tick
  // resumes it); one line every 10 s says how often it happened.
  const int64_t now = monotonic_ms();
  fd_backoff_until_ms_ = now + 100;
  pause_accept(true);
  const uint64_t failures = shared_.accept_fd_failures.fetch_add(1) + 1;
  int64_t logged = shared_.accept_fd_logged_ms.load();
  if (now - logged >= 10'000 && shared_.accept_fd_logged_ms.compare_exchange_strong(logged, now)) {
    PF_WARN(
        "accept: %s (%llu times so far); accepting pauses for 100 ms each time. Raise the "
        "descriptor limit (LimitNOFILE) or lower max_connections",
        strerror(error), static_cast<unsigned long long>(failures));
  }
}

void Worker::on_accept(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int, void* arg) {
  auto* l = static_cast<Listener*>(arg);
  Worker* w = l->worker;
  if (w->draining_) {
    ::close(fd);
    return;
  }
  uint64_t open = w->shared_.connections.fetch_add(1) + 1;
  if (open >= w->connection_limit()) w->pause_accept(true);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  core::PeerInfo peer{net::address_text(addr, false), false, l->spec.admin};
  net::TlsContext* tls = l->spec.tls;
  if (tls) {
    peer.tls = true;
    SSL* ssl = SSL_new(tls->default_ctx());
    BIO* bio = ssl ? w->tls_output_->new_bio(fd) : nullptr;
    if (bio) SSL_set_bio(ssl, bio, bio);
    bufferevent* bev =
        bio ? bufferevent_openssl_socket_new(w->base_.get(), fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE)
            : nullptr;
    if (!bev) {
      SSL_free(ssl);
      ::close(fd);
      w->shared_.connections.fetch_sub(1);
      return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    allow_large_io(bev);
    auto pending = std::make_unique<PendingTls>();
    pending->worker = w;
    pending->bev.reset(bev);
    pending->peer = std::move(peer);
    timeval tv{
        static_cast<time_t>(w->config_ref().limits.header_timeout.count() / 1000),
        static_cast<suseconds_t>((w->config_ref().limits.header_timeout.count() % 1000) * 1000)};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_setcb(bev, nullptr, nullptr, &Worker::on_tls_event, pending.get());
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    PendingTls* key = pending.get();
    w->handshakes_.emplace(key, std::move(pending));
    return;
  }
  bufferevent* bev = bufferevent_socket_new(w->base_.get(), fd, BEV_OPT_CLOSE_ON_FREE);
  if (!bev) {
    ::close(fd);
    w->shared_.connections.fetch_sub(1);
    return;
  }
  allow_large_io(bev);
  w->add_session(std::make_unique<core::H1Session>(*w, BuffereventPtr(bev), std::move(peer)),
                 false);
}

void Worker::on_tls_event(bufferevent* bev, short what, void* arg) {
  auto* pending = static_cast<PendingTls*>(arg);
  Worker* w = pending->worker;
  auto it = w->handshakes_.find(pending);
  if (it == w->handshakes_.end()) return;
  std::unique_ptr<PendingTls> owned = std::move(it->second);
  w->handshakes_.erase(it);
  bufferevent_setcb(bev, nullptr, nullptr, nullptr, nullptr);
  if (!(what & BEV_EVENT_CONNECTED)) {
    PF_DEBUG("client %s: TLS handshake failed", owned->peer.address.c_str());
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    net::release_tls_output(bev);  // the alert, if OpenSSL wrote one
    w->reaper_->defer(std::move(owned));
    w->shared_.connections.fetch_sub(1);
    return;
  }
  bufferevent_set_timeouts(bev, nullptr, nullptr);
  std::string proto = net::negotiated_protocol(bufferevent_openssl_get_ssl(bev));
  if (proto == "h2") {
    w->add_session(std::make_unique<core::H2Session>(*w, std::move(owned->bev), owned->peer), true);
  } else {
    w->add_session(std::make_unique<core::H1Session>(*w, std::move(owned->bev), owned->peer),
                   false);
  }
}

void Worker::add_session(std::unique_ptr<core::Session> session, bool http2) {
  static module::Gauge& h1 = module::metrics().gauge(
      "pforte_connections", "Open client connections by protocol.", {{"protocol", "http/1.1"}});
  static module::Gauge& h2 = module::metrics().gauge(
      "pforte_connections", "Open client connections by protocol.", {{"protocol", "h2"}});
  core::Session* key = session.get();
  module::Gauge* gauge = http2 ? &h2 : &h1;
  gauge->add(1);
  session_gauges_[key] = gauge;
  sessions_.emplace(key, std::move(session));
  key->start();
}

void Worker::count_closed(core::Session* session) {
  auto it = session_gauges_.find(session);
  if (it == session_gauges_.end()) return;
  it->second->add(-1);
  session_gauges_.erase(it);
}

void Worker::session_closed(core::Session* session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  count_closed(session);
  reaper_->defer(std::move(it->second));
  sessions_.erase(it);
  uint64_t open = shared_.connections.fetch_sub(1) - 1;
  if (accept_paused_ && open < connection_limit() && !draining_ &&
      monotonic_ms() >= fd_backoff_until_ms_)
    pause_accept(false);
  if (draining_) maybe_exit();
}

void Worker::start_h2(core::Session* replaced, BuffereventPtr bev, core::PeerInfo peer) {
  auto it = sessions_.find(replaced);
  if (it != sessions_.end()) {
    count_closed(replaced);
    reaper_->defer(std::move(it->second));
    sessions_.erase(it);
  }
  add_session(std::make_unique<core::H2Session>(*this, std::move(bev), std::move(peer)), true);
}

void Worker::on_tick(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  // Another worker's connections may have closed: resume accepting when under the limit.
  if (w->accept_paused_ && !w->draining_ && w->shared_.connections.load() < w->connection_limit() &&
      monotonic_ms() >= w->fd_backoff_until_ms_) {
    w->pause_accept(false);
  }
}

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  listeners_.clear();  // closes this worker's listening sockets
  for (auto& [ptr, pending] : handshakes_) {
    (void)ptr;
    bufferevent_setcb(pending->bev.get(), nullptr, nullptr, nullptr, nullptr);
    shared_.connections.fetch_sub(1);
    reaper_->defer(std::move(pending));
  }
  handshakes_.clear();
  timeval tv{static_cast<time_t>(config_ref().global.drain_timeout.count() / 1000),
             static_cast<suseconds_t>((config_ref().global.drain_timeout.count() % 1000) * 1000)};
  evtimer_add(drain_deadline_.get(), &tv);
  std::vector<core::Session*> all;
  for (auto& [ptr, session] : sessions_) all.push_back(ptr);
  for (core::Session* s : all) {
    if (sessions_.count(s)) s->begin_drain();
  }
  maybe_exit();
}

void Worker::maybe_exit() {
  // Lingering TLS output (written after its session closed) is waited for, up to the drain
  // deadline.
  if (sessions_.empty() && draining_ && tls_output_->lingering() == 0) {
    event_del(tick_.get());
    event_base_loopexit(base_.get(), nullptr);
  }
}

void Worker::on_drain_deadline(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  PF_WARN("worker %zu: drain_timeout reached with %zu connections open; closing them", w->index_,
          w->sessions_.size());
  event_base_loopexit(w->base_.get(), nullptr);
}

}  // namespace pforte::server
