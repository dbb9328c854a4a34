// Small text helpers for modules that write JSON and HTML (status pages, JSON answers). Pure.
#pragma once

#include <string>
#include <string_view>

namespace pforte::module {

/// Appends `s` as a JSON string literal, quotes included. Control characters and bytes >= 0x7f
/// are written as \u00XX escapes, so the output is always valid ASCII JSON.
void append_json_string(std::string& out, std::string_view s);

/// Appends `s` with &, <, >, " and ' escaped for HTML text and attribute values.
void append_html_escaped(std::string& out, std::string_view s);

}  // namespace pforte::module
