// What a waiting visitor sees: the built-in page (German or English by Accept-Language), an
// operator's template with placeholders, or, for clients that ask for JSON, a small JSON body.
//
// The built-in page is self-contained (no external resources, no fonts, no images), a few KB,
// accessible (a heading, the place and wait in a role="status" live region, contrast of at least
// 7:1 in light and dark schemes) and refreshes itself with <meta http-equiv="refresh"> after the
// jittered delay, so it works without JavaScript. A small inline script only reloads at once when
// a backgrounded tab becomes visible after its refresh time (mobile browsers delay hidden timers).
// Serve it with `Cache-Control: no-store` (kCacheControl).
//
// Pure: rendering only. Thread affinity: none.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pforte::modules::waiting_room {

inline constexpr std::string_view kCacheControl = "no-store";
inline constexpr std::string_view kHtmlContentType = "text/html; charset=utf-8";
inline constexpr std::string_view kJsonContentType = "application/json";

enum class Lang : uint8_t { kEn, kDe };

/// The best of German and English for an Accept-Language value (q-values
/// honoured, ties go to the earlier entry, q=0 excludes); English when neither
/// is acceptable or the header is empty.
Lang choose_language(std::string_view accept_language);
/// "en" or "de".
std::string_view lang_tag(Lang lang);

enum class PageState : uint8_t {
  kWaiting,        ///< in line (position 0: next in a moment)
  kBeforeOpening,  ///< the room has not opened; places are drawn at the opening
  kPaused,         ///< the operator paused admissions; places are kept
};

struct PageInfo {
  std::string_view room;        ///< the room's name
  uint64_t position = 0;        ///< place in line; 0 = it is their turn
  uint64_t eta_seconds = 0;     ///< estimated wait
  int64_t refresh_seconds = 1;  ///< when the page reloads itself without script (jittered)
  int64_t refresh_ms = 1000;    ///< the same to the millisecond, for the page's script
  Lang lang = Lang::kEn;
  PageState state = PageState::kWaiting;
};

/// Seconds for display and JSON: rounded up, so "0" means now.
uint64_t eta_seconds(double eta_s);
/// "less than a minute", "about 1 minute", "about 3 minutes", "about 2 hours"
/// (and German).
std::string human_eta(uint64_t seconds, Lang lang);
/// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(std::string_view s);

/// The built-in page.
std::string render_builtin_page(const PageInfo& info);

/// An operator template with {{position}}, {{eta_minutes}}, {{eta_seconds}},
/// {{refresh_seconds}}, {{refresh_ms}}, {{room}} and {{lang}} replaced by HTML-escaped values
/// in one pass (a value containing "{{" is not expanded again). Unknown {{...}}
/// are left as they are.
std::string render_template(std::string_view tmpl, const PageInfo& info);

/// {"position":N,"eta_seconds":N,"retry_after":N,"retry_after_ms":N} for a 429 answer to a JSON
/// client: retry_after in whole seconds like the Retry-After field, retry_after_ms exact (a
/// client that can wait to the millisecond keeps the crowd's returns spread within a second).
std::string render_json(uint64_t position, uint64_t eta_seconds, int64_t retry_after,
                        int64_t retry_after_ms);

}  // namespace pforte::modules::waiting_room
