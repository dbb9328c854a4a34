#include "modules/cache/http_date_parser.h"

#include <array>

namespace pforte::modules::cache {

namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/// A tiny cursor over the text; every reader returns false on a mismatch.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}

  bool literal(std::string_view lit) {
    if (s_.substr(0, lit.size()) != lit) return false;
    s_.remove_prefix(lit.size());
    return true;
  }
  /// Exactly `n` digits.
  bool digits(size_t n, int& out) {
    if (s_.size() < n) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      char c = s_[i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    out = v;
    s_.remove_prefix(n);
    return true;
  }
  bool month(int& out) {
    for (size_t i = 0; i < kMonths.size(); ++i) {
      if (literal(kMonths[i])) {
        out = static_cast<int>(i) + 1;
        return true;
      }
    }
    return false;
  }
  /// "HH:MM:SS"
  bool time_of_day(int& h, int& m, int& s) {
    return digits(2, h) && literal(":") && digits(2, m) && literal(":") && digits(2, s) &&
           h <= 23 && m <= 59 && s <= 60;  // 60: a leap second, folded into the next minute
  }
  /// Skips letters (a day name).
  bool day_name() {
    size_t n = 0;
    while (n < s_.size() && ((s_[n] >= 'A' && s_[n] <= 'Z') || (s_[n] >= 'a' && s_[n] <= 'z'))) {
      ++n;
    }
    if (n < 3) return false;
    s_.remove_prefix(n);
    return true;
  }
  bool done() const { return s_.empty(); }

 private:
  std::string_view s_;
};

std::optional<sys_seconds> make_time(int y, int mon, int d, int h, int m, int s) {
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mon)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd} + hours{h} + minutes{m} + seconds{s};
}

}  // namespace

std::optional<sys_seconds> parse_http_date(std::string_view text, sys_seconds now) {
  int y = 0, mon = 0, d = 0, h = 0, m = 0, s = 0;
  // IMF-fixdate: day-name "," SP 2DIGIT SP month SP 4DIGIT SP time SP "GMT"
  {
    Cursor c(text);
    if (c.day_name() && c.literal(", ") && c.digits(2, d) && c.literal(" ") && c.month(mon) &&
        c.literal(" ") && c.digits(4, y) && c.literal(" ") && c.time_of_day(h, m, s) &&
        c.literal(" GMT") && c.done()) {
      return make_time(y, mon, d, h, m, s);
    }
  }
  // RFC 850: day-name-l "," SP 2DIGIT "-" month "-" 2DIGIT SP time SP "GMT"
  {
    Cursor c(text);
    if (c.day_name() && c.literal(", ") && c.digits(2, d) && c.literal("-") && c.month(mon) &&
        c.literal("-") && c.digits(2, y) && c.literal(" ") && c.time_of_day(h, m, s) &&
        c.literal(" GMT") && c.done()) {
      // RFC 9110 §5.6.7: a year that appears to be more than 50 years in the future is in the
      // past century.
      int now_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
      int century = now_year / 100 * 100;
      int full = century + y;
      if (full > now_year + 50) full -= 100;
      return make_time(full, mon, d, h, m, s);
    }
  }
  // asctime: day-name SP month SP ( 2DIGIT / ( SP 1DIGIT )) SP time SP 4DIGIT
  {
    Cursor c(text);
    if (c.day_name() && c.literal(" ") && c.month(mon) && c.literal(" ") &&
        (c.digits(2, d) || (c.literal(" ") && c.digits(1, d))) && c.literal(" ") &&
        c.time_of_day(h, m, s) && c.literal(" ") && c.digits(4, y) && c.done()) {
      return make_time(y, mon, d, h, m, s);
    }
  }
  return std::nullopt;
}

}  // namespace pforte::modules::cache
