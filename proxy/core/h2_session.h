// A downstream HTTP/2 connection (TLS with ALPN h2, or h2c with prior knowledge) on nghttp2:
// one exchange per stream, flow control honoured both ways (request DATA is acknowledged with
// WINDOW_UPDATE only as the upstream takes it; response DATA is sent zero-copy from each stream's
// evbuffer as the client's windows allow), trailers both ways, GOAWAY on protocol errors and
// floods (nghttp2's own detection plus a reset-rate limit), graceful GOAWAY on drain.
// Worker thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

#include "proxy/common/handles.h"
#include "proxy/common/read_rest.h"
#include "proxy/core/downstream.h"
#include "proxy/core/exchange.h"
#include "proxy/core/h2_session_memory.h"
#include "proxy/core/worker_context.h"

namespace pforte::core {

class H2Session final : public Session {
 public:
  H2Session(WorkerContext& worker, BuffereventPtr bev, PeerInfo peer);
  ~H2Session() override;

  void start() override;
  void begin_drain() override;
  void close_now() override;

 private:
  class Stream;
  friend class Stream;

  /// How long a connection is idle (no stream open) before trim().
  static constexpr Millis kTrimAfter{1'000};

  struct SessionFree {
    void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
  };

  void on_input();
  /// Sends what nghttp2 has queued, as far as the output buffer allows. Safe to call anytime.
  void flush();
  /// Bytes queued for the client: staged and in the bufferevent.
  size_t output_pending() const;
  /// Where frames are written: the stage (TLS) or the bufferevent's output (cleartext).
  evbuffer* output();
  /// Flushes once at the end of this loop iteration (batches many streams into one write).
  void schedule_flush();
  static void on_flush_event(evutil_socket_t, short, void* self);
  void close();
  void arm_idle_timer();
  /// Gives back what an idle connection need not hold: the pages of nghttp2's frame buffer and
  /// stream table (H2SessionMemory) and OpenSSL's empty record buffers. Reallocated by the next
  /// use.
  void trim();
  Stream* stream(int32_t id);
  void dispatch(Stream& s);
  void submit_response(Stream& s, const BodyInfo& body);
  void resume_stream(Stream& s);
  void consume(Stream& s, size_t n);
  /// Logs a protocol violation by the client (the first one of the connection at info level).
  void protocol_error(const char* what);

  static void on_read(bufferevent* bev, void* self);
  static void on_tls_readable(evutil_socket_t, short, void* self);
  void read_tls();
  static void on_write(bufferevent* bev, void* self);
  static void on_event(bufferevent* bev, short what, void* self);
  static void on_timer(evutil_socket_t, short, void* self);

  // nghttp2 callbacks.
  static ssize_t cb_send(nghttp2_session*, const uint8_t* data, size_t len, int, void* self);
  static int cb_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                          size_t length, nghttp2_data_source* source, void* self);
  static int cb_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int cb_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                       void* self);
  static int cb_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int cb_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                           size_t len, void* self);
  static int cb_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self);
  static int cb_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int cb_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                              void* self);
  static int cb_error(nghttp2_session*, int lib_error, const char* msg, size_t len, void* self);
  static ssize_t cb_read_data(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                              uint32_t* data_flags, nghttp2_data_source* source, void* self);

  WorkerContext& worker_;
  BuffereventPtr bev_;
  ReadRest read_rest_;  ///< h2c only; after bev_, so that it goes first
  PeerInfo peer_;
  H2SessionMemory memory_;  ///< before session_, which uses it until deleted
  std::unique_ptr<nghttp2_session, SessionFree> session_;
  EventPtr timer_;
  EventPtr flush_event_;
  /// TLS only: the client socket's read event. The session reads through SSL_read itself, with
  /// OpenSSL's read-ahead: one read() per burst instead of one for each record's 5-byte header
  /// and one for its body. (bufferevent_openssl would stop reading while records wait in
  /// OpenSSL's buffer, because it only asks SSL_pending(); its own reading is switched off.)
  EventPtr tls_read_;
  /// TLS only: frames collect here during a flush and then move to the bufferevent in 16 KiB
  /// contiguous pieces, so each becomes one full TLS record (see move_in_pieces).
  EvbufferPtr stage_;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  int32_t last_id_ = 0;            ///< stream(): the last stream found ...
  Stream* last_stream_ = nullptr;  ///< ... (null once it leaves streams_)
  EvbufferPtr scratch_;
  bool in_recv_ = false;
  bool in_send_ = false;
  bool send_again_ = false;
  bool closed_ = false;
  bool draining_input_stopped_ = false;  ///< after a protocol error: nothing more is read
  bool tls_read_retry_ = false;          ///< tls_read_ carries kTlsReadRetry as its timeout
  bool draining_ = false;
  bool saw_preface_ = false;
  bool protocol_error_logged_ = false;
  bool flush_scheduled_ = false;
  bool trim_pending_ = false;  ///< the idle timer's next expiry trims; the one after closes
};

}  // namespace pforte::core
