// pforte-spike: a login spike generator. N simulated clients arrive at uniformly random times
// within a window, each sends `POST /login`, keeps the `pforte_wr` cookie, and comes back when it
// is told (429 + Retry-After in JSON mode, the page's refresh in page mode, Retry-After or 1 s on
// 5xx) until it gets the login's 200 JSON. One connection per poll, closed by the client after the
// answer; source addresses rotate over 127.0.0.2.. so TIME_WAIT never exhausts the port range.
// Prints one `key=value` summary line (and a readable block) per run; see bench/spike/README.md.
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int64_t kNever = INT64_MAX;

struct Options {
  std::string target_host = "127.0.0.1";
  int target_port = 0;
  std::string stats_host = "127.0.0.1";
  int stats_port = 0;  // origin for /_origin/stats (0 = none)
  std::string path = "/login";
  std::string label = "spike";
  int clients = 50000;
  double window_s = 1.0;
  double limit_s = 120.0;
  bool page_mode = false;
  bool whole_seconds = false;  // ignore retry_after_ms and the page script: Retry-After/meta only
  double abandon = 0;          // share of clients who leave after their first answer
  int sources = 64;            // 127.0.0.2 .. 127.0.0.(sources+1)
  double timeout_s = 15.0;
  uint64_t seed = 1;
};

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Generator;

struct Client {
  Generator* gen = nullptr;
  int index = 0;
  int64_t scheduled_us = 0;     // planned arrival, relative to the start
  int64_t arrival_us = kNever;  // first request started, relative to the start
  int64_t done_us = kNever;     // got the login's 200, relative to the start
  bool abandons = false;        // closes the tab after the first answer that is not the login
  bool left = false;            // has done so
  int polls = 0;
  std::string cookie;
  bufferevent* bev = nullptr;
  event* timer = nullptr;
  event* timeout = nullptr;
  int64_t queued_at_us = -1;
};

struct Counters {
  uint64_t requests = 0, ok = 0, waiting = 0, pages = 0, errors_5xx = 0, status_503 = 0,
           other_status = 0, conn_errors = 0, timeouts = 0, bad_responses = 0;
  int64_t max_lag_us = 0;  // how late the first request left compared with the plan
  uint64_t queued = 0;     // polls that waited for a descriptor
  uint64_t left = 0;       // clients who left after their first answer (--abandon)
  size_t max_queue = 0;
  int64_t max_queue_us = 0;  // longest such wait
};

struct Generator {
  Options opt;
  event_base* base = nullptr;
  std::vector<Client> clients;
  Counters c;
  int64_t start_us = 0;
  int remaining = 0;
  int next_source = 0;
  std::mt19937_64 rng;
  event* stop_timer = nullptr;
  std::string request_head;  // everything up to the cookie
  int open_conns = 0;
  int max_conns = 0;             // below RLIMIT_NOFILE; beyond it polls wait in `fd_queue`
  std::deque<Client*> fd_queue;  // FIFO
};

void schedule(Client& cl, int64_t delay_us);
void start_poll(Client& cl);

void close_conn(Client& cl) {
  if (cl.bev) {
    bufferevent_free(cl.bev);
    cl.bev = nullptr;
    Generator& g = *cl.gen;
    --g.open_conns;
    if (!g.fd_queue.empty()) {
      Client* next = g.fd_queue.front();
      g.fd_queue.pop_front();
      schedule(*next, 0);
    }
  }
  if (cl.timeout) event_del(cl.timeout);
}

// Parses a complete response in `in`; returns false while incomplete.
struct Response {
  int status = 0;
  int64_t retry_after_s = -1;
  int64_t refresh_s = -1;
  int64_t wait_ms = -1;  // JSON retry_after_ms, or the page script's reload delay
  std::string cookie;
  bool login_ok = false;
  bool is_html = false;
};

bool ieq_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
    v.remove_suffix(1);
  return v;
}

