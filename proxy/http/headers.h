// An ordered list of header fields, protocol-neutral: what HTTP/1.1 and HTTP/2 requests and
// responses become inside pforte. Names are stored lower-case (HTTP/2 style); values as received.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pforte::http {

/// One header field.
struct Field {
  std::string name;   ///< lower-case field name
  std::string value;  ///< field value, leading/trailing whitespace removed
};

/// Ordered header fields; repeated names keep their order. Lookups are linear: heads are small.
class Headers {
 public:
  /// Appends a field; `name` is lower-cased.
  void add(std::string_view name, std::string_view value);
  /// Replaces every field named `name` with one field: the first keeps its place and takes
  /// `value`, later ones are removed; appended if absent.
  void set(std::string_view name, std::string_view value);
  /// Removes every field named `name` (case-insensitive); returns how many were removed.
  size_t remove(std::string_view name);
  /// Removes every field for which `pred(field)` is true; returns how many were removed.
  template <typename Pred>
  size_t remove_if(Pred&& pred) {
    return std::erase_if(fields_, std::forward<Pred>(pred));
  }
  /// The first value named `name` (case-insensitive), if any.
  std::optional<std::string_view> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  /// True if any field named `name` contains the comma-separated token `token`
  /// (case-insensitive), e.g. contains_token("connection", "close").
  bool contains_token(std::string_view name, std::string_view token) const;

  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }
  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  void clear() { fields_.clear(); }
  void reserve(size_t n) { fields_.reserve(n); }

 private:
  std::vector<Field> fields_;
};

/// ASCII case-insensitive comparison.
bool iequals(std::string_view a, std::string_view b);

/// Calls `fn(token)` for each comma-separated, whitespace-trimmed, non-empty token of `list`.
template <typename Fn>
void for_each_token(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace pforte::http
