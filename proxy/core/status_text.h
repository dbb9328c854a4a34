// Reason phrases for HTTP status codes (HTTP/1.1 status lines and error bodies).
#pragma once

#include <string_view>

namespace pforte::core {

/// "OK" for 200, "Not Found" for 404, ...; "Unknown" for codes without a registered phrase.
std::string_view status_text(int status);

}  // namespace pforte::core
