#include "proxy/net/listen_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pforte::net {

std::expected<int, std::string> open_listen_socket(const config::SocketAddress& address,
                                                   int backlog) {
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(&address.addr);
  int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(std::string("socket: ") + strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (sa->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd, sa, address.len) != 0) {
    std::string msg = "bind " + address.text + ": " + strerror(errno);
    ::close(fd);
    return std::unexpected(msg);
  }
  if (::listen(fd, backlog) != 0) {
    std::string msg = "listen " + address.text + ": " + strerror(errno);
    ::close(fd);
    return std::unexpected(msg);
  }
  return fd;
}

config::SocketAddress bound_address(int fd) {
  config::SocketAddress out;
  out.len = sizeof out.addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&out.addr), &out.len);
  out.text = address_text(reinterpret_cast<const sockaddr*>(&out.addr), true);
  return out;
}

std::string address_text(const sockaddr* addr, bool with_port) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    port = ntohs(in->sin_port);
    return with_port ? std::string(ip) + ":" + std::to_string(port) : std::string(ip);
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
    return with_port ? "[" + std::string(ip) + "]:" + std::to_string(port) : std::string(ip);
  }
  return "unix";
}

}  // namespace pforte::net
