// The client side of one exchange, implemented by the HTTP/1.1 session (one exchange at a time
// per connection) and the HTTP/2 session (one per stream). The exchange talks only to this, so
// nothing above the session knows the downstream protocol. Worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "proxy/module/module.h"
#include "proxy/upstream/pool.h"

namespace pforte::core {

/// What the response body will be.
struct BodyInfo {
  bool has_body = true;                    ///< false: the head ends the response
  std::optional<uint64_t> content_length;  ///< known length (also for HEAD responses)
};

class Downstream {
 public:
  virtual ~Downstream() = default;
  /// Sends the response head. `head.headers` holds no framing or hop-by-hop fields. The head
  /// becomes the downstream's: HTTP/2 keeps its fields until the HEADERS frame is written.
  virtual void send_head(module::Response&& head, const BodyInfo& body) = 0;
  /// Queues response body bytes (drains `piece`).
  virtual void send_body(evbuffer* piece) = 0;
  /// Ends the response, with trailers if any (dropped where the protocol cannot carry them).
  virtual void send_end(const http::Headers* trailers) = 0;
  /// Response bytes queued but not yet written to the client.
  virtual size_t response_buffered() const = 0;
  /// The response cannot be completed (upstream failed mid-body): reset the stream or close the
  /// connection so the client sees a truncated response, not a complete one.
  virtual void abort_response() = 0;
  /// Back-pressure on the request body: stop (true) or resume (false) reading it.
  virtual void pause_request_body(bool paused) = 0;
  /// HTTP/1.1 "100 Continue" before reading a body the client holds back.
  virtual void send_continue() {}
  /// After a 101 head: relay raw bytes between the client and `upstream` (HTTP/1.1 only).
  virtual void start_tunnel(std::unique_ptr<upstream::Connection> upstream) = 0;
  /// The exchange is over; the session releases it (never synchronously inside this call).
  virtual void exchange_finished() = 0;
};

}  // namespace pforte::core
