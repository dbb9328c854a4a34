#include "proxy/core/h2_session.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>

#include "proxy/common/evbuffer_util.h"
#include "proxy/common/http_date.h"
#include "proxy/common/log.h"
#include "proxy/net/tls_output.h"

namespace pforte::core {

namespace {

constexpr size_t kOutputHighWatermark = 64 * 1024;
constexpr int32_t kStreamWindow = 256 * 1024;
constexpr int32_t kConnectionWindow = 4 * 1024 * 1024;
constexpr size_t kTlsRecord = 16 * 1024;        ///< largest TLS record payload
constexpr size_t kResponseHpackTable = 1024;    ///< our encoder's HPACK table, see start()
constexpr size_t kTlsReadPerTurn = 256 * 1024;  ///< read_tls(): at most this much per loop turn
/// read_tls(): when OpenSSL must write before it can read on (a TLS 1.3 KeyUpdate answer) and
/// the output is full, reading is tried again after this, or when the socket has more.
constexpr timeval kTlsReadRetry{0, 50'000};

nghttp2_nv make_nv(std::string_view name, std::string_view value,
                   uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), flags};
}

}  // namespace

/// One HTTP/2 stream: the Downstream of one exchange.
class H2Session::Stream final : public Downstream {
 public:
  Stream(H2Session& session, int32_t id) : session_(session), id_(id), out_(make_evbuffer()) {}

  // Downstream
  void send_head(module::Response&& head, const BodyInfo& body) override {
    if (closed_) return;
    has_body_ = body.has_body;
    head_ = std::move(head);
    session_.submit_response(*this, body);
  }
  void send_body(evbuffer* piece) override {
    if (closed_) {
      evbuffer_drain(piece, evbuffer_get_length(piece));
      return;
    }
    evbuffer_add_buffer(out_.get(), piece);
    session_.resume_stream(*this);
  }
  void send_end(const http::Headers* trailers) override {
    if (closed_) return;
    if (trailers && !trailers->empty()) trailers_ = *trailers;
    ended_ = true;
    if (has_body_) session_.resume_stream(*this);
  }
  size_t response_buffered() const override { return evbuffer_get_length(out_.get()); }
  void abort_response() override {
    if (closed_) return;
    nghttp2_submit_rst_stream(session_.session_.get(), NGHTTP2_FLAG_NONE, id_,
                              NGHTTP2_INTERNAL_ERROR);
    session_.schedule_flush();
  }
  void pause_request_body(bool paused) override {
    paused_ = paused;
    if (!paused && unconsumed_ > 0) {
      size_t n = unconsumed_;
      unconsumed_ = 0;
      session_.consume(*this, n);
    }
  }
  void start_tunnel(std::unique_ptr<upstream::Connection>) override {}
  void exchange_finished() override { finished_ = true; }

  H2Session& session_;
  int32_t id_;
  RequestInfo info_;
  std::shared_ptr<Exchange> exchange_;
  EvbufferPtr out_;                        ///< response body waiting to be framed
  std::optional<http::Headers> trailers_;  ///< response trailers
  /// The response head: nghttp2 reads its fields (NO_COPY) when it writes the HEADERS frame,
  /// which is before the stream closes, or drops the frame without reading them.
  module::Response head_;
  char status_text_[4] = {};
  char length_text_[24] = {};
  http::Headers request_trailers_;
  size_t header_bytes_ = 0;
  uint64_t body_received_ = 0;
  size_t unconsumed_ = 0;  ///< request DATA not yet acknowledged (back-pressure)
  bool has_body_ = true;
  bool ended_ = false;     ///< the response body is complete
  bool deferred_ = false;  ///< the data source returned NGHTTP2_ERR_DEFERRED
  bool paused_ = false;
  bool dispatched_ = false;
  bool request_ended_ = false;
  bool head_request_ = false;  ///< HEAD: the response has no body
  bool peer_reset_ = false;    ///< the client sent RST_STREAM
  bool rejected_ = false;      ///< answered locally because the request head was invalid
  int reject_status_ = 0;
  bool finished_ = false;
  bool closed_ = false;
};