// 1 = complete, 0 = need more, -1 = malformed.
int parse_response(evbuffer* in, Response& r) {
  evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, nullptr);
  if (end.pos < 0) return evbuffer_get_length(in) > 65536 ? -1 : 0;
  const size_t head_len = static_cast<size_t>(end.pos) + 4;
  const size_t total = evbuffer_get_length(in);
  const char* data = reinterpret_cast<const char*>(evbuffer_pullup(in, -1));
  std::string_view head(data, head_len);
  int64_t content_length = -1;
  bool chunked = false;
  size_t pos = 0;
  bool first = true;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (first) {
      first = false;
      if (line.size() < 12 || line.substr(0, 5) != "HTTP/") return -1;
      r.status = std::atoi(std::string(line.substr(9, 3)).c_str());
      continue;
    }
    if (line.empty()) break;
    if (ieq_prefix(line, "content-length:")) {
      content_length = std::atoll(std::string(trim(line.substr(15))).c_str());
    } else if (ieq_prefix(line, "transfer-encoding:")) {
      chunked = trim(line.substr(18)).find("chunked") != std::string_view::npos;
    } else if (ieq_prefix(line, "retry-after:")) {
      r.retry_after_s = std::atoll(std::string(trim(line.substr(12))).c_str());
    } else if (ieq_prefix(line, "content-type:")) {
      r.is_html = trim(line.substr(13)).find("text/html") != std::string_view::npos;
    } else if (ieq_prefix(line, "set-cookie:")) {
      std::string_view v = trim(line.substr(11));
      if (v.substr(0, 10) == "pforte_wr=") {
        size_t semi = v.find(';');
        r.cookie = std::string(v.substr(10, semi == std::string_view::npos ? v.npos : semi - 10));
      }
    }
  }
  std::string_view body;
  if (chunked) {
    std::string_view rest(data + head_len, total - head_len);
    size_t fin = rest.find("\r\n0\r\n\r\n");
    if (fin == std::string_view::npos && rest.substr(0, 5) != "0\r\n\r\n") return 0;
    body = rest;
  } else if (content_length >= 0) {
    if (total < head_len + static_cast<size_t>(content_length)) return 0;
    body = std::string_view(data + head_len, static_cast<size_t>(content_length));
  } else {
    return 0;  // read until close; handled in the event callback
  }
  r.login_ok = r.status == 200 && body.find("\"ok\":true") != std::string_view::npos;
  if (size_t m = body.find("\"retry_after_ms\":"); m != std::string_view::npos) {
    r.wait_ms = std::atoll(std::string(body.substr(m + 17, 12)).c_str());
  }
  if (r.is_html) {
    size_t m = body.find("http-equiv=\"refresh\" content=\"");
    if (m != std::string_view::npos) {
      r.refresh_s = std::atoll(std::string(body.substr(m + 30, 12)).c_str());
    }
    // The built-in page's script reloads to the millisecond ("var m=N,").
    if (size_t s = body.find("<script>(function(){var m="); s != std::string_view::npos) {
      r.wait_ms = std::atoll(std::string(body.substr(s + 26, 12)).c_str());
    }
  }
  return 1;
}

void finish_poll(Client& cl, const Response& r) {
  Generator& g = *cl.gen;
  close_conn(cl);
  if (!r.cookie.empty()) cl.cookie = r.cookie;
  int64_t wait_s = 1;
  if (r.login_ok) {
    cl.done_us = now_us() - g.start_us;
    ++g.c.ok;
    if (--g.remaining == 0) event_base_loopexit(g.base, nullptr);
    return;
  }
  if (r.status == 429) {
    ++g.c.waiting;
    wait_s = r.retry_after_s >= 0 ? r.retry_after_s : 1;
  } else if (r.status == 200 && r.is_html && r.refresh_s >= 0) {
    ++g.c.pages;
    wait_s = r.refresh_s;
  } else if (r.status >= 500) {
    ++g.c.errors_5xx;
    if (r.status == 503) ++g.c.status_503;
    wait_s = r.retry_after_s >= 0 ? r.retry_after_s : 1;
  } else {
    ++g.c.other_status;
  }
  if (wait_s < 0) wait_s = 1;
  if (cl.abandons) {
    cl.left = true;
    ++g.c.left;
    if (--g.remaining == 0) event_base_loopexit(g.base, nullptr);
    return;
  }
  // A client that runs the page's script or reads retry_after_ms waits to the millisecond.
  const bool exact = !g.opt.whole_seconds && r.wait_ms > 0 && (r.status == 429 || r.is_html);
  schedule(cl, exact ? r.wait_ms * 1000 : wait_s * 1000000);
}

