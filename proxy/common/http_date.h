// IMF-fixdate strings ("Sun, 06 Nov 1994 08:49:37 GMT") for Date headers, formatted at most once
// per second per thread.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace pforte {

/// The current time as an IMF-fixdate. The view stays valid until the next call on this thread.
std::string_view http_date_now();
/// Formats `t` as an IMF-fixdate.
std::string format_http_date(time_t t);

}  // namespace pforte
