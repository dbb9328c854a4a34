// A downstream HTTP/1.1 connection: strict request parsing (proxy/http/h1_parser.h), one exchange
// at a time so pipelined requests are answered in order, request bodies streamed with
// back-pressure, responses framed by Content-Length, chunked or connection close, keep-alive,
// header/idle timeouts, lingering close after errors, and Upgrade tunnels. Worker thread only.
#pragma once

#include <cstdint>
#include <memory>

#include "proxy/common/handles.h"
#include "proxy/common/read_rest.h"
#include "proxy/core/downstream.h"
#include "proxy/core/exchange.h"
#include "proxy/core/worker_context.h"
#include "proxy/http/h1_parser.h"

namespace pforte::core {

class H1Session final : public Session, public Downstream {
 public:
  H1Session(WorkerContext& worker, BuffereventPtr bev, PeerInfo peer);
  ~H1Session() override;

  // Session
  void start() override;
  void begin_drain() override;
  void close_now() override;

  // Downstream
  void send_head(module::Response&& head, const BodyInfo& body) override;
  void send_body(evbuffer* piece) override;
  void send_end(const http::Headers* trailers) override;
  size_t response_buffered() const override;
  void abort_response() override;
  void pause_request_body(bool paused) override;
  void send_continue() override;
  void start_tunnel(std::unique_ptr<upstream::Connection> upstream) override;
  void exchange_finished() override;

 private:
  enum class Body : uint8_t { kNone, kLength, kChunked };

  void process_input();
  /// Starts or stops reading the client: read_event_ for cleartext, the bufferevent for TLS.
  void set_reading(bool on);
  /// Hands reading back to the bufferevent (for a tunnel or an h2c session).
  void stop_own_reading();
  /// Makes sure the queued response bytes are written: cleartext at the end of this loop turn
  /// (flush_), TLS, tunnels and a full socket through the bufferevent's write event.
  void write_now();
  /// At the end of a response: arranges for flush_end() to write it straight to the socket.
  void write_end();
  /// Writes the response write_end() completed straight to the socket, once the exchange has
  /// logged it.
  void flush_end();
  bool read_head(evbuffer* in);
  void feed_body(evbuffer* in);
  void reject(int status, std::string_view reason);
  void after_response();
  void close();
  void linger();
  void arm_timer();
  void relay(bufferevent* from, bufferevent* to);

  static void on_read(bufferevent* bev, void* self);
  static void on_socket_readable(evutil_socket_t fd, short, void* self);
  static void on_write(bufferevent* bev, void* self);
  static void on_event(bufferevent* bev, short what, void* self);
  static void on_timer(evutil_socket_t, short, void* self);
  static void on_flush(evutil_socket_t, short, void* self);
  static void on_tunnel_read(bufferevent* bev, void* self);
  static void on_tunnel_write(bufferevent* bev, void* self);
  static void on_tunnel_event(bufferevent* bev, short what, void* self);

  WorkerContext& worker_;
  BuffereventPtr bev_;
  /// Cleartext only: our own read event on the socket (see on_socket_readable); the
  /// bufferevent then only writes. After bev_, so that it goes first.
  EventPtr read_event_;
  bool reading_ = false;  ///< read_event_ is added
  /// Cleartext only: activated by write_now() to write what the loop turn queued in one writev.
  /// Cheaper than enabling the bufferevent's write event for each response and disabling it
  /// again once the socket took the bytes (an event_add with the write timeout, then an
  /// event_del), which is now done only when the socket is full.
  EventPtr flush_;
  bool flush_scheduled_ = false;  ///< flush_ is active
  PeerInfo peer_;
  EventPtr timer_;
  std::shared_ptr<Exchange> exchange_;
  EvbufferPtr scratch_;

  // Request side of the current exchange.
  Body body_ = Body::kNone;
  uint64_t body_remaining_ = 0;
  uint64_t body_received_ = 0;
  bool request_done_ = true;
  bool body_paused_ = false;
  http::ChunkedDecoder chunked_;

  // Response side.
  bool response_chunked_ = false;
  bool response_head_only_ = false;
  int client_minor_ = 1;
  bool head_request_ = false;

  uint64_t requests_ = 0;
  bool keep_alive_ = true;
  bool closing_ = false;             ///< close once the output is flushed
  bool direct_end_pending_ = false;  ///< write_end() left the write to flush_end()
  bool lingering_ = false;           ///< write side shut, discarding input before the close
  bool closed_ = false;
  bool draining_ = false;
  bool in_process_ = false;
  std::unique_ptr<upstream::Connection> tunnel_;
};

}  // namespace pforte::core