void fail_poll(Client& cl, bool timed_out) {
  Generator& g = *cl.gen;
  close_conn(cl);
  if (timed_out) {
    ++g.c.timeouts;
  } else {
    ++g.c.conn_errors;
  }
  schedule(cl, 1000000);  // a user pressing reload
}

void on_read(bufferevent* bev, void* arg) {
  Client& cl = *static_cast<Client*>(arg);
  Response r;
  int rc = parse_response(bufferevent_get_input(bev), r);
  if (rc == 0) return;
  if (rc < 0) {
    ++cl.gen->c.bad_responses;
    fail_poll(cl, false);
    return;
  }
  finish_poll(cl, r);
}

void on_event(bufferevent* bev, short what, void* arg) {
  Client& cl = *static_cast<Client*>(arg);
  if (what & BEV_EVENT_CONNECTED) {
    bufferevent_enable(bev, EV_READ);
    return;
  }
  if (what & BEV_EVENT_EOF) {
    // A response without a length ends at EOF.
    Response r;
    if (parse_response(bufferevent_get_input(bev), r) == 1) {
      finish_poll(cl, r);
      return;
    }
  }
  fail_poll(cl, false);
}

void on_timeout(evutil_socket_t, short, void* arg) {
  fail_poll(*static_cast<Client*>(arg), true);
}

void start_poll(Client& cl) {
  Generator& g = *cl.gen;
  const int64_t t = now_us() - g.start_us;
  if (cl.arrival_us == kNever) {
    cl.arrival_us = t;
    g.c.max_lag_us = std::max(g.c.max_lag_us, t - cl.scheduled_us);
  }
  if (cl.queued_at_us < 0 && g.open_conns >= g.max_conns) {
    // Out of descriptors (the hard RLIMIT_NOFILE may be below the client count): wait in line.
    cl.queued_at_us = t;
    ++g.c.queued;
    g.fd_queue.push_back(&cl);
    g.c.max_queue = std::max(g.c.max_queue, g.fd_queue.size());
    return;
  }
  if (cl.queued_at_us >= 0) {
    g.c.max_queue_us = std::max(g.c.max_queue_us, t - cl.queued_at_us);
    cl.queued_at_us = -1;
  }
  ++cl.polls;
  ++g.c.requests;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail_poll(cl, false);
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (g.opt.sources > 0) {
    // The port is picked at connect() time per 4-tuple, so each source address has its own range
    // and TIME_WAIT entries of earlier polls (reused on loopback with tcp_tw_reuse) do not block.
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | static_cast<uint32_t>(2 + g.next_source));
    g.next_source = (g.next_source + 1) % g.opt.sources;
    ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
  }
  cl.bev = bufferevent_socket_new(g.base, fd, BEV_OPT_CLOSE_ON_FREE);
  ++g.open_conns;
  bufferevent_setcb(cl.bev, on_read, nullptr, on_event, &cl);
  bufferevent_enable(cl.bev, EV_READ);
  std::string req = g.request_head;
  if (!cl.cookie.empty()) req += "Cookie: pforte_wr=" + cl.cookie + "\r\n";
  req += "\r\n{}";
  bufferevent_write(cl.bev, req.data(), req.size());
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(g.opt.target_port));
  ::inet_pton(AF_INET, g.opt.target_host.c_str(), &dst.sin_addr);
  if (!cl.timeout) cl.timeout = evtimer_new(g.base, on_timeout, &cl);
  timeval tv{
      static_cast<time_t>(g.opt.timeout_s),
      static_cast<suseconds_t>((g.opt.timeout_s - static_cast<int64_t>(g.opt.timeout_s)) * 1e6)};
  evtimer_add(cl.timeout, &tv);
  if (bufferevent_socket_connect(cl.bev, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    // bufferevent_socket_connect frees nothing on failure; the poll counts as a connect error.
    fail_poll(cl, false);
  }
}

void on_timer(evutil_socket_t, short, void* arg) {
  start_poll(*static_cast<Client*>(arg));
}

void schedule(Client& cl, int64_t delay_us) {
  if (!cl.timer) cl.timer = evtimer_new(cl.gen->base, on_timer, &cl);
  timeval tv{static_cast<time_t>(delay_us / 1000000), static_cast<suseconds_t>(delay_us % 1000000)};
  evtimer_add(cl.timer, &tv);
}