H2Session::H2Session(WorkerContext& worker, BuffereventPtr bev, PeerInfo peer)
    : worker_(worker),
      bev_(std::move(bev)),
      peer_(std::move(peer)),
      timer_(evtimer_new(worker.base(), &H2Session::on_timer, this)),
      flush_event_(event_new(worker.base(), -1, 0, &H2Session::on_flush_event, this)),
      stage_(peer_.tls ? make_evbuffer() : nullptr),
      scratch_(make_evbuffer()) {
  if (!peer_.tls) read_rest_.watch(bev_.get());
}

H2Session::~H2Session() {
  for (auto& [id, s] : streams_) {
    (void)id;
    s->closed_ = true;
    if (s->exchange_) s->exchange_->on_downstream_closed();
  }
  if (bev_) bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
}

void H2Session::start() {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &cb_send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &cb_send_data);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &cb_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &cb_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &cb_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &cb_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &cb_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &cb_frame_send);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, &cb_invalid_frame);
  nghttp2_session_callbacks_set_error_callback2(cbs, &cb_error);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
  // nghttp2 would keep every closed stream (up to max_concurrent_streams of them, ~220 bytes
  // each) in case a later stream names it as a dependency in the RFC 7540 priority scheme, which
  // RFC 9113 deprecated; a stream that depends on a closed one gets the default priority instead.
  nghttp2_option_set_no_closed_streams(opt, 1);
  // Responses use a small HPACK dynamic table: the fields every response repeats (server, via,
  // content-type, cache-control, vary, accept-ranges, date within its second) are sent as
  // one-byte indexes instead of being Huffman-coded again (callgrind: 67,150 -> 62,355
  // instructions per cached 4 KiB h2 TLS hit; a 4 KiB table: 60,822, and 0.95x the CPU per hit
  // in an interleaved A/B). The encoder keeps a copy of what it put into the client's table for
  // as long as the connection lives, so the table is kept at 1 KiB rather than the client's
  // 4 KiB: ~1.2 KiB more per idle h2 TLS connection after one response (2,000-connection probe),
  // up to 0.7 KiB more per h2c connection after ten (test_idle_memory.py). Values new in every
  // response are never indexed (submit_response); nghttp2 itself skips etag, age,
  // content-length and location.
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, kResponseHpackTable);
  nghttp2_session* session = nullptr;
  memory_.expect_session_new(true);
  nghttp2_session_server_new3(&session, cbs, this, opt, memory_.mem());
  memory_.expect_session_new(false);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  session_.reset(session);

  const config::LimitsConfig& limits = worker_.config().limits;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.h2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(limits.max_header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      // RFC 9218: no RFC 7540 priority tree. nghttp2 then schedules streams without it and keeps
      // no closed streams for it; we never honoured the tree's weights anyway.
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);

  bufferevent_setcb(bev_.get(), &on_read, &on_write, &on_event, this);
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kOutputHighWatermark / 2, 0);
  bufferevent_set_timeouts(bev_.get(), nullptr, worker_.timeouts().get(limits.idle_timeout));
  if (peer_.tls) {
    SSL_set_read_ahead(bufferevent_openssl_get_ssl(bev_.get()), 1);
    bufferevent_disable(bev_.get(), EV_READ);
    bufferevent_enable(bev_.get(), EV_WRITE);
    tls_read_.reset(event_new(worker_.base(), bufferevent_getfd(bev_.get()), EV_READ | EV_PERSIST,
                              &H2Session::on_tls_readable, this));
    event_add(tls_read_.get(), nullptr);
  } else {
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  }
  arm_idle_timer();
  flush();
  if (evbuffer_get_length(bufferevent_get_input(bev_.get()))) on_input();
  // What the handshake's reads left in OpenSSL's buffer: the socket may not signal it again.
  if (peer_.tls && !closed_ && SSL_has_pending(bufferevent_openssl_get_ssl(bev_.get()))) {
    event_active(tls_read_.get(), EV_READ, 0);
  }
}

