#include "modules/waiting_room/page.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace pforte::modules::waiting_room {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ieq_prefix(std::string_view tag, std::string_view lang) {
  if (tag.size() < lang.size()) return false;
  for (size_t i = 0; i < lang.size(); ++i) {
    char c = tag[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lang[i]) return false;
  }
  return tag.size() == lang.size() || tag[lang.size()] == '-';
}

// q-value per RFC 9110: "0" / "1" with up to three decimals; anything else
// makes the entry void.
int parse_q(std::string_view params) {
  int q = 1000;
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = trim(params.substr(0, semi));
    params.remove_prefix(semi == std::string_view::npos ? params.size() : semi + 1);
    if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') continue;
    std::string_view v = p.substr(2);
    if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return -1;
    int whole = v[0] - '0';
    int frac = 0;
    int digits = 0;
    if (v.size() > 1) {
      if (v[1] != '.') return -1;
      for (char c : v.substr(2)) {
        if (c < '0' || c > '9') return -1;
        frac = frac * 10 + (c - '0');
        ++digits;
      }
    }
    while (digits++ < 3) frac *= 10;
    q = whole * 1000 + frac;
    if (q > 1000) return -1;
  }
  return q;
}

struct Text {
  std::string_view title;
  std::string_view heading;
  std::string_view intro;
  std::string_view place;
  std::string_view wait;
  std::string_view next;
  std::string_view before_opening;
  std::string_view paused;
  std::string_view keep_open;
};

constexpr Text kEnglish = {
    "Please wait a moment",
    "You are in line",
    "Many people want to get in right now. To keep the site working for "
    "everyone, we let "
    "visitors in one after another, in the order they arrived.",
    "Your place in line:",
    "Estimated wait:",
    "It is your turn in a moment.",
    "Entry opens soon. Everyone who arrives before the opening gets a place "
    "drawn at random, so "
    "there is no need to come early.",
    "Entry is paused for a moment. Your place is kept.",
    "This page updates itself. Keep it open; reloading it does not lose your "
    "place.",
};

constexpr Text kGerman = {
    "Bitte einen Moment Geduld",
    "Sie sind in der Warteschlange",
    "Gerade m\xc3\xb6"
    "chten sehr viele Menschen hinein. Damit die Seite f\xc3\xbcr alle "
    "funktioniert, lassen "
    "wir sie nacheinander ein, in der Reihenfolge ihrer Ankunft.",
    "Ihr Platz in der Schlange:",
    "Gesch\xc3\xa4tzte Wartezeit:",
    "Gleich sind Sie an der Reihe.",
    "Der Einlass beginnt bald. Wer vor dem Beginn kommt, bekommt einen "
    "ausgelosten Platz; "
    "fr\xc3\xbches Kommen lohnt sich also nicht.",
    "Der Einlass ist kurz angehalten. Ihr Platz bleibt erhalten.",
    "Diese Seite aktualisiert sich selbst. Lassen Sie sie offen; Neuladen "
    "kostet Sie Ihren "
    "Platz nicht.",
};

constexpr std::string_view kStyle =
    "body{margin:0;font:1.125rem/1.5 "
    "system-ui,sans-serif;color:#1b1b1b;background:#fafafa}"
    "main{max-width:36rem;margin:10vh auto;padding:0 1.25rem}"
    "h1{font-size:1.6rem;line-height:1.25}"
    "#wr-status{margin:1.5rem 0;padding:1rem 1.25rem;border-left:.3rem solid "
    "#0b4f8a;"
    "background:#fff}"
    "#wr-status strong{color:#0b4f8a;font-size:1.35rem}"
    "@media(prefers-color-scheme:dark){body{color:#f2f2f2;background:#141414}"
    "#wr-status{background:#1f1f1f;border-color:#9cc9ff}#wr-status "
    "strong{color:#9cc9ff}}";

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

}  // namespace

Lang choose_language(std::string_view header) {
  Lang best = Lang::kEn;
  int best_q = 0;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header.remove_prefix(comma == std::string_view::npos ? header.size() : comma + 1);
    size_t semi = item.find(';');
    std::string_view tag = trim(item.substr(0, semi));
    int q = semi == std::string_view::npos ? 1000 : parse_q(item.substr(semi + 1));
    if (q <= best_q) continue;  // ties keep the earlier entry; q=0 and void entries never win
    if (ieq_prefix(tag, "de")) {
      best = Lang::kDe;
    } else if (ieq_prefix(tag, "en") || tag == "*") {
      best = Lang::kEn;
    } else {
      continue;
    }
    best_q = q;
  }
  return best;
}

std::string_view lang_tag(Lang lang) {
  return lang == Lang::kDe ? "de" : "en";
}

uint64_t eta_seconds(double eta_s) {
  if (!(eta_s > 0)) return 0;
  if (eta_s > 1e12) return 1'000'000'000'000;
  return static_cast<uint64_t>(std::ceil(eta_s));
}

