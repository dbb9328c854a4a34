#define BOOST_TEST_MODULE isolation_esi
#include "modules/isolation/esi.h"

#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

using pforte::modules::isolation::EsiCollector;
using pforte::modules::isolation::EsiEvent;
using pforte::modules::isolation::EsiInclude;
using pforte::modules::isolation::EsiParser;
using pforte::modules::isolation::parse_esi;
using Kind = EsiEvent::Kind;

namespace {

EsiEvent text(std::string s) {
  return EsiEvent{Kind::kText, std::move(s), {}};
}
EsiEvent include(std::string src, std::string alt = "", bool cont = false) {
  return EsiEvent{Kind::kInclude, {}, EsiInclude{std::move(src), std::move(alt), cont}};
}

std::string dump(const std::vector<EsiEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    if (e.kind == Kind::kText) {
      out += "text[" + e.text + "] ";
    } else {
      out += "include[" + e.include.src + "|" + e.include.alt + "|" +
             (e.include.onerror_continue ? "continue" : "") + "] ";
    }
  }
  return out;
}

void expect(std::string_view document, const std::vector<EsiEvent>& want) {
  auto got = parse_esi(document);
  BOOST_TEST(dump(got) == dump(want), "for input: " << document);
}

// The page with includes taken out, as a browser would see it if every include rendered empty.
std::string all_text(const std::vector<EsiEvent>& events) {
  std::string out;
  for (const auto& e : events)
    if (e.kind == Kind::kText) out += e.text;
  return out;
}

bool has_esi_markup(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s.find("<esi:") != std::string::npos || s.find("</esi:") != std::string::npos ||
         s.find("<!--esi") != std::string::npos;
}

std::vector<EsiEvent> parse_in_pieces(std::string_view document, const std::vector<size_t>& cuts) {
  EsiParser parser;
  EsiCollector out;
  size_t from = 0;
  for (size_t cut : cuts) {
    parser.feed(document.substr(from, cut - from), out);
    from = cut;
  }
  parser.feed(document.substr(from), out);
  parser.finish(out);
  return out.events();
}

const std::string kPage =
    "<!DOCTYPE html>\n<html><head><title>Schule</title>\n"
    "<!-- a plain comment -- with dashes --->\n"
    "<script>if (a < b && c-->0) {}</script></head>\n"
    "<body><h1>Start</h1>\n"
    "<ESI:Include SRC=\"/news/box\" alt='/news/fallback' onerror=\"continue\"/>\n"
    "<p>x < y, a<b, <<em>em</em></p>\n"
    "<esi:remove><a href=\"/news/\">News</a></esi:remove>\n"
    "<!--esi <p>Hello</p><esi:include src=/blog/teaser /> -->\n"
    "<esi:include src=\"/a?x=1&amp;y=>2\"></esi:include>\n"
    "<esi:comment text=\"gone\"/><esi:vars>$(HTTP_HOST)</esi:vars>\n"
    "<esi:include alt=\"/no-src\"/>tail - -- -> --> end\n"
    "</body></html>\n";

}  // namespace

BOOST_AUTO_TEST_CASE(html_without_esi_passes_through_unchanged) {
  std::string html =
      "<html><!-- comment --><p class='a'>x < y -- z -> </p><!DOCTYPE><e><es><esi></html>";
  expect(html, {text(html)});
  expect("", {});
  expect("<", {text("<")});
  expect("<!--es", {text("<!--es")});
}

BOOST_AUTO_TEST_CASE(include_gives_src_alt_and_onerror) {
  expect("a<esi:include src=\"/x\" alt=\"/y\" onerror=\"continue\"/>b",
         {text("a"), include("/x", "/y", true), text("b")});
  expect("<esi:include src='/x'/>", {include("/x")});
  // As in HTML, a slash ending an unquoted value belongs to the value.
  expect("<esi:include src=/x/>", {include("/x/")});
  expect("<esi:include src=/x />", {include("/x")});
  expect("<esi:include\n\tsrc = \"/x\"\nonerror=abort >", {include("/x")});
}

BOOST_AUTO_TEST_CASE(tag_and_attribute_names_are_case_insensitive) {
  expect("<ESI:INCLUDE SRC=\"/x\" OnError=\"Continue\"/>", {include("/x", "", true)});
  expect("<EsI:ReMoVe>gone</eSi:rEmOvE>kept", {text("kept")});
  expect("<!--ESI <b>x</b> -->", {text(" <b>x</b> ")});
}

