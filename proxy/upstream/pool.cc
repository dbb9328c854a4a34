#include "proxy/upstream/pool.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cerrno>

#include "proxy/common/read_rest.h"

namespace pforte::upstream {

namespace {
constexpr size_t kMaxIdlePerServer = 1024;
constexpr std::chrono::milliseconds kBaseDownTime{1'000};
constexpr std::chrono::milliseconds kMaxDownTime{30'000};
constexpr uint32_t kUnansweredToFail = 3;
}  // namespace

Connection::Connection(UpstreamPool& pool, size_t server, BuffereventPtr bev)
    : pool_(pool), server_(server), bev_(std::move(bev)) {}

Connection::~Connection() = default;

bool Connection::ensure_event() {
  if (read_event_) return true;
  evutil_socket_t fd = bufferevent_getfd(bev_.get());
  if (fd < 0) return false;
  read_event_.reset(
      event_new(pool_.base(), fd, EV_READ | EV_PERSIST, &Connection::on_readable, this));
  return read_event_ != nullptr;
}

void Connection::enable_read() {
  if (reading_ || !ensure_event()) return;
  reading_ = true;
  event_add(read_event_.get(), read_timeout_);
}

void Connection::disable_read() {
  if (!reading_) return;
  reading_ = false;
  event_del(read_event_.get());
}

void Connection::set_read_timeout(const timeval* tv) {
  read_timeout_ = tv;
  // Re-adding an added event moves its timer only; the epoll set is not touched.
  if (reading_) event_add(read_event_.get(), read_timeout_);
}

void Connection::quiesce() {
  disable_read();
  pforte::quiesce(bev_.get());
}

void Connection::on_readable(evutil_socket_t fd, short what, void* self) {
  auto* conn = static_cast<Connection*>(self);
  bufferevent* bev = conn->bev_.get();
  bufferevent_data_cb readcb = nullptr;
  bufferevent_event_cb eventcb = nullptr;
  void* arg = nullptr;
  bufferevent_getcb(bev, &readcb, nullptr, &eventcb, &arg);
  short error = 0;
  if (what & EV_TIMEOUT) {
    error = BEV_EVENT_TIMEOUT;
  } else {
    evbuffer* in = bufferevent_get_input(bev);
    ssize_t got = read_socket_chunk(in, fd, kFirstRead);
    if (got == static_cast<ssize_t>(kFirstRead)) {
      read_socket_chunk(in, fd, ReadRest::kMaxRead);  // an EOF or error here shows next time
    }
    if (got == 0) {
      error = BEV_EVENT_EOF;
    } else if (got < 0 && errno != EAGAIN && errno != EINTR) {
      error = BEV_EVENT_ERROR;
    } else if (got < 0) {
      return;
    }
  }
  if (error) {
    // As a bufferevent does: reading stops, then the owner hears why.
    conn->disable_read();
    if (eventcb) eventcb(bev, static_cast<short>(BEV_EVENT_READING | error), arg);
    return;
  }
  if (readcb) readcb(bev, arg);
}

UpstreamPool::UpstreamPool(event_base* base, Reaper& reaper, const config::UpstreamConfig& config)
    : base_(base),
      reaper_(reaper),
      config_(config),
      balancer_(config.balance),
      timeouts_(base),
      connect_tv_(timeouts_.get(config.connect_timeout)),
      response_tv_(timeouts_.get(config.response_timeout)),
      idle_tv_(timeouts_.get(config.idle_timeout)) {
  for (bool backup : {false, true}) {
    for (const auto& addr : backup ? config_.backup : config_.servers) {
      Server s;
      s.address = addr;
      s.backup = backup;
      s.health = &module::health_board().server(config_.name, addr.text);
      servers_.push_back(std::move(s));
    }
  }
  constexpr std::string_view kRetryHelp =
      "Requests sent again by reason: connect (another server after a failed connect), "
      "stale_connection (a kept-alive connection the server had closed), other_server (a reset "
      "or response timeout before any answer).";
  const char* reasons[] = {"connect", "stale_connection", "other_server"};
  for (size_t i = 0; i < retries_.size(); ++i) {
    retries_[i] = &module::metrics().counter("pforte_upstream_retries_total", kRetryHelp,
                                             {{"upstream", config_.name}, {"reason", reasons[i]}});
  }
  retries_refused_ = &module::metrics().counter(
      "pforte_upstream_retries_refused_total",
      "Retries the retry budget refused (at most 20 % of requests, plus 3 a second, are retried).",
      {{"upstream", config_.name}});
}

UpstreamPool::~UpstreamPool() = default;

bool UpstreamPool::try_retry(RetryReason reason) {
  if (!retry_budget_.try_retry(Clock::now())) {
    retries_refused_->add();
    return false;
  }
  retries_[static_cast<size_t>(reason)]->add();
  return true;
}

std::optional<size_t> UpstreamPool::pick(const std::vector<size_t>& excluded,
                                         Clock::time_point now) {
  views_.resize(servers_.size());
  for (size_t i = 0; i < servers_.size(); ++i) {
    const Server& s = servers_[i];
    bool blocked = s.blocked_until > now;
    views_[i] = ServerView{
        s.backup, s.down_until <= now && s.health->up(now),
        blocked || std::find(excluded.begin(), excluded.end(), i) != excluded.end(), s.in_flight};
  }
  return balancer_.pick(views_);
}

std::unique_ptr<Connection> UpstreamPool::take_idle(size_t server) {
  auto& idle = servers_[server].idle;
  if (idle.empty()) return nullptr;
  std::unique_ptr<Connection> conn = std::move(idle.back());
  idle.pop_back();
  // Callbacks and timeouts are set by the new owner.
  bufferevent_setcb(conn->bev(), nullptr, nullptr, nullptr, nullptr);
  conn->mark_reused();
  return conn;
}

std::unique_ptr<Connection> UpstreamPool::connect(size_t server) {
  bufferevent* bev = bufferevent_socket_new(base_, -1, BEV_OPT_CLOSE_ON_FREE);
  if (!bev) return nullptr;
  BuffereventPtr owned(bev);
  allow_large_io(bev);
  const config::SocketAddress& addr = servers_[server].address;
  bufferevent_set_timeouts(bev, connect_tv_, connect_tv_);
  if (bufferevent_socket_connect(bev, reinterpret_cast<const sockaddr*>(&addr.addr),
                                 static_cast<int>(addr.len)) != 0) {
    return nullptr;
  }
  evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return std::make_unique<Connection>(*this, server, std::move(owned));
}

void UpstreamPool::give_back(std::unique_ptr<Connection> conn) {
  Server& s = servers_[conn->server()];
  if (s.idle.size() >= kMaxIdlePerServer ||
      evbuffer_get_length(bufferevent_get_input(conn->bev()))) {
    reaper_.defer(std::move(conn));
    return;
  }
  bufferevent* bev = conn->bev();
  // The write timeout stays as it is (it only runs while the write event is on).
  if (bufferevent_get_enabled(bev) & EV_WRITE) bufferevent_disable(bev, EV_WRITE);
  bufferevent_setcb(bev, &UpstreamPool::on_idle_read, nullptr, &UpstreamPool::on_idle_event,
                    conn.get());
  conn->set_read_timeout(idle_tv_);
  conn->enable_read();
  s.idle.push_back(std::move(conn));
}

void UpstreamPool::on_idle_read(bufferevent*, void* arg) {
  // A server must not send anything on an idle connection: drop it.
  auto* conn = static_cast<Connection*>(arg);
  conn->pool().drop_idle(conn);
}

void UpstreamPool::on_idle_event(bufferevent*, short, void* arg) {
  auto* conn = static_cast<Connection*>(arg);
  conn->pool().drop_idle(conn);
}

void UpstreamPool::drop_idle(Connection* conn) {
  auto& idle = servers_[conn->server()].idle;
  auto it = std::find_if(idle.begin(), idle.end(), [&](const auto& c) { return c.get() == conn; });
  if (it == idle.end()) return;
  conn->quiesce();
  reaper_.defer(std::move(*it));
  idle.erase(it);
}

void UpstreamPool::server_failed(size_t server, Clock::time_point now) {
  Server& s = servers_[server];
  s.consecutive_failures = std::min<uint32_t>(s.consecutive_failures + 1, 16);
  auto down = std::min<std::chrono::milliseconds>(
      kBaseDownTime * (1u << std::min<uint32_t>(s.consecutive_failures - 1, 5)), kMaxDownTime);
  s.down_until = now + down;
  s.blocked_until = now + kBlock;
}

void UpstreamPool::server_unanswered(size_t server, Clock::time_point now) {
  Server& s = servers_[server];
  // A server that failed before and has not answered since is on probation: its first
  // unanswered request takes it out again, for twice as long.
  const uint32_t needed = s.consecutive_failures > 0 ? 1 : kUnansweredToFail;
  if (++s.unanswered < needed) return;
  s.unanswered = 0;
  server_failed(server, now);
}

void UpstreamPool::server_answered(size_t server) {
  Server& s = servers_[server];
  s.unanswered = 0;
  s.consecutive_failures = 0;
}

void UpstreamPool::connect_succeeded(size_t server) {
  // The server takes requests again; whether it answers them decides when its failures are
  // forgotten (server_answered()): a server that accepts and never answers stays on probation.
  Server& s = servers_[server];
  s.down_until = {};
  s.blocked_until = {};
}

}  // namespace pforte::upstream