void on_stop(evutil_socket_t, short, void* arg) {
  event_base_loopexit(static_cast<Generator*>(arg)->base, nullptr);
}

// A blocking GET of the origin's stats after the run.
std::string fetch_stats(const Options& o) {
  if (o.stats_port == 0) return {};
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(o.stats_port));
  ::inet_pton(AF_INET, o.stats_host.c_str(), &dst.sin_addr);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0) {
    std::string req = "GET /_origin/stats HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : out.substr(body + 4);
}

// The number after `"key":` inside the object that follows `"section":`.
std::string json_number(const std::string& json, const std::string& section,
                        const std::string& key) {
  size_t s = json.find("\"" + section + "\"");
  if (s == std::string::npos) return "-";
  size_t k = json.find("\"" + key + "\":", s);
  if (k == std::string::npos) return "-";
  k += key.size() + 3;
  size_t e = json.find_first_of(",}", k);
  return json.substr(k, e - k);
}

struct Fairness {
  uint64_t max_overtakes = 0;  // most clients that arrived >= 1 s later but got in earlier
  uint64_t total_overtakes = 0;
  uint64_t overtaken_clients = 0;
};

// For each client i: clients j with arrival_j >= arrival_i + 1 s and done_j < done_i (a client
// that never got in has done = infinity). Fenwick tree over the ranks of done times.
Fairness fairness(const std::vector<Client>& cs, int64_t gap_us) {
  std::vector<const Client*> by_arrival;
  for (const Client& c : cs) {
    if (c.arrival_us != kNever && !c.left) by_arrival.push_back(&c);
  }
  std::sort(by_arrival.begin(), by_arrival.end(),
            [](const Client* a, const Client* b) { return a->arrival_us < b->arrival_us; });
  std::vector<int64_t> done_sorted;
  for (const Client* c : by_arrival) done_sorted.push_back(c->done_us);
  std::sort(done_sorted.begin(), done_sorted.end());
  std::vector<uint64_t> tree(done_sorted.size() + 1, 0);
  auto rank = [&](int64_t d) {  // 1-based rank of the first element >= d
    return static_cast<size_t>(std::lower_bound(done_sorted.begin(), done_sorted.end(), d) -
                               done_sorted.begin()) +
           1;
  };
  auto add = [&](size_t i) {
    for (; i < tree.size(); i += i & (~i + 1)) ++tree[i];
  };
  auto sum = [&](size_t i) {  // elements with rank <= i
    uint64_t s = 0;
    for (; i > 0; i -= i & (~i + 1)) s += tree[i];
    return s;
  };
  Fairness f;
  size_t j = by_arrival.size();  // by_arrival[j..] are in the tree
  for (size_t i = by_arrival.size(); i-- > 0;) {
    const Client& ci = *by_arrival[i];
    while (j > 0 && by_arrival[j - 1]->arrival_us >= ci.arrival_us + gap_us) {
      --j;
      if (by_arrival[j]->done_us != kNever) add(rank(by_arrival[j]->done_us));
    }
    const uint64_t n = sum(rank(ci.done_us) - 1);  // done strictly earlier
    f.total_overtakes += n;
    f.max_overtakes = std::max(f.max_overtakes, n);
    if (n > 0) ++f.overtaken_clients;
  }
  return f;
}

bool parse_hostport(const char* s, std::string& host, int& port) {
  std::string v(s);
  size_t c = v.rfind(':');
  if (c == std::string::npos) return false;
  host = v.substr(0, c);
  port = std::atoi(v.c_str() + c + 1);
  return port > 0 && port < 65536;
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: pforte-spike --target HOST:PORT [--stats HOST:PORT] [--clients N]\n"
               "       [--window S] [--limit S] [--mode json|page] [--path P] [--sources N]\n"
               "       [--timeout S] [--seed N] [--label NAME] [--whole-seconds]\n"
               "       [--abandon SHARE]\n");
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--target") {
      if (!parse_hostport(next(), o.target_host, o.target_port)) usage();
    } else if (a == "--stats") {
      if (!parse_hostport(next(), o.stats_host, o.stats_port)) usage();
    } else if (a == "--clients") {
      o.clients = std::atoi(next());
    } else if (a == "--window") {
      o.window_s = std::atof(next());
    } else if (a == "--limit") {
      o.limit_s = std::atof(next());
    } else if (a == "--mode") {
      std::string m = next();
      if (m != "json" && m != "page") usage();
      o.page_mode = m == "page";
    } else if (a == "--path") {
      o.path = next();
    } else if (a == "--sources") {
      o.sources = std::atoi(next());
    } else if (a == "--timeout") {
      o.timeout_s = std::atof(next());
    } else if (a == "--seed") {
      o.seed = std::strtoull(next(), nullptr, 10);
    } else if (a == "--label") {
      o.label = next();
    } else if (a == "--abandon") {
      o.abandon = std::atof(next());
    } else if (a == "--whole-seconds") {
      o.whole_seconds = true;
    } else {
      usage();
    }
  }
  if (o.target_port == 0 || o.clients <= 0 || o.window_s < 0 || o.limit_s <= 0 || o.sources < 0 ||
      o.sources > 250 || o.timeout_s <= 0)
    usage();
  return o;
}

