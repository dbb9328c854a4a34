#define BOOST_TEST_MODULE h2_session_memory
#include "proxy/core/h2_session_memory.h"

#include <nghttp2/nghttp2.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using pforte::core::H2SessionMemory;

namespace {

size_t page() {
  return static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

/// The frame buffer's bytes: whole pages.
size_t frame_bytes() {
  return (9 + 1 + 16384 + page() - 1) / page() * page();
}

/// Pages of [p, p + len) resident in memory.
size_t resident_pages(const void* p, size_t len) {
  std::vector<unsigned char> vec((len + page() - 1) / page());
  BOOST_REQUIRE_EQUAL(mincore(const_cast<void*>(p), len, vec.data()), 0);
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

/// A server session on an H2SessionMemory and a client session, talking through memory. The server
/// answers every request with 200 and a body of `body_size` bytes of a pattern.
struct Pair {
  explicit Pair(size_t body_size) : body(body_size, '\0') {
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Pair::server_frame);
    // As H2Session: closed streams leave the stream table at once.
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_closed_streams(opt, 1);
    memory.expect_session_new(true);
    BOOST_REQUIRE_EQUAL(nghttp2_session_server_new3(&server, cbs, this, opt, memory.mem()), 0);
    memory.expect_session_new(false);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);

    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &Pair::client_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Pair::client_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Pair::client_close);
    BOOST_REQUIRE_EQUAL(nghttp2_session_client_new(&client, cbs, this), 0);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(server, NGHTTP2_FLAG_NONE, nullptr, 0);
    nghttp2_submit_settings(client, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Pair() {
    nghttp2_session_del(client);
    nghttp2_session_del(server);
  }

  /// Moves bytes both ways until neither side has anything to send.
  void pump() {
    for (int round = 0; round < 100; ++round) {
      bool moved = false;
      for (auto [from, to] : {std::pair{client, server}, std::pair{server, client}}) {
        const uint8_t* data;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(from, &data)) > 0) {
          BOOST_REQUIRE_EQUAL(nghttp2_session_mem_recv(to, data, static_cast<size_t>(n)), n);
          moved = true;
        }
        BOOST_REQUIRE_GE(n, 0);
      }
      if (!moved) return;
    }
    BOOST_FAIL("the sessions never went quiet");
  }

  /// A request whose body never comes: its stream stays open on the server.
  void open_stream() {
    const nghttp2_nv nva[] = {nv(":method", "POST"), nv(":scheme", "https"), nv(":path", "/x"),
                              nv(":authority", "t")};
    BOOST_REQUIRE_GT(
        nghttp2_submit_headers(client, NGHTTP2_FLAG_NONE, -1, nullptr, nva, 4, nullptr), 0);
    pump();
  }

  /// One GET from the client; returns the body it received (status must be 200).
  std::string get() {
    status.clear();
    received.clear();
    closed = false;
    const nghttp2_nv nva[] = {nv(":method", "GET"), nv(":scheme", "https"), nv(":path", "/x"),
                              nv(":authority", "t")};
    BOOST_REQUIRE_GT(nghttp2_submit_request(client, nullptr, nva, 4, nullptr, nullptr), 0);
    pump();
    BOOST_REQUIRE(closed);
    BOOST_CHECK_EQUAL(status, "200");
    return received;
  }

  static nghttp2_nv nv(const char* name, const char* value) {
    return {reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
            reinterpret_cast<uint8_t*>(const_cast<char*>(value)), std::strlen(name),
            std::strlen(value), NGHTTP2_NV_FLAG_NONE};
  }

  static int server_frame(nghttp2_session* s, const nghttp2_frame* frame, void* self) {
    auto* p = static_cast<Pair*>(self);
    if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      return 0;
    }
    p->sent = 0;
    nghttp2_data_provider provider{};
    provider.read_callback = &Pair::server_read;
    const nghttp2_nv nva[] = {nv(":status", "200")};
    return nghttp2_submit_response(s, frame->hd.stream_id, nva, 1, &provider);
  }
  static ssize_t server_read(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                             uint32_t* flags, nghttp2_data_source*, void* self) {
    auto* p = static_cast<Pair*>(self);
    size_t n = std::min(length, p->body.size() - p->sent);
    std::memcpy(buf, p->body.data() + p->sent, n);  // copied into the frame buffer
    p->sent += n;
    if (p->sent == p->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  static int client_header(nghttp2_session*, const nghttp2_frame*, const uint8_t* name,
                           size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                           void* self) {
    if (std::string(reinterpret_cast<const char*>(name), namelen) == ":status") {
      static_cast<Pair*>(self)->status.assign(reinterpret_cast<const char*>(value), valuelen);
    }
    return 0;
  }
  static int client_data(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* self) {
    static_cast<Pair*>(self)->received.append(reinterpret_cast<const char*>(data), len);
    nghttp2_session_consume(s, id, len);
    return 0;
  }
  static int client_close(nghttp2_session*, int32_t, uint32_t, void* self) {
    static_cast<Pair*>(self)->closed = true;
    return 0;
  }

  H2SessionMemory memory;  // before the sessions' use, after them in destruction
  nghttp2_session* server = nullptr;
  nghttp2_session* client = nullptr;
  std::string body;
  size_t sent = 0;
  std::string status;
  std::string received;
  bool closed = false;
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_frame_buffer_is_the_page_aligned_allocation_made_at_creation) {
  Pair p(10);
  const void* fb = p.memory.frame_buffer();
  BOOST_REQUIRE(fb != nullptr);
  BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(fb) % page(), 0u);
  p.get();
  BOOST_CHECK(p.memory.frame_buffer() == fb);  // later allocations are not taken for it
}

