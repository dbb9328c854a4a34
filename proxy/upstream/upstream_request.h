// One request/response conversation with an upstream over HTTP/1.1: takes a pooled connection or
// connects (retrying a failed connect once on another server), writes the request head and streams
// the body with back-pressure, parses the response head strictly, and streams the response body
// (Content-Length, chunked with trailers, or until close) to its Handler. Returns the connection
// to the pool when it can be reused. Worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/handles.h"
#include "proxy/http/h1_parser.h"
#include "proxy/module/module.h"
#include "proxy/upstream/pool.h"

namespace pforte::upstream {

/// How the request body is framed towards the upstream.
enum class BodyMode : uint8_t { kNone, kLength, kChunked };

/// Why an upstream conversation failed.
enum class Failure : uint8_t {
  kConnect,      ///< no server could be connected (refused, unreachable)
  kTimeout,      ///< connect, response or read timeout
  kReset,        ///< the connection closed before the response was complete
  kBadResponse,  ///< the response head or body framing was invalid
};

/// What the response head says about the body.
struct ResponseInfo {
  bool has_body = true;
  std::optional<uint64_t> content_length;  ///< known length of the body, if any
  bool upgraded = false;                   ///< 101 Switching Protocols for an upgrade request
};

class UpstreamRequest {
 public:
  /// Receives the conversation's events. Calls may happen from inside upstream I/O callbacks;
  /// the handler must not destroy the UpstreamRequest synchronously (use detach() and defer).
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void on_upstream_head(module::Response&& head, const ResponseInfo& info) = 0;
    virtual void on_upstream_body(evbuffer* piece) = 0;
    virtual void on_upstream_end(const http::Headers* trailers) = 0;
    virtual void on_upstream_failure(Failure failure) = 0;
    /// The upstream took buffered request body: more may be sent.
    virtual void on_upstream_writable() = 0;
  };

  /// `head` is the serialized request head including framing fields and the final CRLF.
  /// `retry_on_stale`: the request may be sent again if a reused connection fails before any
  /// response byte (idempotent, no body).
  UpstreamRequest(UpstreamPool& pool, Handler& handler, std::string method, std::string head,
                  BodyMode mode, bool expects_upgrade, bool retry_on_stale);
  ~UpstreamRequest();
  UpstreamRequest(const UpstreamRequest&) = delete;
  UpstreamRequest& operator=(const UpstreamRequest&) = delete;

  void start();
  /// Appends request body bytes (drains `data`).
  void send_body(evbuffer* data);
  /// The request body is complete (`trailers` only for chunked mode; may be null).
  void end_body(const http::Headers* trailers);
  /// Request bytes accepted but not yet written to the socket.
  size_t pending_request_bytes() const;
  /// Enables or disables reading the response (downstream back-pressure).
  void set_reading(bool enabled);
  /// Stops calling the handler and releases callbacks; the object may then be destroyed later.
  void detach();
  /// For a 101 upgrade: the raw connection, with any bytes already read after the head.
  std::unique_ptr<Connection> take_connection();
  /// The server used ("10.0.0.11:8080"), empty before one was picked.
  const std::string& server_text() const { return server_text_; }
  /// Response body bytes received.
  uint64_t response_bytes() const { return response_bytes_; }

 private:
  enum class State : uint8_t { kIdle, kConnecting, kAwaitHead, kBody, kDone, kFailed };

  /// Sends the request to `server` (picked by the caller), or to the pool's next pick among
  /// the servers not tried yet.
  void connect_next(std::optional<size_t> server = std::nullopt);
  void on_connected();
  void flush_pending();
  /// True once the connection is established (or reused) and bytes may be written.
  bool connected() const;
  /// Writes buffered request bytes to the socket now; arms EV_WRITE only for what is left.
  void write_now();
  /// Where request body bytes go now: the connection's output, or pending_ until connected.
  evbuffer* body_target();
  void process_input();
  void finish_response(const http::Headers* trailers);
  void fail(Failure failure);
  void set_read_timeout(bool on);
  bool try_stale_retry();
  /// After the server closed the connection or timed out before any response byte: for an
  /// idempotent request without a body, marks the server failed and sends the request once more
  /// to another server, within the budget. `what` is for the log.
  bool try_other_server(const char* what);
  /// The server for a retry of kind `reason`: one not tried yet, if the budget allows and the
  /// retry (`used`, set here) has not been made. nullopt otherwise.
  std::optional<size_t> take_retry(UpstreamPool::RetryReason reason, bool& used);
  /// After a failed connect: connects to another server if one is left and the budget allows.
  bool retry_connect();

  static void on_read(bufferevent* bev, void* self);
  static void on_write(bufferevent* bev, void* self);
  static void on_event(bufferevent* bev, short what, void* self);

  UpstreamPool& pool_;
  Handler* handler_;
  std::string method_;
  std::string head_;
  BodyMode mode_;
  bool expects_upgrade_;
  bool retry_on_stale_;

  State state_ = State::kIdle;
  std::unique_ptr<Connection> conn_;
  std::vector<size_t> tried_;      ///< servers tried for a connect
  bool connect_retried_ = false;   ///< the one connect retry was used
  bool answer_retried_ = false;    ///< the one retry after a server failed to answer was used
  bool request_complete_ = false;  ///< end_body() was called
  bool reading_ = true;
  bool read_timeout_on_ = false;  ///< the response timeout is armed on reads
  bool counted_ = false;          ///< request_started() was called for conn_'s server
  EvbufferPtr pending_;  ///< request body bytes waiting for the connection (created on need)
  evbuffer* piece_;      ///< the pool's scratch buffer for body pieces to the handler
  http::BodyFraming framing_ = http::BodyFraming::kNone;
  uint64_t remaining_ = 0;  ///< Content-Length body bytes still expected
  bool keep_alive_ = false;
  http::ChunkedDecoder chunked_;
  std::string server_text_;
  uint64_t response_bytes_ = 0;
};

}  // namespace pforte::upstream