void H2Session::on_tls_readable(evutil_socket_t, short, void* self) {
  static_cast<H2Session*>(self)->read_tls();
}

void H2Session::read_tls() {
  if (closed_ || draining_input_stopped_) return;
  SSL* ssl = bufferevent_openssl_get_ssl(bev_.get());
  evbuffer* in = bufferevent_get_input(bev_.get());
  size_t total = 0;
  bool gone = false;
  bool want_write = false;
  while (total < kTlsReadPerTurn) {
    evbuffer_iovec vec;
    if (evbuffer_reserve_space(in, kTlsRecord, &vec, 1) != 1) {
      gone = true;
      break;
    }
    ERR_clear_error();
    int n = SSL_read(ssl, vec.iov_base, static_cast<int>(std::min(vec.iov_len, kTlsRecord)));
    if (n > 0) {
      vec.iov_len = static_cast<size_t>(n);
      evbuffer_commit_space(in, &vec, 1);
      total += static_cast<size_t>(n);
      // Nothing decrypted or raw left in OpenSSL, and the last read found the socket empty: done
      // until the socket is readable again (no read() just to learn that it would block).
      if (SSL_pending(ssl) == 0 && !SSL_has_pending(ssl) && net::TlsOutput::drained(ssl)) break;
      continue;
    }
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_WRITE) {
      want_write = true;
    } else if (err != SSL_ERROR_WANT_READ) {
      gone = true;  // EOF or error
    }
    break;
  }
  if (want_write && !gone) {
    // Records may wait in OpenSSL's buffer, which the socket will not signal: try again soon.
    event_add(tls_read_.get(), &kTlsReadRetry);
    tls_read_retry_ = true;
  } else if (tls_read_retry_) {
    tls_read_retry_ = false;
    event_remove_timer(tls_read_.get());
  }
  if (total > 0) on_input();
  if (closed_) return;
  if (gone) {
    close();
    return;
  }
  // A flood: the rest in the next loop turn, after the other connections.
  if (total >= kTlsReadPerTurn) event_active(tls_read_.get(), EV_READ, 0);
}

void H2Session::arm_idle_timer() {
  if (closed_) return;
  const config::LimitsConfig& limits = worker_.config().limits;
  if (!streams_.empty()) {
    evtimer_del(timer_.get());
    return;
  }
  // An idle connection is first trimmed (kTrimAfter), then closed at idle_timeout.
  trim_pending_ = saw_preface_ && limits.idle_timeout > kTrimAfter;
  evtimer_add(timer_.get(), worker_.timeouts().get(trim_pending_  ? kTrimAfter
                                                   : saw_preface_ ? limits.idle_timeout
                                                                  : limits.header_timeout));
}

void H2Session::trim() {
  // Only with nothing in flight: the frame buffer is dead then, and the TLS buffers are empty.
  if (closed_ || draining_ || !streams_.empty() || nghttp2_session_want_write(session_.get()) ||
      output_pending() > 0) {
    return;
  }
  memory_.trim();
  if (peer_.tls) {
    if (SSL* ssl = bufferevent_openssl_get_ssl(bev_.get())) SSL_free_buffers(ssl);
  }
}

void H2Session::on_timer(evutil_socket_t, short, void* self) {
  auto* s = static_cast<H2Session*>(self);
  if (!s->streams_.empty()) return;
  if (s->trim_pending_) {
    s->trim_pending_ = false;
    s->trim();
    evtimer_add(s->timer_.get(),
                s->worker_.timeouts().get(s->worker_.config().limits.idle_timeout - kTrimAfter));
    return;
  }
  // Idle: say goodbye properly, then close once it is written.
  nghttp2_session_terminate_session(s->session_.get(), NGHTTP2_NO_ERROR);
  s->flush();
  s->close();
}

void H2Session::begin_drain() {
  if (draining_ || closed_) return;
  draining_ = true;
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  flush();
  if (streams_.empty()) close();
}

void H2Session::close_now() {
  close();
}

