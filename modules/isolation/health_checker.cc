#include "modules/isolation/health_checker.h"

#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

namespace pforte::modules::isolation {

namespace {

constexpr size_t kMaxStatusLine = 1024;

timeval to_tv(Millis ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
}

}  // namespace

std::optional<int> parse_status_line(std::string_view line) {
  // "HTTP/1.x SP 3DIGIT [SP reason]"
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[7] < '0' || line[7] > '9' ||
      line[8] != ' ') {
    return std::nullopt;
  }
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return std::nullopt;
    status = status * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return std::nullopt;
  if (status < 100) return std::nullopt;
  return status;
}

HealthChecker::HealthChecker(event_base* base, const config::SocketAddress& server,
                             const config::HealthConfig& config,
                             std::function<void(bool ok)> on_result)
    : base_(base), server_(server), config_(config), on_result_(std::move(on_result)) {
  request_ = "GET " + config_.path + " HTTP/1.1\r\nhost: " + server_.text +
             "\r\nuser-agent: pforte-health\r\nconnection: close\r\n\r\n";
  tick_.reset(evtimer_new(base_, &HealthChecker::on_tick, this));
  deadline_.reset(evtimer_new(base_, &HealthChecker::on_deadline, this));
}

HealthChecker::~HealthChecker() {
  close();
}

void HealthChecker::start(Millis delay) {
  timeval tv = to_tv(delay);
  evtimer_add(tick_.get(), &tv);
}

void HealthChecker::on_tick(evutil_socket_t, short, void* self) {
  auto* c = static_cast<HealthChecker*>(self);
  timeval tv = to_tv(c->config_.interval);
  evtimer_add(c->tick_.get(), &tv);
  if (!c->bev_) c->begin();  // a check still running (timeout > interval) is not doubled
}

void HealthChecker::begin() {
  bev_.reset(bufferevent_socket_new(base_, -1, BEV_OPT_CLOSE_ON_FREE));
  if (!bev_) {
    end(false);
    return;
  }
  timeval tv = to_tv(config_.timeout);
  evtimer_add(deadline_.get(), &tv);
  bufferevent_setcb(bev_.get(), &HealthChecker::on_read, nullptr, &HealthChecker::on_event, this);
  if (bufferevent_socket_connect(bev_.get(), reinterpret_cast<const sockaddr*>(&server_.addr),
                                 static_cast<int>(server_.len)) != 0) {
    end(false);
    return;
  }
  evbuffer_add(bufferevent_get_output(bev_.get()), request_.data(), request_.size());
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
}

void HealthChecker::on_read(bufferevent* bev, void* self) {
  auto* c = static_cast<HealthChecker*>(self);
  evbuffer* in = bufferevent_get_input(bev);
  evbuffer_ptr eol = evbuffer_search_eol(in, nullptr, nullptr, EVBUFFER_EOL_CRLF);
  if (eol.pos < 0) {
    if (evbuffer_get_length(in) > kMaxStatusLine) c->end(false);
    return;
  }
  std::string line(static_cast<size_t>(eol.pos), '\0');
  evbuffer_copyout(in, line.data(), line.size());
  std::optional<int> status = parse_status_line(line);
  c->end(status && check_passed(*status));
}

void HealthChecker::on_event(bufferevent*, short what, void* self) {
  auto* c = static_cast<HealthChecker*>(self);
  if (what & BEV_EVENT_CONNECTED) {
    evutil_socket_t fd = bufferevent_getfd(c->bev_.get());
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return;
  }
  c->end(false);  // error or EOF before a status line
}

void HealthChecker::on_deadline(evutil_socket_t, short, void* self) {
  static_cast<HealthChecker*>(self)->end(false);
}

void HealthChecker::close() {
  evtimer_del(deadline_.get());
  if (bev_) {
    bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    bev_.reset();
  }
}

void HealthChecker::end(bool ok) {
  close();
  on_result_(ok);
}

}  // namespace pforte::modules::isolation
