#define BOOST_TEST_MODULE waiting_room_page
#include "modules/waiting_room/page.h"

#include <boost/test/unit_test.hpp>

using namespace pforte::modules::waiting_room;

namespace {

bool has(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

PageInfo info(Lang lang, uint64_t position = 1234, uint64_t eta = 185) {
  PageInfo i;
  i.room = "login";
  i.position = position;
  i.eta_seconds = eta;
  i.refresh_seconds = 12;
  i.refresh_ms = 11'617;
  i.lang = lang;
  return i;
}

}  // namespace

BOOST_AUTO_TEST_CASE(language_follows_accept_language_with_q_values) {
  BOOST_TEST((choose_language("") == Lang::kEn));
  BOOST_TEST((choose_language("de-DE,de;q=0.9,en;q=0.8") == Lang::kDe));
  BOOST_TEST((choose_language("en-US,en;q=0.9,de;q=0.8") == Lang::kEn));
  BOOST_TEST((choose_language("fr-FR, fr;q=0.9, de;q=0.5") == Lang::kDe));
  BOOST_TEST((choose_language("en;q=0.4, de-AT;q=0.6") == Lang::kDe));
  BOOST_TEST((choose_language("DE-at") == Lang::kDe));
  BOOST_TEST((choose_language("fr, it") == Lang::kEn));
  BOOST_TEST((choose_language("de;q=0, en;q=0.1") == Lang::kEn));
  BOOST_TEST((choose_language("de;q=0") == Lang::kEn));
  BOOST_TEST((choose_language("*;q=0.5, de;q=0.4") == Lang::kEn));
  BOOST_TEST((choose_language("en;q=0.5, de;q=0.5") == Lang::kEn));  // a tie keeps the first
  BOOST_TEST((choose_language("de;q=0.500, en;q=0.5") == Lang::kDe));
  BOOST_TEST((choose_language("de;q=nonsense, en;q=0.1") == Lang::kEn));
  BOOST_TEST((choose_language("dex, deutsch, en-de") == Lang::kEn));
  BOOST_TEST((choose_language("de;q=1.0") == Lang::kDe));
}

BOOST_AUTO_TEST_CASE(english_page_shows_place_wait_and_refresh) {
  std::string page = render_builtin_page(info(Lang::kEn));
  BOOST_TEST(has(page, "<html lang=\"en\">"));
  BOOST_TEST(has(page, "<meta http-equiv=\"refresh\" content=\"12\">"));
  // The script reloads to the millisecond; the meta refresh is the fallback without script.
  BOOST_TEST(has(page, "var m=11617,"));
  BOOST_TEST(has(page, "setTimeout("));
  BOOST_TEST(has(page, "<h1>"));
  BOOST_TEST(has(page, "role=\"status\""));
  BOOST_TEST(has(page, "<strong>1234</strong>"));
  BOOST_TEST(has(page, "about 3 minutes"));
  BOOST_TEST(has(page, "<meta charset=\"utf-8\">"));
}

BOOST_AUTO_TEST_CASE(german_page_is_german) {
  std::string page = render_builtin_page(info(Lang::kDe));
  BOOST_TEST(has(page, "<html lang=\"de\">"));
  BOOST_TEST(has(page, "etwa 3 Minuten"));
  BOOST_TEST(has(page, "Warteschlange"));
  BOOST_TEST(!has(page, "minutes"));
}

BOOST_AUTO_TEST_CASE(page_states_say_what_is_happening) {
  PageInfo next = info(Lang::kEn, 0, 0);
  BOOST_TEST(has(render_builtin_page(next), "your turn in a moment"));
  PageInfo before = info(Lang::kDe);
  before.state = PageState::kBeforeOpening;
  std::string b = render_builtin_page(before);
  BOOST_TEST(has(b, "ausgelosten Platz"));
  BOOST_TEST(!has(b, "1234"));
  PageInfo paused = info(Lang::kEn);
  paused.state = PageState::kPaused;
  BOOST_TEST(has(render_builtin_page(paused), "paused"));
}

BOOST_AUTO_TEST_CASE(page_is_small_and_self_contained) {
  for (Lang lang : {Lang::kEn, Lang::kDe}) {
    for (PageState state : {PageState::kWaiting, PageState::kBeforeOpening, PageState::kPaused}) {
      PageInfo i = info(lang, UINT64_MAX, UINT64_MAX / 2);
      i.state = state;
      i.refresh_seconds = INT32_MAX;
      std::string page = render_builtin_page(i);
      BOOST_TEST(page.size() < 8192u);
      for (std::string_view external :
           {"http:", "https:", "//", "src=", "<link", "@import", "url(", "<img", "<iframe"}) {
        BOOST_TEST(!has(page, external), "page refers to " << external);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(eta_reads_like_a_person_would_say_it) {
  BOOST_TEST(human_eta(0, Lang::kEn) == "less than a minute");
  BOOST_TEST(human_eta(59, Lang::kDe) == "weniger als eine Minute");
  BOOST_TEST(human_eta(60, Lang::kEn) == "about 1 minute");
  BOOST_TEST(human_eta(89, Lang::kDe) == "etwa 1 Minute");
  BOOST_TEST(human_eta(185, Lang::kEn) == "about 3 minutes");
  BOOST_TEST(human_eta(89 * 60, Lang::kEn) == "about 89 minutes");
  BOOST_TEST(human_eta(90 * 60, Lang::kEn) == "about 2 hours");
  BOOST_TEST(human_eta(5 * 3600, Lang::kDe) == "etwa 5 Stunden");
  BOOST_TEST(eta_seconds(0.0) == 0u);
  BOOST_TEST(eta_seconds(0.2) == 1u);
  BOOST_TEST(eta_seconds(12.0) == 12u);
}

BOOST_AUTO_TEST_CASE(template_placeholders_are_filled) {
  PageInfo i = info(Lang::kDe, 42, 125);
  std::string out = render_template(
      "<html lang=\"{{lang}}\"><meta http-equiv=refresh "
      "content={{refresh_seconds}}>{{refresh_ms}}"
      "{{room}}: {{position}} / {{eta_seconds}}s / "
      "{{eta_minutes}} min {{unknown}} {{",
      i);
  BOOST_TEST(out ==
             "<html lang=\"de\"><meta http-equiv=refresh content=12>11617"
             "login: 42 / 125s / 3 min {{unknown}} {{");
}

BOOST_AUTO_TEST_CASE(template_values_are_escaped_and_not_expanded_twice) {
  PageInfo i = info(Lang::kEn);
  i.room = "<script>\"x\" & 'y' {{position}}</script>";
  BOOST_TEST(render_template("[{{room}}]", i) ==
             "[&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39; "
             "{{position}}&lt;/script&gt;]");
  BOOST_TEST(render_template("no placeholders", i) == "no placeholders");
  BOOST_TEST(render_template("{{position}}{{position}}", i) == "12341234");
}

BOOST_AUTO_TEST_CASE(json_body_has_position_eta_and_retry_after) {
  BOOST_TEST(render_json(17, 9, 5, 4617) ==
             "{\"position\":17,\"eta_seconds\":9,\"retry_after\":5,\"retry_after_ms\":4617}");
  BOOST_TEST(render_json(0, 0, 0, 0) ==
             "{\"position\":0,\"eta_seconds\":0,\"retry_after\":1,\"retry_after_ms\":1}");
}