void H2Session::on_read(bufferevent*, void* self) {
  auto* s = static_cast<H2Session*>(self);
  s->read_rest_.take();
  s->on_input();
}

void H2Session::on_input() {
  if (closed_) return;
  evbuffer* in = bufferevent_get_input(bev_.get());
  in_recv_ = true;
  while (evbuffer_get_length(in) > 0 && !closed_) {
    evbuffer_iovec vec[8];
    int n = evbuffer_peek(in, -1, nullptr, vec, 8);
    size_t used = 0;
    bool failed = false;
    for (int i = 0; i < n && i < 8; ++i) {
      ssize_t rv = nghttp2_session_mem_recv(
          session_.get(), static_cast<const uint8_t*>(vec[i].iov_base), vec[i].iov_len);
      if (rv < 0) {
        protocol_error(nghttp2_strerror(static_cast<int>(rv)));
        if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
          nghttp2_session_terminate_session(session_.get(), rv == NGHTTP2_ERR_FLOODED
                                                                ? NGHTTP2_ENHANCE_YOUR_CALM
                                                                : NGHTTP2_PROTOCOL_ERROR);
        }
        failed = true;
        break;
      }
      used += static_cast<size_t>(rv);
      saw_preface_ = true;
    }
    evbuffer_drain(in, used);
    if (failed) {
      evbuffer_drain(in, evbuffer_get_length(in));
      in_recv_ = false;
      flush();
      draining_ = true;
      bufferevent_disable(bev_.get(), EV_READ);
      if (tls_read_) event_del(tls_read_.get());
      draining_input_stopped_ = true;
      if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) close();
      return;
    }
    // evbuffer_peek() with len -1 stops at the 8 extents given: the while loop takes the rest.
    if (used == 0) break;
  }
  in_recv_ = false;
  flush();
  arm_idle_timer();
}

void H2Session::schedule_flush() {
  // Everything submitted during this loop iteration (heads, data and ends of many streams) goes
  // out in one nghttp2_session_send pass, after the current callbacks.
  if (closed_ || in_recv_ || flush_scheduled_) return;
  flush_scheduled_ = true;
  event_active(flush_event_.get(), EV_TIMEOUT, 0);
}

void H2Session::on_flush_event(evutil_socket_t, short, void* self) {
  auto* s = static_cast<H2Session*>(self);
  s->flush_scheduled_ = false;
  s->flush();
}

void H2Session::flush() {
  if (closed_ || !session_) return;
  if (in_send_) {
    send_again_ = true;
    return;
  }
  in_send_ = true;
  do {
    send_again_ = false;
    if (output_pending() >= kOutputHighWatermark) break;
    int rv = nghttp2_session_send(session_.get());
    if (rv != 0) {
      PF_INFO("client %s: HTTP/2 send failed: %s", peer_.address.c_str(), nghttp2_strerror(rv));
      in_send_ = false;
      close();
      return;
    }
  } while (send_again_);
  in_send_ = false;
  if (stage_ && evbuffer_get_length(stage_.get()) > 0) {
    move_in_pieces(bufferevent_get_output(bev_.get()), stage_.get(), kTlsRecord);
    net::write_tls_now(bev_.get());
  }
  if (!nghttp2_session_want_read(session_.get()) && !nghttp2_session_want_write(session_.get()) &&
      evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
    close();
  }
}

void H2Session::on_write(bufferevent*, void* self) {
  auto* s = static_cast<H2Session*>(self);
  s->flush();
  if (s->closed_) return;
  // Streams whose output drained may take more from their upstreams.
  std::vector<std::shared_ptr<Exchange>> waiting;
  for (auto& [id, st] : s->streams_) {
    (void)id;
    if (st->exchange_ && !st->finished_) waiting.push_back(st->exchange_);
  }
  for (auto& ex : waiting) ex->on_downstream_writable();
  if (s->draining_ && s->streams_.empty() &&
      evbuffer_get_length(bufferevent_get_output(s->bev_.get())) == 0) {
    s->close();
  }
}

