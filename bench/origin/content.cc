#include "bench/origin/content.h"

#include <array>
#include <charconv>
#include <cstring>
#include <string>

#include "bench/origin/options.h"

namespace pforte::origin {
namespace {

// The block repeated once, plus enough of it again that any offset has kPieceSize bytes after it.
struct Pattern {
  std::array<char, kPatternPeriod + kPieceSize> bytes;
  Pattern() {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < kPatternPeriod; ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      bytes[i] = (i % 64 == 63) ? '\n' : kAlphabet[state % kAlphabet.size()];
    }
    for (size_t i = kPatternPeriod; i < bytes.size(); ++i) bytes[i] = bytes[i % kPatternPeriod];
  }
};

const Pattern& pattern() {
  static const Pattern instance;
  return instance;
}

// The home page; `include` is the markup that embeds the blog (ESI for pforte, SSI for nginx).
std::string build_home_page(std::string_view include) {
  std::string page =
      "<!DOCTYPE html>\n"
      "<html lang=\"en\">\n"
      "<head>\n"
      "<meta charset=\"utf-8\">\n"
      "<title>Learning Platform - Home</title>\n"
      "<link rel=stylesheet href=/static/app.css>\n"
      "<script src=\"/static/app.js\" defer></script>\n"
      "</head>\n"
      "<body>\n"
      "<header><img src=\"/static/logo.png\" alt=\"logo\" width=\"64\" height=\"64\">\n"
      "<h1>Learning Platform</h1>\n"
      "<nav><a href=\"/login\">Log in</a></nav></header>\n"
      "<main>\n";
  static constexpr std::string_view kParagraph =
      "<p>Welcome back. Your courses, assignments and messages are one click away. Lessons "
      "start at eight; please log in a few minutes early so the class can begin on time.</p>\n";
  for (int i = 0; i < 15; ++i) page += kParagraph;
  page +=
      "</main>\n"
      "<aside class=\"blog\">\n"
      "<h2>News</h2>\n";
  page += include;
  page +=
      "</aside>\n"
      "<footer>pforte-origin</footer>\n"
      "</body>\n"
      "</html>\n";
  return page;
}

}  // namespace

size_t format_decimal(char* out, uint64_t value) {
  return static_cast<size_t>(std::to_chars(out, out + 20, value).ptr - out);
}

size_t format_hex(char* out, uint64_t value) {
  return static_cast<size_t>(std::to_chars(out, out + 20, value, 16).ptr - out);
}

void format_hex16(char* out, uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kDigits[value & 0xf];
    value >>= 4;
  }
}

uint64_t pattern_seed(std::string_view name) {
  return fnv1a64(name) % kPatternPeriod;
}

const char* pattern_at(uint64_t seed, uint64_t offset) {
  return pattern().bytes.data() + (seed + offset) % kPatternPeriod;
}

std::optional<StaticAsset> find_static_asset(std::string_view name) {
  if (name == "app.css") return StaticAsset{4096, "text/css"};
  if (name == "logo.png") return StaticAsset{65536, "image/png"};
  if (name == "app.js") return StaticAsset{20000, "application/javascript"};
  if (name.ends_with(".bin")) {
    auto size = parse_u64(name.substr(0, name.size() - 4));
    if (size && *size <= (uint64_t{4} << 30)) return StaticAsset{*size, "application/octet-stream"};
  }
  return std::nullopt;
}

std::string_view home_page() {
  static const std::string page = build_home_page(
      "<esi:include src=\"/news/latest\" alt=\"/news/fallback\" onerror=\"continue\"/>\n");
  return page;
}

std::string_view home_page_ssi() {
  // nginx outputs the stub block when the include fails: the text of the ESI alt, inline.
  static const std::string page =
      build_home_page("<!--# block name=\"news_fallback\" -->" + std::string(kNewsFallback) +
                      "<!--# endblock -->\n"
                      "<!--# include virtual=\"/news/latest\" stub=\"news_fallback\" -->\n");
  return page;
}

std::string_view login_page() {
  return "<!DOCTYPE html>\n"
         "<html lang=\"en\">\n"
         "<head><meta charset=\"utf-8\"><title>Log in</title>\n"
         "<link rel=stylesheet href=/static/app.css></head>\n"
         "<body>\n"
         "<h1>Log in</h1>\n"
         "<form method=\"post\" action=\"/login\">\n"
         "<label>User <input name=\"user\" autocomplete=\"username\"></label>\n"
         "<label>Password <input name=\"password\" type=\"password\"></label>\n"
         "<button type=\"submit\">Log in</button>\n"
         "</form>\n"
         "</body>\n"
         "</html>\n";
}

}  // namespace pforte::origin
