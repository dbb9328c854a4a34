#include "proxy/http/headers.h"

#include <algorithm>
#include <iterator>

namespace pforte::http {

namespace {
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // Stored names are lower case and most lookups name them so: one memcmp settles those.
  if (a == b) return true;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void Headers::add(std::string_view name, std::string_view value) {
  Field& f = fields_.emplace_back(Field{std::string(name), std::string(value)});
  // Fold in place after one construction (no temporary, no std::transform round trip).
  for (char& c : f.name) c = lower(c);
}

void Headers::set(std::string_view name, std::string_view value) {
  // The first field of that name takes the value in place (its strings keep their memory); any
  // later ones go.
  auto first = std::find_if(fields_.begin(), fields_.end(),
                            [&](const Field& f) { return iequals(f.name, name); });
  if (first == fields_.end()) {
    add(name, value);
    return;
  }
  first->value.assign(value);
  auto rest = std::next(first);
  fields_.erase(
      std::remove_if(rest, fields_.end(), [&](const Field& f) { return iequals(f.name, name); }),
      fields_.end());
}

size_t Headers::remove(std::string_view name) {
  size_t before = fields_.size();
  std::erase_if(fields_, [&](const Field& f) { return iequals(f.name, name); });
  return before - fields_.size();
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const Field& f : fields_) {
    if (iequals(f.name, name)) return std::string_view(f.value);
  }
  return std::nullopt;
}

bool Headers::contains_token(std::string_view name, std::string_view token) const {
  bool found = false;
  for (const Field& f : fields_) {
    if (!iequals(f.name, name)) continue;
    for_each_token(f.value, [&](std::string_view t) { found = found || iequals(t, token); });
  }
  return found;
}

}  // namespace pforte::http
