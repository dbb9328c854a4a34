// An ordered list of header fields, protocol-neutral: what HTTP/1.1 and HTTP/2 requests and
// responses become inside pforte. Names are stored lower-case (HTTP/2 style); values as received.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pforte::http {

/// One header field. Both views point into the text of the Headers that holds the field: they
/// stay valid, and never move, until that Headers is cleared, compacted, assigned to or
/// destroyed.
struct Field {
  std::string_view name;   ///< lower-case field name
  std::string_view value;  ///< field value, leading/trailing whitespace removed
};

/// Ordered header fields; repeated names keep their order. Lookups are linear: heads are small.
/// The text of all fields lives in a few chunks owned by the object (one for a copy), not in a
/// string per name and value: a head costs two allocations, however many fields it has. Adding
/// a field never moves the text of the others.
class Headers {
 public:
  Headers() = default;
  Headers(const Headers& other);
  Headers& operator=(const Headers& other);
  Headers(Headers&& other) noexcept;
  Headers& operator=(Headers&& other) noexcept;
  ~Headers();

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
  /// Moves the text into one chunk of exactly its size and trims the field table: for heads
  /// that are kept (cache entries), not for the ones of a single exchange. Views of the old text
  /// are then invalid.
  void compact();
  /// Removes every field; the text memory is given back too.
  void clear();
  void reserve(size_t n) { fields_.reserve(n); }
  /// Heap bytes held (field table and text chunks, with the allocator's per-block overhead), for
  /// memory accounting.
  size_t heap_bytes() const;

 private:
  /// The start of every chunk after the first: where the one before it is. The first chunk has
  /// no header, so a head that fits in one chunk is freed without reading its memory.
  struct Link {
    char* prev;
    size_t prev_size;
  };
  /// Copies `s` into the text chunks (lower-cased if `fold`) and returns where it now lives.
  std::string_view store(std::string_view s, bool fold);
  /// Starts a chunk with room for at least `n` more bytes of text.
  void grow(size_t n);
  void free_chunks();

  std::vector<Field> fields_;
  char* text_ = nullptr;  ///< the chunk being filled (its allocation starts here)
  size_t size_ = 0;       ///< allocated bytes of text_
  size_t used_ = 0;       ///< bytes of text_ used (a Link counts as used)
  size_t chunks_ = 0;     ///< chunks held
};

/// iequals() for two strings of the same size that differ somewhere.
bool iequals_folded(std::string_view a, std::string_view b);

/// ASCII case-insensitive comparison. Inline: most calls compare a field name against names of
/// other sizes, or against the same lower-case name, and end at the first test.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a == b || iequals_folded(a, b);
}

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