void H2Session::on_event(bufferevent*, short, void* self) {
  static_cast<H2Session*>(self)->close();
}

void H2Session::close() {
  if (closed_) return;
  closed_ = true;
  evtimer_del(timer_.get());
  if (tls_read_) event_del(tls_read_.get());
  if (bev_) {
    quiesce(bev_.get());
    if (peer_.tls) net::release_tls_output(bev_.get());
  }
  for (auto& [id, s] : streams_) {
    (void)id;
    s->closed_ = true;
    if (s->exchange_) {
      std::shared_ptr<Exchange> ex = std::move(s->exchange_);
      ex->on_downstream_closed();
      worker_.reaper().defer(std::shared_ptr<void>(std::move(ex)));
    }
  }
  worker_.session_closed(this);
}

void H2Session::protocol_error(const char* what) {
  // Logged once per connection: a flood of bad frames must not become a flood of log lines.
  if (protocol_error_logged_) {
    PF_DEBUG("client %s: HTTP/2: %s", peer_.address.c_str(), what);
    return;
  }
  protocol_error_logged_ = true;
  PF_INFO("client %s: HTTP/2 protocol error: %s", peer_.address.c_str(), what);
}

int H2Session::cb_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                void* self) {
  auto* s = static_cast<H2Session*>(self);
  char what[160];
  snprintf(what, sizeof what, "invalid frame (type %u, stream %d): %s", frame->hd.type,
           frame->hd.stream_id, nghttp2_strerror(lib_error));
  s->protocol_error(what);
  return 0;
}

int H2Session::cb_error(nghttp2_session*, int, const char* msg, size_t len, void* self) {
  auto* s = static_cast<H2Session*>(self);
  std::string what(msg, len);
  s->protocol_error(what.c_str());
  return 0;
}

H2Session::Stream* H2Session::stream(int32_t id) {
  // The callbacks of one frame (a header block's fields, a DATA frame's chunks) name the same
  // stream in a row.
  if (id == last_id_ && last_stream_) return last_stream_;
  auto it = streams_.find(id);
  if (it == streams_.end()) return nullptr;
  last_id_ = id;
  last_stream_ = it->second.get();
  return last_stream_;
}

size_t H2Session::output_pending() const {
  size_t n = evbuffer_get_length(bufferevent_get_output(bev_.get()));
  return stage_ ? n + evbuffer_get_length(stage_.get()) : n;
}

evbuffer* H2Session::output() {
  return stage_ ? stage_.get() : bufferevent_get_output(bev_.get());
}

ssize_t H2Session::cb_send(nghttp2_session*, const uint8_t* data, size_t len, int, void* self) {
  auto* s = static_cast<H2Session*>(self);
  if (s->output_pending() >= kOutputHighWatermark) return NGHTTP2_ERR_WOULDBLOCK;
  evbuffer_add(s->output(), data, len);
  return static_cast<ssize_t>(len);
}

int H2Session::cb_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                            size_t length, nghttp2_data_source* source, void* self) {
  auto* s = static_cast<H2Session*>(self);
  auto* st = static_cast<Stream*>(source->ptr);
  if (s->output_pending() >= kOutputHighWatermark) return NGHTTP2_ERR_WOULDBLOCK;
  evbuffer* out = s->output();
  evbuffer_add(out, framehd, 9);
  size_t padlen = frame->data.padlen;
  if (padlen > 0) {
    uint8_t pad_length = static_cast<uint8_t>(padlen - 1);
    evbuffer_add(out, &pad_length, 1);
  }
  evbuffer_remove_buffer(st->out_.get(), out, length);  // TLS: copied once, when staged out
  if (padlen > 1) {
    static const uint8_t kZeros[256] = {};
    evbuffer_add(out, kZeros, padlen - 1);
  }
  return 0;
}

