#define BOOST_TEST_MODULE head_buffer
#include <boost/test/unit_test.hpp>

#include <event2/buffer.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/handles.h"
#include "proxy/http/head_buffer.h"

using pforte::make_evbuffer;
using pforte::http::peek_head;

namespace {

// An evbuffer holding `pieces`, each in a chain of its own (references are never merged), so
// that a head can be split across chains as it is when it arrives in several reads.
pforte::EvbufferPtr chained(const std::vector<std::string>& pieces) {
  auto buf = make_evbuffer();
  for (const std::string& p : pieces) {
    auto* copy = new std::string(p);
    evbuffer_add_reference(
        buf.get(), copy->data(), copy->size(),
        [](const void*, size_t, void* s) { delete static_cast<std::string*>(s); }, copy);
  }
  return buf;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(head_buffer)

BOOST_AUTO_TEST_CASE(a_head_is_found_in_one_chain_or_across_several) {
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
  const std::string body = "body bytes";
  for (size_t split : {0u, 1u, 10u, 29u, 30u, 31u, 32u}) {
    std::vector<std::string> pieces;
    std::string all = head + body;
    if (split > 0) pieces.push_back(all.substr(0, split));
    pieces.push_back(all.substr(split));
    auto buf = chained(pieces);
    auto peek = peek_head(buf.get(), 8192);
    BOOST_TEST(peek.found, "split at " << split);
    BOOST_TEST(peek.bytes == head, "split at " << split);
    BOOST_TEST(!peek.too_large);
    BOOST_TEST(evbuffer_get_length(buf.get()) == all.size());  // nothing consumed
  }
}

BOOST_AUTO_TEST_CASE(an_incomplete_head_is_not_found_and_not_too_large) {
  for (auto pieces : {std::vector<std::string>{"GET / HTTP/1.1\r\nHost: a\r\n"},
                      std::vector<std::string>{"GET / HTTP/1.1\r\n", "Host: a\r\n\r"}}) {
    auto buf = chained(pieces);
    auto peek = peek_head(buf.get(), 8192);
    BOOST_TEST(!peek.found);
    BOOST_TEST(!peek.too_large);
  }
}

BOOST_AUTO_TEST_CASE(no_head_end_within_the_limit_is_too_large) {
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a') + "\r\n\r\n";
  for (auto pieces : {std::vector<std::string>{big},
                      std::vector<std::string>{big.substr(0, 50), big.substr(50)}}) {
    auto buf = chained(pieces);
    auto peek = peek_head(buf.get(), 100);
    BOOST_TEST(!peek.found);
    BOOST_TEST(peek.too_large);
    // The same bytes with room for the whole head: found.
    BOOST_TEST(peek_head(buf.get(), big.size()).found);
  }
}

BOOST_AUTO_TEST_CASE(a_bare_lf_head_end_is_handed_to_the_parser) {
  for (auto pieces : {std::vector<std::string>{"GET / HTTP/1.1\nHost: a\n\nrest"},
                      std::vector<std::string>{"GET / HTTP/1.1\nHo", "st: a\n\nrest"}}) {
    auto buf = chained(pieces);
    auto peek = peek_head(buf.get(), 8192);
    BOOST_TEST(peek.found);
    BOOST_TEST(peek.bytes == "GET / HTTP/1.1\nHost: a\n\n");
  }
}

BOOST_AUTO_TEST_SUITE_END()
