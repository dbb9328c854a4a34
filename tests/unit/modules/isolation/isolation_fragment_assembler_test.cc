#define BOOST_TEST_MODULE isolation_fragment_assembler
#include "modules/isolation/fragment_assembler.h"

#include <boost/test/unit_test.hpp>

using pforte::modules::isolation::FragmentAssembler;

namespace {
std::string ready(FragmentAssembler& a) {
  std::string out;
  a.take_ready(out);
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(text_without_includes_streams_at_once) {
  FragmentAssembler a;
  a.add_text("<html>");
  BOOST_TEST(ready(a) == "<html>");
  a.add_text("<body>");
  a.add_text("</body>");
  BOOST_TEST(ready(a) == "<body></body>");
  BOOST_TEST(a.empty());
}

BOOST_AUTO_TEST_CASE(text_after_a_pending_include_waits_for_it) {
  FragmentAssembler a;
  a.add_text("head ");
  size_t s = a.add_slot();
  a.add_text(" tail");
  BOOST_TEST(ready(a) == "head ");
  BOOST_TEST(ready(a) == "");
  BOOST_TEST(a.open_slots() == 1u);
  a.fill(s, "NEWS");
  BOOST_TEST(ready(a) == "NEWS tail");
  BOOST_TEST(a.empty());
  BOOST_TEST(a.open_slots() == 0u);
}

BOOST_AUTO_TEST_CASE(includes_settling_out_of_order_come_out_in_document_order) {
  FragmentAssembler a;
  size_t first = a.add_slot();
  a.add_text("|");
  size_t second = a.add_slot();
  a.add_text("|");
  size_t third = a.add_slot();
  a.fill(third, "3");
  a.fill(second, "2");
  BOOST_TEST(ready(a) == "");
  a.fill(first, "1");
  BOOST_TEST(ready(a) == "1|2|3");
}

BOOST_AUTO_TEST_CASE(an_empty_fill_renders_as_nothing_and_a_second_fill_is_ignored) {
  FragmentAssembler a;
  a.add_text("a");
  size_t s = a.add_slot();
  a.add_text("b");
  a.fill(s, "");
  a.fill(s, "late");
  BOOST_TEST(ready(a) == "ab");
}