BOOST_AUTO_TEST_CASE(include_may_be_open_and_its_closing_tag_is_dropped) {
  expect("<esi:include src=\"/x\">after</esi:include>end", {include("/x"), text("afterend")});
}

BOOST_AUTO_TEST_CASE(a_gt_in_a_quoted_value_does_not_end_the_tag) {
  expect("<esi:include src=\"/a?b=>c\" alt='>'/>", {include("/a?b=>c", ">")});
  // A quote inside an unquoted value is just a character.
  expect("<esi:include src=/it's>x", {include("/it's"), text("x")});
}

BOOST_AUTO_TEST_CASE(the_first_of_repeated_attributes_wins) {
  expect("<esi:include src=\"/1\" src=\"/2\"/>", {include("/1")});
}

BOOST_AUTO_TEST_CASE(remove_drops_its_content) {
  expect("a<esi:remove><a href=x>no ESI</a><esi:include src=/x/></esi:remove>b", {text("ab")});
  expect("a<esi:remove>x</esi:remove >b</esi:remove>c", {text("abc")});
}

BOOST_AUTO_TEST_CASE(remove_ends_only_at_its_own_closing_tag) {
  expect("a<esi:remove>x</esi:removed>y</esi:remove>b", {text("ab")});
  expect("a<esi:remove>x<</esi:remove>b", {text("ab")});
  expect("a<esi:remove/>b", {text("ab")});
}

BOOST_AUTO_TEST_CASE(comment_form_is_unwrapped_and_its_includes_parsed) {
  expect("a<!--esi <p>x</p><esi:include src=\"/y\"/> -->b",
         {text("a <p>x</p>"), include("/y"), text(" b")});
  expect("<!--esi--->", {text("-")});
  expect("<!--esi a --->", {text(" a -")});
  expect("<!--esi <!--esi x --> y -->", {text("  x  y -->")});
}

BOOST_AUTO_TEST_CASE(comment_end_outside_the_comment_form_is_text) {
  expect("a --> b", {text("a --> b")});
}

BOOST_AUTO_TEST_CASE(unsupported_esi_elements_lose_their_tags_not_their_content) {
  expect("<esi:try><esi:attempt>a</esi:attempt><esi:except>b</esi:except></esi:try>", {text("ab")});
  expect("x<esi:comment text=\"note\"/>y<esi:vars>$(HTTP_HOST)</esi:vars>",
         {text("xy$(HTTP_HOST)")});
}

BOOST_AUTO_TEST_CASE(malformed_esi_tags_are_dropped_not_passed_on) {
  EsiParser parser;
  EsiCollector out;
  parser.feed("a<esi:include alt=\"/x\"/>b<esi:include src=\"\"/>c<esi:>d</esi:>e", out);
  parser.finish(out);
  BOOST_TEST(dump(out.events()) == dump({text("abcde")}));
  BOOST_TEST(parser.dropped() == 2u);
}

BOOST_AUTO_TEST_CASE(markup_still_open_at_the_end_is_dropped) {
  expect("a<esi:include src=\"/x\"", {text("a")});
  expect("a<esi:include src=\"/x>b", {text("a")});
  expect("a<esi:remove>b<p>c", {text("a")});
  expect("a</esi:remove", {text("a")});
}

BOOST_AUTO_TEST_CASE(an_overlong_tag_is_dropped_up_to_the_next_gt) {
  std::string long_value(EsiParser::kMaxTagBytes, 'v');
  EsiParser parser;
  EsiCollector out;
  parser.feed("a<esi:include src=\"/x\" alt=\"" + long_value + "\"/>b", out);
  parser.finish(out);
  BOOST_TEST(dump(out.events()) == dump({text("ab")}));
  BOOST_TEST(parser.dropped() == 1u);
  // An unterminated quote is dropped up to the first '>' after the limit.
  std::string eaten(EsiParser::kMaxTagBytes, 'x');
  expect("a<esi:include src=\"/x" + eaten + "\">b>c", {text("ab>c")});
  expect("a<esi:include src=\"/x" + eaten + ">b", {text("ab")});
}