std::string human_eta(uint64_t seconds, Lang lang) {
  const bool de = lang == Lang::kDe;
  if (seconds < 60) return de ? "weniger als eine Minute" : "less than a minute";
  std::string out = de ? "etwa " : "about ";
  if (seconds < 90 * 60) {
    uint64_t minutes = (seconds + 30) / 60;
    append_uint(out, minutes);
    out += minutes == 1 ? (de ? " Minute" : " minute") : (de ? " Minuten" : " minutes");
  } else {
    uint64_t hours = (seconds + 1800) / 3600;
    append_uint(out, hours);
    out += de ? " Stunden" : " hours";
  }
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_builtin_page(const PageInfo& info) {
  const Text& t = info.lang == Lang::kDe ? kGerman : kEnglish;
  const int64_t refresh = info.refresh_seconds < 1 ? 1 : info.refresh_seconds;
  std::string out;
  out.reserve(3072);
  out += "<!doctype html>\n<html lang=\"";
  out += lang_tag(info.lang);
  out +=
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" "
      "content=\"width=device-width,initial-scale=1\">\n"
      "<meta http-equiv=\"refresh\" content=\"";
  append_uint(out, static_cast<uint64_t>(refresh));
  out += "\">\n<title>";
  out += t.title;
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<main>\n<h1>";
  out += t.heading;
  out += "</h1>\n<p>";
  out += t.intro;
  out += "</p>\n<div id=\"wr-status\" role=\"status\">\n";
  if (info.state == PageState::kBeforeOpening) {
    out += "<p>";
    out += t.before_opening;
    out += "</p>\n";
  } else if (info.state == PageState::kPaused) {
    out += "<p>";
    out += t.paused;
    out += "</p>\n";
  }
  if (info.position == 0 && info.state == PageState::kWaiting) {
    out += "<p><strong>";
    out += t.next;
    out += "</strong></p>\n";
  } else if (info.state != PageState::kBeforeOpening) {
    out += "<p>";
    out += t.place;
    out += " <strong>";
    append_uint(out, info.position);
    out += "</strong></p>\n";
  }
  if (info.position != 0 || info.state != PageState::kWaiting) {
    out += "<p>";
    out += t.wait;
    out += " <strong>";
    out += human_eta(info.eta_seconds, info.lang);
    out += "</strong></p>\n";
  }
  out += "</div>\n<p>";
  out += t.keep_open;
  // The script reloads to the millisecond (the meta refresh, whole seconds, is the fallback), and
  // at once when a background tab whose time has passed is shown again.
  out += "</p>\n</main>\n<script>(function(){var m=";
  append_uint(out, static_cast<uint64_t>(std::max<int64_t>(1, info.refresh_ms)));
  out +=
      ",d=Date.now()+m;setTimeout(function(){location.reload()},m);"
      "document.addEventListener(\"visibilitychange\",function(){"
      "if(!document.hidden&&Date.now()>d)location.reload()})})()</"
      "script>\n</body>\n</html>\n";
  return out;
}

std::string render_template(std::string_view tmpl, const PageInfo& info) {
  std::string out;
  out.reserve(tmpl.size() + 64);
  while (!tmpl.empty()) {
    size_t open = tmpl.find("{{");
    if (open == std::string_view::npos) break;
    out.append(tmpl.substr(0, open));
    tmpl.remove_prefix(open);
    size_t close = tmpl.find("}}", 2);
    if (close == std::string_view::npos) break;
    std::string_view name = tmpl.substr(2, close - 2);
    std::string value;
    value.reserve(32);  // also keeps g++ 12 -O3 from a false -Wmaybe-uninitialized
    bool known = true;
    if (name == "position") {
      append_uint(value, info.position);
    } else if (name == "eta_seconds") {
      append_uint(value, info.eta_seconds);
    } else if (name == "eta_minutes") {
      append_uint(value, (info.eta_seconds + 59) / 60);
    } else if (name == "refresh_seconds") {
      append_uint(value,
                  static_cast<uint64_t>(info.refresh_seconds < 1 ? 1 : info.refresh_seconds));
    } else if (name == "refresh_ms") {
      append_uint(value, static_cast<uint64_t>(std::max<int64_t>(1, info.refresh_ms)));
    } else if (name == "room") {
      value = info.room;
    } else if (name == "lang") {
      value = lang_tag(info.lang);
    } else {
      known = false;
    }
    if (known) {
      out += html_escape(value);
      tmpl.remove_prefix(close + 2);
    } else {
      out.append("{{");
      tmpl.remove_prefix(2);
    }
  }
  out.append(tmpl);
  return out;
}

std::string render_json(uint64_t position, uint64_t eta_seconds, int64_t retry_after,
                        int64_t retry_after_ms) {
  std::string out = "{\"position\":";
  append_uint(out, position);
  out += ",\"eta_seconds\":";
  append_uint(out, eta_seconds);
  out += ",\"retry_after\":";
  append_uint(out, static_cast<uint64_t>(retry_after < 1 ? 1 : retry_after));
  out += ",\"retry_after_ms\":";
  append_uint(out, static_cast<uint64_t>(retry_after_ms < 1 ? 1 : retry_after_ms));
  out += "}";
  return out;
}

}  // namespace pforte::modules::waiting_room