ssize_t H2Session::cb_read_data(nghttp2_session* session, int32_t, uint8_t*, size_t length,
                                uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* st = static_cast<Stream*>(source->ptr);
  size_t avail = evbuffer_get_length(st->out_.get());
  size_t n = std::min(avail, length);
  if (n == 0 && !st->ended_) {
    st->deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n > 0) *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n == avail && st->ended_) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (st->trailers_) {
      std::vector<nghttp2_nv> nva;
      nva.reserve(st->trailers_->size());
      for (const http::Field& f : *st->trailers_) nva.push_back(make_nv(f.name, f.value));
      if (nghttp2_submit_trailer(session, st->id_, nva.data(), nva.size()) == 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
  }
  return static_cast<ssize_t>(n);
}

void H2Session::resume_stream(Stream& s) {
  if (s.deferred_) {
    s.deferred_ = false;
    nghttp2_session_resume_data(session_.get(), s.id_);
  }
  schedule_flush();
}

void H2Session::consume(Stream& s, size_t n) {
  if (closed_) return;
  nghttp2_session_consume(session_.get(), s.id_, n);
  schedule_flush();
}

void H2Session::submit_response(Stream& s, const BodyInfo& body) {
  const module::Response& head = s.head_;
  // Every name and value lives in the stream until nghttp2 has written the frame: nghttp2 takes
  // them without copying.
  constexpr uint8_t kNoCopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
  int status = head.status >= 100 && head.status <= 999 ? head.status : 500;
  s.status_text_[0] = static_cast<char>('0' + status / 100);
  s.status_text_[1] = static_cast<char>('0' + status / 10 % 10);
  s.status_text_[2] = static_cast<char>('0' + status % 10);
  // A usual head fits the array on the stack; nghttp2 copies the array, not the fields.
  constexpr size_t kInline = 32;
  const size_t most = head.headers.size() + 3;
  nghttp2_nv inline_nva[kInline];
  std::vector<nghttp2_nv> heap_nva(most > kInline ? most : 0);
  nghttp2_nv* nva = most > kInline ? heap_nva.data() : inline_nva;
  size_t count = 0;
  nva[count++] = make_nv(":status", std::string_view(s.status_text_, 3), kNoCopy);
  bool has_date = false;
  for (const http::Field& f : head.headers) {
    uint8_t flags = kNoCopy;
    switch (f.name.size()) {
      case 4:
        has_date = has_date || f.name == "date";
        break;
      case 12:
        // Values new in (nearly) every response would only push the repeatable fields out of the
        // table: never indexed, by us or by an intermediary that re-encodes them.
        if (f.name == "x-request-id" || f.name == "cache-status") flags |= NGHTTP2_NV_FLAG_NO_INDEX;
        break;
      default:
        break;
    }
    nva[count++] = make_nv(f.name, f.value, flags);
  }
  // The date string changes with the second: nghttp2 copies the value.
  if (!has_date) nva[count++] = make_nv("date", http_date_now(), NGHTTP2_NV_FLAG_NO_COPY_NAME);
  if (body.content_length && head.status != 204 && head.status != 304) {
    auto [end, ec] =
        std::to_chars(s.length_text_, s.length_text_ + sizeof s.length_text_, *body.content_length);
    (void)ec;  // 24 characters hold every uint64_t
    nva[count++] = make_nv(
        "content-length",
        std::string_view(s.length_text_, static_cast<size_t>(end - s.length_text_)), kNoCopy);
  }
  nghttp2_data_provider provider;
  provider.source.ptr = &s;
  provider.read_callback = &cb_read_data;
  bool head_only = !body.has_body || s.head_request_;
  s.has_body_ = !head_only;
  nghttp2_submit_response(session_.get(), s.id_, nva, count, head_only ? nullptr : &provider);
  schedule_flush();
}

int H2Session::cb_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* self) {
  auto* s = static_cast<H2Session*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (s->draining_) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  auto st = std::make_unique<Stream>(*s, frame->hd.stream_id);
  st->info_.client_address = s->peer_.address;
  st->info_.tls = s->peer_.tls;
  st->info_.admin = s->peer_.admin;
  st->info_.request.scheme = s->peer_.tls ? "https" : "http";
  st->info_.request.version = 20;
  // A browser's request has ~10-15 fields and the forwarding fields come on top: one
  // allocation instead of the vector's growth by doubling.
  st->info_.request.headers.reserve(16);
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, st.get());
  s->streams_.emplace(frame->hd.stream_id, std::move(st));
  evtimer_del(s->timer_.get());
  return 0;
}