BOOST_AUTO_TEST_CASE(markup_formed_around_dropped_markup_is_handled_as_markup) {
  // "<" + [removed] + "esi:include ..." reads as an include; the "<" was already passed on.
  expect("<<esi:remove>x</esi:remove>esi:include src=\"/x\"/>y",
         {text("<"), include("/x"), text("y")});
  expect("<</esi:foo>/esi:bar>z", {text("<z")});
  expect("<!-<esi:comment/>-esi x", {text("<!- x")});
  // Around an include that renders empty.
  expect("<<esi:include src=\"/a\"/>esi:include src=\"/b\"/>",
         {text("<"), include("/a"), include("/b")});
  expect("<!--esi --<esi:vars/>> after", {text(" -- after")});
}

BOOST_AUTO_TEST_CASE(text_is_passed_on_without_waiting_for_the_end) {
  EsiParser parser;
  EsiCollector out;
  parser.feed("<html><p>hello <es", out);
  BOOST_TEST(dump(out.events()) == dump({text("<html><p>hello ")}));
  parser.feed("t", out);  // "<est" cannot begin markup
  BOOST_TEST(dump(out.events()) == dump({text("<html><p>hello <est")}));
  parser.feed("<esi:include src=\"/x\"/", out);
  parser.feed(">", out);
  BOOST_TEST(dump(out.events()) == dump({text("<html><p>hello <est"), include("/x")}));
}

BOOST_AUTO_TEST_CASE(every_cut_of_a_page_gives_the_same_events) {
  auto whole = parse_esi(kPage);
  BOOST_TEST(dump(whole) == dump({text("<!DOCTYPE html>\n<html><head><title>Schule</title>\n"
                                       "<!-- a plain comment -- with dashes --->\n"
                                       "<script>if (a < b && c-->0) {}</script></head>\n"
                                       "<body><h1>Start</h1>\n"),
                                  include("/news/box", "/news/fallback", true),
                                  text("\n<p>x < y, a<b, <<em>em</em></p>\n\n <p>Hello</p>"),
                                  include("/blog/teaser"), text(" \n"), include("/a?x=1&amp;y=>2"),
                                  text("\n$(HTTP_HOST)\ntail - -- -> --> end\n</body></html>\n")}));
  for (size_t cut = 0; cut <= kPage.size(); ++cut) {
    auto got = parse_in_pieces(kPage, {cut});
    BOOST_TEST_REQUIRE(dump(got) == dump(whole), "cut at " << cut);
  }
  for (size_t a = 0; a <= kPage.size(); a += 7) {
    for (size_t b = a; b <= kPage.size(); ++b) {
      auto got = parse_in_pieces(kPage, {a, b});
      BOOST_TEST_REQUIRE(dump(got) == dump(whole), "cuts at " << a << ", " << b);
    }
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < kPage.size(); ++i) every_byte.push_back(i);
  BOOST_TEST(dump(parse_in_pieces(kPage, every_byte)) == dump(whole));
}

BOOST_AUTO_TEST_CASE(no_output_contains_esi_markup) {
  const std::vector<std::string> nasty = {
      kPage,
      "<<esi:remove></esi:remove>esi:include src=x>",
      "<</esi:remove>esi:x>",
      "<!--<esi:vars/>esi <esi:include/> -->",
      "<!<esi:a/>--esi",
      "</<esi:a/>esi:x",
      "</e<esi:a/>si:x",
      "<esi<esi:a>:x",
      "<e<esi:include src=/y/>si:include src=/z/>",
      "<!--esi <esi:remove> --> </esi:remove> -->",
      "<esi:remove></esi:remove</esi:remove>",
      "<esi:include src='a\"b'/>< esi:x><ESI:X><Esi:x",
      "<!--esi <!--esi <!--esi",
      "<esi:include src=\"" + std::string(5000, '<') + "\"/><esi:x>",
  };
  std::mt19937 rng(42);
  for (const auto& doc : nasty) {
    auto whole = parse_esi(doc);
    BOOST_TEST(!has_esi_markup(all_text(whole)), "leak for input: " << doc);
    for (int round = 0; round < 50; ++round) {
      std::vector<size_t> cuts;
      for (size_t i = 1; i < doc.size(); ++i)
        if (rng() % 4 == 0) cuts.push_back(i);
      auto got = parse_in_pieces(doc, cuts);
      BOOST_TEST_REQUIRE(dump(got) == dump(whole), "input: " << doc);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_parser_is_reusable_after_finish) {
  EsiParser parser;
  EsiCollector first;
  parser.feed("a<esi:remove>b", first);
  parser.finish(first);
  EsiCollector second;
  parser.feed("c<esi:include src=\"/d\"/>", second);
  parser.finish(second);
  BOOST_TEST(dump(second.events()) == dump({text("c"), include("/d")}));
}
