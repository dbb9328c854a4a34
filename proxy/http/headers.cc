#include "proxy/http/headers.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <utility>

#include "proxy/common/heap_size.h"

namespace pforte::http {

namespace {
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// Lower-cases the ASCII capitals among the bytes of `x` (SWAR: a byte's high bit marks it).
template <typename Word>
Word fold_word(Word x) {
  constexpr Word kOnes = static_cast<Word>(0x0101010101010101);
  constexpr Word kHigh = static_cast<Word>(0x8080808080808080);
  Word low7 = x & ~kHigh;
  Word at_least_a = low7 + (0x80 - 'A') * kOnes;     // high bit set where byte >= 'A'
  Word beyond_z = low7 + (0x80 - 'Z' - 1) * kOnes;   // high bit set where byte > 'Z'
  Word upper = at_least_a & ~beyond_z & ~x & kHigh;  // ... and the byte is ASCII
  return x | (upper >> 2);                           // 0x80 >> 2 == 0x20, the case bit
}

template <typename Word>
void fold_at(char* p) {
  Word x;
  std::memcpy(&x, p, sizeof x);
  x = fold_word(x);
  std::memcpy(p, &x, sizeof x);
}

// Lower-cases ASCII letters in place, a word at a time: this is on every field name of every
// head. The last word overlaps the one before it (folding twice changes nothing), so a name of
// any length from 4 bytes on takes no byte loop.
void fold_ascii(char* p, size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 <= n; i += 8) fold_at<uint64_t>(p + i);
    if (n % 8 != 0) fold_at<uint64_t>(p + n - 8);
  } else if (n >= 4) {
    fold_at<uint32_t>(p);
    fold_at<uint32_t>(p + n - 4);
  } else {
    for (size_t i = 0; i < n; ++i) p[i] = lower(p[i]);
  }
}

// The first chunk of a head that grows field by field (a second one is twice as large).
constexpr size_t kFirstChunk = 256;
}  // namespace

bool iequals_folded(std::string_view a, std::string_view b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

Headers::Headers(const Headers& other) {
  *this = other;
}

Headers& Headers::operator=(const Headers& other) {
  if (this == &other) return *this;
  clear();
  size_t text = 0;
  for (const Field& f : other.fields_) text += f.name.size() + f.value.size();
  fields_.reserve(other.fields_.size());
  // A copy gets one chunk of exactly the size of its text (cache entries keep copies).
  if (text > 0) grow(text);
  for (const Field& f : other.fields_) {
    std::string_view name = store(f.name, false);
    fields_.push_back(Field{name, store(f.value, false)});
  }
  return *this;
}

Headers::Headers(Headers&& other) noexcept
    : fields_(std::move(other.fields_)),
      text_(std::exchange(other.text_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      used_(std::exchange(other.used_, 0)),
      chunks_(std::exchange(other.chunks_, 0)) {
  other.fields_.clear();
}

Headers& Headers::operator=(Headers&& other) noexcept {
  if (this == &other) return *this;
  free_chunks();
  fields_ = std::move(other.fields_);
  other.fields_.clear();
  text_ = std::exchange(other.text_, nullptr);
  size_ = std::exchange(other.size_, 0);
  used_ = std::exchange(other.used_, 0);
  chunks_ = std::exchange(other.chunks_, 0);
  return *this;
}

Headers::~Headers() {
  free_chunks();
}

void Headers::free_chunks() {
  for (; chunks_ > 0; --chunks_) {
    Link link{};
    if (chunks_ > 1) std::memcpy(&link, text_, sizeof link);
    std::allocator<char>().deallocate(text_, size_);  // sized where the compiler has it
    text_ = link.prev;
    size_ = link.prev_size;
  }
  text_ = nullptr;
  size_ = used_ = 0;
}

void Headers::compact() {
  Headers copy(*this);  // one exact chunk and an exact field table
  *this = std::move(copy);
}

void Headers::clear() {
  fields_.clear();
  free_chunks();
}

size_t Headers::heap_bytes() const {
  size_t bytes = allocation_bytes(fields_.capacity() * sizeof(Field));
  const char* text = text_;
  size_t size = size_;
  for (size_t i = chunks_; i > 0; --i) {
    bytes += allocation_bytes(size);
    if (i == 1) break;
    Link link;
    std::memcpy(&link, text, sizeof link);
    text = link.prev;
    size = link.prev_size;
  }
  return bytes;
}

void Headers::grow(size_t n) {
  size_t header = chunks_ == 0 ? 0 : sizeof(Link);
  size_t size = chunks_ == 0 ? (n == 0 ? kFirstChunk : n) : 2 * size_;
  size = std::max(size, header + n);
  char* text = std::allocator<char>().allocate(size);
  if (chunks_ > 0) {
    Link link{text_, size_};
    std::memcpy(text, &link, sizeof link);
  }
  text_ = text;
  size_ = size;
  used_ = header;
  ++chunks_;
}

std::string_view Headers::store(std::string_view s, bool fold) {
  if (s.empty()) return {};
  if (size_ - used_ < s.size()) grow(chunks_ == 0 ? std::max(kFirstChunk, s.size()) : s.size());
  char* at = text_ + used_;
  std::memcpy(at, s.data(), s.size());
  if (fold) fold_ascii(at, s.size());
  used_ += s.size();
  return {at, s.size()};
}

void Headers::add(std::string_view name, std::string_view value) {
  std::string_view stored_name = store(name, true);
  fields_.push_back(Field{stored_name, store(value, false)});
}

void Headers::set(std::string_view name, std::string_view value) {
  // The first field of that name takes the value and keeps its place; any later ones go. The old
  // value's text stays in its chunk until the head is cleared or destroyed.
  auto first = std::find_if(fields_.begin(), fields_.end(),
                            [&](const Field& f) { return iequals(f.name, name); });
  if (first == fields_.end()) {
    add(name, value);
    return;
  }
  first->value = store(value, false);
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
    if (iequals(f.name, name)) return f.value;
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