int H2Session::cb_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_p,
                         size_t namelen, const uint8_t* value_p, size_t valuelen, uint8_t,
                         void* self) {
  auto* s = static_cast<H2Session*>(self);
  Stream* st = s->stream(frame->hd.stream_id);
  if (!st) return 0;
  std::string_view name(reinterpret_cast<const char*>(name_p), namelen);
  std::string_view value(reinterpret_cast<const char*>(value_p), valuelen);
  st->header_bytes_ += namelen + valuelen + 32;
  if (st->header_bytes_ > s->worker_.config().limits.max_header_bytes) {
    st->rejected_ = true;
    st->reject_status_ = 431;
    return 0;
  }
  if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {  // trailers
    if (!name.starts_with(':')) st->request_trailers_.add(name, value);
    return 0;
  }
  module::Request& req = st->info_.request;
  if (name.starts_with(':')) {
    if (name == ":method")
      req.method.assign(value);
    else if (name == ":path")
      req.path.assign(value);
    else if (name == ":authority")
      req.authority.assign(value);
    return 0;  // :scheme: the connection says what the scheme is
  }
  if (name == "cookie") {
    // RFC 9113 §8.2.3: cookie crumbs are joined with "; " for HTTP/1.1.
    for (const http::Field& f : req.headers) {
      if (f.name == "cookie") {
        std::string joined = std::string(f.value).append("; ").append(value);
        req.headers.set("cookie", joined);
        return 0;
      }
    }
  }
  if (name == "host") {
    if (req.authority.empty()) req.authority.assign(value);
    return 0;
  }
  if (name == "content-length") {
    uint64_t n = 0;
    for (char c : value) n = n * 10 + static_cast<uint64_t>(c - '0');  // nghttp2 checked digits
    st->info_.content_length = n;
    return 0;
  }
  req.headers.add(name, value);
  return 0;
}

void H2Session::dispatch(Stream& st) {
  st.dispatched_ = true;
  const config::LimitsConfig& limits = worker_.config().limits;
  const RequestInfo& info = st.info_;
  bool too_large = info.content_length && *info.content_length > limits.max_body_bytes;
  bool no_path = info.request.path.empty() || info.request.path.front() != '/';
  bool connect = info.request.method == "CONNECT";
  st.head_request_ = info.request.method == "HEAD";
  st.exchange_ = std::make_shared<Exchange>(worker_, worker_.generation(), st, std::move(st.info_));
  std::shared_ptr<Exchange> keep = st.exchange_;
  if (st.rejected_) {
    PF_INFO("client %s: HTTP/2 request head over max_header_bytes", peer_.address.c_str());
    keep->fail_request(st.reject_status_, "request head too large");
  } else if (connect || no_path) {
    PF_INFO("client %s: HTTP/2 %s request not supported", peer_.address.c_str(),
            keep->request().method.c_str());
    keep->fail_request(connect ? 501 : 400, "unsupported request");
  } else if (too_large) {
    PF_INFO("client %s: request body over max_body_bytes", peer_.address.c_str());
    keep->fail_request(413, "request body too large");
  } else {
    keep->start();
  }
}

int H2Session::cb_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* s = static_cast<H2Session*>(self);
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    if (Stream* st = s->stream(frame->hd.stream_id)) st->peer_reset_ = true;
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  Stream* st = s->stream(frame->hd.stream_id);
  if (!st) return 0;
  bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    st->info_.has_body = !end_stream;
    if (end_stream) st->request_ended_ = true;
    s->dispatch(*st);
    if (end_stream && st->exchange_) st->exchange_->on_request_end(nullptr);
    return 0;
  }
  if (end_stream && !st->request_ended_) {
    st->request_ended_ = true;
    if (st->exchange_) {
      st->exchange_->on_request_end(st->request_trailers_.empty() ? nullptr
                                                                  : &st->request_trailers_);
    }
  }
  return 0;
}