double pct(std::vector<int64_t>& v, double p) {
  if (v.empty()) return -1;
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Generator g;
  g.opt = parse_options(argc, argv);
  const Options& o = g.opt;
  // Each client holds at most one connection at a time.
  rlimit rl{};
  const rlim_t want = static_cast<rlim_t>(o.clients) + 1024;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
    rlimit up{want, std::max(want, rl.rlim_max)};
    if (::setrlimit(RLIMIT_NOFILE, &up) != 0) {
      up = {rl.rlim_max, rl.rlim_max};
      ::setrlimit(RLIMIT_NOFILE, &up);
      std::fprintf(stderr, "pforte-spike: RLIMIT_NOFILE %llu < %llu; connects may fail\n",
                   static_cast<unsigned long long>(rl.rlim_max),
                   static_cast<unsigned long long>(want));
    }
  }
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    g.max_conns = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 24)) - 64;
  }
  if (g.max_conns < 1) g.max_conns = 1;
  event_config* cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  g.base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (!g.base) return 1;
  g.rng.seed(o.seed);
  g.request_head = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.target_host + ":" +
                   std::to_string(o.target_port) +
                   "\r\nUser-Agent: pforte-spike\r\nContent-Type: application/json\r\n"
                   "Content-Length: 2\r\n";
  g.request_head += o.page_mode ? "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
                                : "Accept: application/json\r\n";
  g.clients.resize(static_cast<size_t>(o.clients));
  g.remaining = o.clients;
  std::uniform_int_distribution<int64_t> arrive(0, static_cast<int64_t>(o.window_s * 1e6));
  g.start_us = now_us();
  for (int i = 0; i < o.clients; ++i) {
    Client& cl = g.clients[static_cast<size_t>(i)];
    cl.gen = &g;
    cl.index = i;
    cl.scheduled_us = arrive(g.rng);
    cl.abandons = std::uniform_real_distribution<double>(0, 1)(g.rng) < o.abandon;
    schedule(cl, cl.scheduled_us);
  }
  g.stop_timer = evtimer_new(g.base, on_stop, &g);
  timeval lim{static_cast<time_t>(o.limit_s),
              static_cast<suseconds_t>((o.limit_s - static_cast<int64_t>(o.limit_s)) * 1e6)};
  evtimer_add(g.stop_timer, &lim);
  event_base_dispatch(g.base);
  const double wall_s = static_cast<double>(now_us() - g.start_us) / 1e6;

  std::vector<int64_t> waits;
  uint64_t in = 0;
  // Clients who left are not waited for: shares are of those who stayed.
  const int stayed = o.clients - static_cast<int>(g.c.left);
  for (const Client& cl : g.clients) {
    if (cl.done_us != kNever) {
      ++in;
      waits.push_back(cl.done_us - cl.arrival_us);
    }
  }
  std::sort(waits.begin(), waits.end());
  const Fairness f = fairness(g.clients, 1000000);
  const Fairness f100 = fairness(g.clients, 100000);
  const std::string stats = fetch_stats(o);
  const std::string peak = json_number(stats, "login", "peak_per_second");
  const std::string served = json_number(stats, "login", "served");
  const std::string rejected = json_number(stats, "login", "rejected");

  std::printf(
      "%s: %d clients in %.1f s window (%s mode), limit %.0f s, ran %.1f s\n"
      "  logged in: %llu (%.2f %% of those who stayed; %llu left after their first answer)\n"
      "  time to get in: p50 %.2f s, p99 %.2f s, max %.2f s\n"
      "  requests %llu (%.0f/s), 5xx %llu (503: %llu), 429 %llu, pages %llu, other %llu,"
      " conn errors %llu, timeouts %llu, bad %llu\n"
      "  fairness: max overtakes of one client by later (>= 1 s) arrivals %llu, total %llu,"
      " clients overtaken %llu\n"
      "  the same for arrivals >= 0.1 s later: max %llu, total %llu, clients overtaken %llu\n"
      "  origin: login served %s, rejected %s, peak per second %s\n"
      "  generator: latest first request %.2f s after its planned arrival; %d descriptors;"
      " %llu polls waited for one (queue max %zu, longest wait %.2f s)\n",
      o.label.c_str(), o.clients, o.window_s, o.page_mode ? "page" : "json", o.limit_s, wall_s,
      static_cast<unsigned long long>(in), 100.0 * static_cast<double>(in) / stayed,
      static_cast<unsigned long long>(g.c.left), pct(waits, 0.5), pct(waits, 0.99), pct(waits, 1.0),
      static_cast<unsigned long long>(g.c.requests), static_cast<double>(g.c.requests) / wall_s,
      static_cast<unsigned long long>(g.c.errors_5xx),
      static_cast<unsigned long long>(g.c.status_503), static_cast<unsigned long long>(g.c.waiting),
      static_cast<unsigned long long>(g.c.pages), static_cast<unsigned long long>(g.c.other_status),
      static_cast<unsigned long long>(g.c.conn_errors),
      static_cast<unsigned long long>(g.c.timeouts),
      static_cast<unsigned long long>(g.c.bad_responses),
      static_cast<unsigned long long>(f.max_overtakes),
      static_cast<unsigned long long>(f.total_overtakes),
      static_cast<unsigned long long>(f.overtaken_clients),
      static_cast<unsigned long long>(f100.max_overtakes),
      static_cast<unsigned long long>(f100.total_overtakes),
      static_cast<unsigned long long>(f100.overtaken_clients), served.c_str(), rejected.c_str(),
      peak.c_str(), static_cast<double>(g.c.max_lag_us) / 1e6, g.max_conns,
      static_cast<unsigned long long>(g.c.queued), g.c.max_queue,
      static_cast<double>(g.c.max_queue_us) / 1e6);
  std::printf(
      "RESULT label=%s mode=%s clients=%d left=%llu in=%llu in_pct=%.2f p50=%.2f p99=%.2f max=%.2f "
      "requests=%llu err5xx=%llu conn_err=%llu timeouts=%llu overtakes_max=%llu "
      "overtakes_total=%llu overtaken=%llu ot100_max=%llu ot100_total=%llu ot100_clients=%llu "
      "origin_served=%s origin_rejected=%s origin_peak=%s "
      "lag=%.2f fdwait=%.2f wall=%.1f\n",
      o.label.c_str(), o.page_mode ? "page" : "json", o.clients,
      static_cast<unsigned long long>(g.c.left), static_cast<unsigned long long>(in),
      100.0 * static_cast<double>(in) / stayed, pct(waits, 0.5), pct(waits, 0.99), pct(waits, 1.0),
      static_cast<unsigned long long>(g.c.requests),
      static_cast<unsigned long long>(g.c.errors_5xx),
      static_cast<unsigned long long>(g.c.conn_errors),
      static_cast<unsigned long long>(g.c.timeouts),
      static_cast<unsigned long long>(f.max_overtakes),
      static_cast<unsigned long long>(f.total_overtakes),
      static_cast<unsigned long long>(f.overtaken_clients),
      static_cast<unsigned long long>(f100.max_overtakes),
      static_cast<unsigned long long>(f100.total_overtakes),
      static_cast<unsigned long long>(f100.overtaken_clients), served.c_str(), rejected.c_str(),
      peak.c_str(), static_cast<double>(g.c.max_lag_us) / 1e6,
      static_cast<double>(g.c.max_queue_us) / 1e6, wall_s);
  std::fflush(stdout);
  for (Client& cl : g.clients) {
    close_conn(cl);
    if (cl.timer) event_free(cl.timer);
    if (cl.timeout) event_free(cl.timeout);
  }
  event_free(g.stop_timer);
  event_base_free(g.base);
  return 0;
}