BOOST_AUTO_TEST_CASE(a_trimmed_frame_buffer_holds_no_pages_and_later_frames_arrive_intact) {
  Pair p(40'000);  // DATA payloads are copied through the frame buffer: every page is written
  BOOST_CHECK(p.get() == p.body);
  const void* fb = p.memory.frame_buffer();
  const size_t bytes = frame_bytes();
  BOOST_CHECK_GE(resident_pages(fb, bytes), 4u);

  BOOST_CHECK_GE(p.memory.trim(), bytes);
  BOOST_CHECK_EQUAL(resident_pages(fb, bytes), 0u);

  // The next response, headers and 40,000 bytes of data through the same buffer, is intact.
  BOOST_CHECK(p.get() == p.body);
  BOOST_CHECK_GE(resident_pages(fb, bytes), 4u);
  BOOST_CHECK_GE(p.memory.trim(), bytes);
  BOOST_CHECK(p.get() == p.body);
}

BOOST_AUTO_TEST_CASE(a_stream_table_without_streams_is_given_back_and_works_after) {
  if (page() != 4096) return;  // the table is taken only where it is a whole page
  Pair p(100);
  const void* table = p.memory.stream_table();
  BOOST_REQUIRE(table != nullptr);
  BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(table) % page(), 0u);
  for (int i = 0; i < 3; ++i) BOOST_CHECK(p.get() == p.body);
  BOOST_CHECK_EQUAL(resident_pages(table, page()), 1u);  // streams came and went

  BOOST_CHECK_EQUAL(p.memory.trim(), frame_bytes() + page());
  BOOST_CHECK_EQUAL(resident_pages(table, page()), 0u);

  // Streams are found again in the table that came back as zeros; it is taken again by trim().
  for (int i = 0; i < 3; ++i) BOOST_CHECK(p.get() == p.body);
  BOOST_CHECK(p.memory.stream_table() == table);
  BOOST_CHECK_EQUAL(p.memory.trim(), frame_bytes() + page());
}

BOOST_AUTO_TEST_CASE(a_stream_table_with_an_open_stream_is_kept) {
  if (page() != 4096) return;
  Pair p(100);
  BOOST_CHECK(p.get() == p.body);
  p.open_stream();
  const void* table = p.memory.stream_table();
  BOOST_CHECK_EQUAL(p.memory.trim(), frame_bytes());  // the frame buffer only
  BOOST_CHECK_EQUAL(resident_pages(table, page()), 1u);
  BOOST_CHECK(!std::all_of(static_cast<const char*>(table),
                           static_cast<const char*>(table) + page(),
                           [](char c) { return c == 0; }));
}

BOOST_AUTO_TEST_CASE(without_expect_nothing_is_taken_and_trim_does_nothing) {
  H2SessionMemory memory;
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session* s = nullptr;
  BOOST_REQUIRE_EQUAL(nghttp2_session_server_new3(&s, cbs, nullptr, nullptr, memory.mem()), 0);
  nghttp2_session_callbacks_del(cbs);
  BOOST_CHECK(memory.frame_buffer() == nullptr);
  BOOST_CHECK(memory.stream_table() == nullptr);
  BOOST_CHECK_EQUAL(memory.trim(), 0u);
  nghttp2_session_del(s);
}

BOOST_AUTO_TEST_CASE(deleting_the_session_gives_both_back) {
  H2SessionMemory memory;
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session* s = nullptr;
  memory.expect_session_new(true);
  BOOST_REQUIRE_EQUAL(nghttp2_session_server_new3(&s, cbs, nullptr, nullptr, memory.mem()), 0);
  memory.expect_session_new(false);
  nghttp2_session_callbacks_del(cbs);
  BOOST_CHECK(memory.frame_buffer() != nullptr);
  BOOST_CHECK(memory.stream_table() != nullptr || page() != 4096);
  nghttp2_session_del(s);
  BOOST_CHECK(memory.frame_buffer() == nullptr);
  BOOST_CHECK(memory.stream_table() == nullptr);
}