int H2Session::cb_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                             const uint8_t* data, size_t len, void* self) {
  auto* s = static_cast<H2Session*>(self);
  Stream* st = s->stream(stream_id);
  if (!st || !st->exchange_ || st->finished_) {
    nghttp2_session_consume(session, stream_id, len);
    return 0;
  }
  st->body_received_ += len;
  if (st->body_received_ > s->worker_.config().limits.max_body_bytes) {
    nghttp2_session_consume(session, stream_id, len);
    PF_INFO("client %s: HTTP/2 request body over max_body_bytes", s->peer_.address.c_str());
    std::shared_ptr<Exchange> ex = st->exchange_;
    ex->fail_request(413, "request body too large");
    return 0;
  }
  evbuffer_add(s->scratch_.get(), data, len);
  std::shared_ptr<Exchange> ex = st->exchange_;
  ex->on_request_body(s->scratch_.get());
  // Acknowledge now unless the exchange asked to pause; then when it resumes.
  if (st->paused_) {
    st->unconsumed_ += len;
  } else {
    nghttp2_session_consume(session, stream_id, len);
  }
  return 0;
}

int H2Session::cb_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* self) {
  auto* s = static_cast<H2Session*>(self);
  // Catch-all for violations nghttp2 handled on its own: it answers them with GOAWAY or
  // RST_STREAM carrying an error code (ours are NO_ERROR, INTERNAL_ERROR and REFUSED_STREAM).
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
    std::string what = "sent GOAWAY ";
    what += nghttp2_http2_strerror(frame->goaway.error_code);
    if (frame->goaway.opaque_data_len) {
      what += ": ";
      what.append(reinterpret_cast<const char*>(frame->goaway.opaque_data),
                  frame->goaway.opaque_data_len);
    }
    s->protocol_error(what.c_str());
  } else if (frame->hd.type == NGHTTP2_RST_STREAM &&
             frame->rst_stream.error_code != NGHTTP2_NO_ERROR &&
             frame->rst_stream.error_code != NGHTTP2_INTERNAL_ERROR &&
             frame->rst_stream.error_code != NGHTTP2_REFUSED_STREAM) {
    char what[96];
    snprintf(what, sizeof what, "reset stream %d: %s", frame->hd.stream_id,
             nghttp2_http2_strerror(frame->rst_stream.error_code));
    s->protocol_error(what);
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    Stream* st = s->stream(frame->hd.stream_id);
    // Response complete but the request body still coming: tell the client to stop sending.
    if (st && !st->request_ended_) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
  }
  return 0;
}

int H2Session::cb_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                               void* self) {
  auto* s = static_cast<H2Session*>(self);
  auto it = s->streams_.find(stream_id);
  if (it == s->streams_.end()) return 0;
  std::unique_ptr<Stream> st = std::move(it->second);
  s->streams_.erase(it);
  if (s->last_stream_ == st.get()) s->last_stream_ = nullptr;
  st->closed_ = true;
  if (error_code == NGHTTP2_PROTOCOL_ERROR && !st->peer_reset_) {
    // nghttp2 reset the stream itself (e.g. DATA not matching content-length).
    char what[96];
    snprintf(what, sizeof what, "stream %d reset: malformed request", stream_id);
    s->protocol_error(what);
  }
  if (st->exchange_) {
    std::shared_ptr<Exchange> ex = std::move(st->exchange_);
    if (!ex->finished()) ex->on_downstream_closed();
    s->worker_.reaper().defer(std::shared_ptr<void>(std::move(ex)));
  }
  s->worker_.reaper().defer(std::move(st));
  if (s->draining_ && s->streams_.empty()) {
    // Close once the remaining frames are written (on_write checks).
    bufferevent_enable(s->bev_.get(), EV_WRITE);
  }
  if (s->streams_.empty() && !s->in_recv_) s->arm_idle_timer();
  return 0;
}

}  // namespace pforte::core
