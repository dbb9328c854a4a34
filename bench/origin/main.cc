// pforte-origin: the origin simulator that tests, the demo and benchmarks run behind pforte.
// See README.md for the command line and the endpoints.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/origin/options.h"
#include "bench/origin/state.h"
#include "bench/origin/worker.h"

namespace pforte::origin {
namespace {

// Sockets bound to one --listen address, one per worker, sharing the port via SO_REUSEPORT.
struct BoundAddress {
  std::vector<int> fds;  // one per worker
  std::string text;      // "127.0.0.1:PORT" with the real port
  uint16_t port = 0;     // the real port
};

std::string format_address(const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = {};
  char out[INET6_ADDRSTRLEN + 16];
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
    std::snprintf(out, sizeof out, "[%s]:%u", host, ntohs(in6.sin6_port));
  } else {
    const auto& in4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &in4.sin_addr, host, sizeof host);
    std::snprintf(out, sizeof out, "%s:%u", host, ntohs(in4.sin_port));
  }
  return out;
}

bool bind_address(const ListenAddress& listen, int workers, BoundAddress& out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(listen.port);
  int rc = getaddrinfo(listen.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    error = listen.host + ": " + gai_strerror(rc);
    return false;
  }
  sockaddr_storage address{};
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  socklen_t length = found->ai_addrlen;
  freeaddrinfo(found);

  for (int i = 0; i < workers; ++i) {
    int fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    out.fds.push_back(fd);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (address.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
      error =
          "bind " + listen.host + ":" + std::to_string(listen.port) + ": " + std::strerror(errno);
      return false;
    }
    if (::listen(fd, 4096) != 0) {
      error = std::string("listen: ") + std::strerror(errno);
      return false;
    }
    if (i == 0) {
      // Later sockets join the port the first one got (port 0 = ephemeral).
      socklen_t bound_length = sizeof address;
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &bound_length);
      out.text = format_address(address);
      out.port = address.ss_family == AF_INET6
                     ? ntohs(reinterpret_cast<sockaddr_in6&>(address).sin6_port)
                     : ntohs(reinterpret_cast<sockaddr_in&>(address).sin_port);
    }
  }
  return true;
}

bool write_port_file(const std::string& path, const std::vector<BoundAddress>& bound) {
  // Readers poll for the file; they must never see it half written.
  std::string temp = path + ".tmp." + std::to_string(getpid());
  FILE* file = std::fopen(temp.c_str(), "w");
  if (!file) return false;
  for (const auto& address : bound) std::fprintf(file, "%u\n", address.port);
  bool ok = std::fflush(file) == 0 && fsync(fileno(file)) == 0;
  ok = std::fclose(file) == 0 && ok;
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return false;
  }
  return true;
}

void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed) {
    if (parsed.error().empty()) {
      std::fputs(usage().data(), stdout);
      return 0;
    }
    std::fprintf(stderr, "pforte-origin: %s\n%s", parsed.error().c_str(), usage().data());
    return 2;
  }
  raise_descriptor_limit();
  signal(SIGPIPE, SIG_IGN);
  // Only the main thread takes SIGTERM/SIGINT (through sigwait); workers inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<BoundAddress> bound(parsed->listen.size());
  for (size_t i = 0; i < bound.size(); ++i) {
    std::string error;
    if (!bind_address(parsed->listen[i], parsed->threads, bound[i], error)) {
      std::fprintf(stderr, "pforte-origin: %s\n", error.c_str());
      return 1;
    }
  }

  Origin origin(std::move(*parsed));
  const Options& options = origin.options;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < options.threads; ++w) {
    std::vector<evutil_socket_t> fds;
    for (auto& address : bound) fds.push_back(address.fds[static_cast<size_t>(w)]);
    workers.push_back(std::make_unique<Worker>(origin, w, fds));
  }
  std::vector<std::thread> threads;
  for (auto& worker : workers) threads.emplace_back([w = worker.get()] { w->run(); });

  for (const auto& address : bound) std::printf("listening %s\n", address.text.c_str());
  std::fflush(stdout);
  if (!options.port_file.empty() && !write_port_file(options.port_file, bound)) {
    std::fprintf(stderr, "pforte-origin: cannot write %s: %s\n", options.port_file.c_str(),
                 std::strerror(errno));
  }
  if (!options.quiet) {
    std::fprintf(stderr, "pforte-origin: %d thread(s), blog %s, login capacity %llu\n",
                 options.threads, blog_mode_name(options.blog_mode).data(),
                 static_cast<unsigned long long>(options.login_capacity));
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  for (auto& worker : workers) worker->stop();
  for (auto& thread : threads) thread.join();
  workers.clear();
  if (!options.quiet) std::fprintf(stderr, "pforte-origin: stopped by signal %d\n", signal_number);
  return 0;
}

}  // namespace
}  // namespace pforte::origin

int main(int argc, char** argv) {
  return pforte::origin::run(argc, argv);
}
