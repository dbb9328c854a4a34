#include "modules/isolation/esi.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace pforte::modules::isolation {
namespace {

// The markup the text scanner watches for. None is a prefix of another.
enum Pattern : int { kNone = -1, kOpenTag, kCloseTag, kCommentOpen, kCommentClose };
constexpr std::string_view kPatterns[] = {"<esi:", "</esi:", "<!--esi", "-->"};
constexpr std::string_view kRemoveEnd = "</esi:remove";

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

struct Match {
  bool prefix = false;   ///< `s` is a proper prefix of a pattern
  Pattern full = kNone;  ///< `s` is a whole pattern
};

// Classifies candidate bytes against the patterns live in the current mode ("-->" only inside
// <!--esi ... -->). Case-insensitive.
Match classify(const char* s, size_t n, bool in_comment) {
  Match m;
  int count = in_comment ? 4 : 3;
  for (int p = 0; p < count; ++p) {
    std::string_view pat = kPatterns[p];
    if (n > pat.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < n && ok; ++i) ok = lower(s[i]) == pat[i];
    if (!ok) continue;
    if (n == pat.size()) {
      m.full = static_cast<Pattern>(p);
    } else {
      m.prefix = true;
    }
  }
  return m;
}

// Whether a tag ends at '>' depends only on whether the lexer is inside a quoted value; the lexer
// follows HTML: a quote opens a value only right after '='.
template <typename Lex>
Lex advance(Lex s, char c) {
  switch (s) {
    case Lex::kName:
      if (is_space(c) || c == '/') return Lex::kBeforeAttr;
      return s;
    case Lex::kBeforeAttr:
      if (is_space(c) || c == '/') return s;
      return Lex::kAttrName;
    case Lex::kAttrName:
      if (is_space(c)) return Lex::kAfterAttrName;
      if (c == '=') return Lex::kBeforeValue;
      if (c == '/') return Lex::kBeforeAttr;
      return s;
    case Lex::kAfterAttrName:
      if (is_space(c)) return s;
      if (c == '=') return Lex::kBeforeValue;
      if (c == '/') return Lex::kBeforeAttr;
      return Lex::kAttrName;
    case Lex::kBeforeValue:
      if (is_space(c)) return s;
      if (c == '"') return Lex::kDoubleQuoted;
      if (c == '\'') return Lex::kSingleQuoted;
      return Lex::kUnquoted;
    case Lex::kDoubleQuoted:
      return c == '"' ? Lex::kBeforeAttr : s;
    case Lex::kSingleQuoted:
      return c == '\'' ? Lex::kBeforeAttr : s;
    case Lex::kUnquoted:
      return is_space(c) ? Lex::kBeforeAttr : s;
  }
  return s;
}

// A complete tag (the bytes between "<esi:" and '>'), split into its name and attributes with the
// same rules the lexer used to find its end.
struct ParsedTag {
  std::string_view name;
  std::vector<std::pair<std::string_view, std::string_view>> attributes;

  // The first attribute of that name (HTML ignores repeats), or empty.
  std::string_view get(std::string_view attr) const {
    for (const auto& [n, v] : attributes)
      if (iequals(n, attr)) return v;
    return {};
  }
};

ParsedTag parse_tag(std::string_view s) {
  ParsedTag tag;
  size_t p = 0;
  auto at_end_of_name = [&](char c) { return is_space(c) || c == '/'; };
  while (p < s.size() && !at_end_of_name(s[p])) ++p;
  tag.name = s.substr(0, p);
  while (true) {
    while (p < s.size() && (is_space(s[p]) || s[p] == '/')) ++p;
    if (p >= s.size()) break;
    size_t name_start = p;
    // The first byte is taken whatever it is (the lexer does the same, even for '=').
    ++p;
    while (p < s.size() && !is_space(s[p]) && s[p] != '=' && s[p] != '/') ++p;
    std::string_view name = s.substr(name_start, p - name_start);
    size_t q = p;
    while (q < s.size() && is_space(s[q])) ++q;
    std::string_view value;
    if (q < s.size() && s[q] == '=') {
      p = q + 1;
      while (p < s.size() && is_space(s[p])) ++p;
      if (p < s.size() && (s[p] == '"' || s[p] == '\'')) {
        char quote = s[p++];
        size_t end = s.find(quote, p);
        if (end == std::string_view::npos) end = s.size();  // cannot happen: the lexer saw it
        value = s.substr(p, end - p);
        p = std::min(end + 1, s.size());
      } else {
        size_t start = p;
        while (p < s.size() && !is_space(s[p])) ++p;
        value = s.substr(start, p - start);
      }
    }
    tag.attributes.emplace_back(name, value);
  }
  return tag;
}

}  // namespace

void EsiParser::emit(std::string_view text, EsiSink& sink) {
  if (text.empty()) return;
  sink.on_text(text);
  constexpr size_t kKeep = 7;  // the longest pattern
  if (text.size() >= kKeep) {
    std::memcpy(last_, text.data() + text.size() - kKeep, kKeep);
    last_len_ = kKeep;
    return;
  }
  size_t keep = std::min(last_len_, kKeep - text.size());
  std::memmove(last_, last_ + last_len_ - keep, keep);
  std::memcpy(last_ + keep, text.data(), text.size());
  last_len_ = keep + text.size();
}

void EsiParser::flush_run(std::string_view piece, size_t end, EsiSink& sink) {
  if (end > run_start_) emit(piece.substr(run_start_, end - run_start_), sink);
  run_start_ = std::max(run_start_, end);
}

// After markup was dropped (or an include taken out), the text already passed on and the text to
// come are read as one: the end of what was passed on that could begin markup becomes the start
// of the candidate, marked as already passed on.
void EsiParser::join() {
  cand_len_ = cand_carried_ = cand_virtual_ = 0;
  for (size_t k = std::min<size_t>(last_len_, 6); k > 0; --k) {
    const char* tail = last_ + last_len_ - k;
    if (classify(tail, k, in_comment_).prefix) {
      std::memcpy(cand_, tail, k);
      cand_len_ = cand_carried_ = cand_virtual_ = k;
      return;
    }
  }
}

void EsiParser::on_markup(std::string_view pattern, size_t virtual_bytes) {
  if (pattern == kPatterns[kOpenTag] || pattern == kPatterns[kCloseTag]) {
    mode_ = Mode::kTag;
    tag_.clear();
    closing_ = pattern == kPatterns[kCloseTag];
    lex_ = Lex::kName;
    return;
  }
  if (pattern == kPatterns[kCommentOpen]) {
    // If "<!--" already went out as text, unwrapping is impossible; only "esi" is dropped.
    if (virtual_bytes == 0) in_comment_ = true;
  } else {
    in_comment_ = false;
  }
  join();
}

size_t EsiParser::step_text(std::string_view piece, size_t i, EsiSink& sink) {
  if (cand_len_ == 0) {
    size_t j = in_comment_ ? piece.find_first_of("<-", i) : piece.find('<', i);
    if (j == std::string_view::npos) return piece.size();
    cand_[0] = piece[j];
    cand_len_ = 1;
    cand_carried_ = cand_virtual_ = 0;
    return j + 1;
  }
  size_t len = cand_len_ + 1;
  cand_[cand_len_] = piece[i];
  Match m = classify(cand_, len, in_comment_);
  if (m.full != kNone) {
    size_t in_piece = len - cand_carried_;
    flush_run(piece, i + 1 - in_piece, sink);
    size_t virtual_bytes = cand_virtual_;
    cand_len_ = cand_carried_ = cand_virtual_ = 0;
    run_start_ = i + 1;
    on_markup(kPatterns[m.full], virtual_bytes);
    return i + 1;
  }
  if (m.prefix) {
    cand_len_ = len;
    return i + 1;
  }
  // Mismatch: keep the longest end that can still begin markup; the bytes before it are text.
  size_t keep = len - 1;
  while (keep > 0 && !classify(cand_ + len - keep, keep, in_comment_).prefix) --keep;
  size_t text = len - keep;
  if (cand_carried_ > 0) {
    // Bytes from before this piece are passed on now (none of this piece is pending yet);
    // the text bytes of this piece stay in the run.
    size_t k = std::min(text, cand_carried_);
    if (k > cand_virtual_) emit(std::string_view(cand_ + cand_virtual_, k - cand_virtual_), sink);
    cand_virtual_ = cand_virtual_ > text ? cand_virtual_ - text : 0;
    cand_carried_ -= k;
  }
  std::memmove(cand_, cand_ + text, keep);
  cand_len_ = keep;
  return i + 1;
}

void EsiParser::end_tag(EsiSink& sink) {
  mode_ = Mode::kText;
  bool self_closing = !tag_.empty() && tag_.back() == '/' && lex_ == Lex::kBeforeAttr;
  if (!closing_) {
    ParsedTag tag = parse_tag(tag_);
    if (iequals(tag.name, "include")) {
      std::string_view src = tag.get("src");
      if (src.empty()) {
        ++dropped_;
      } else {
        sink.on_include(EsiInclude{std::string(src), std::string(tag.get("alt")),
                                   iequals(tag.get("onerror"), "continue")});
      }
    } else if (iequals(tag.name, "remove") && !self_closing) {
      mode_ = Mode::kRemove;
      remove_match_ = 0;
    }
    // Other ESI elements are not supported: the tag is dropped, its content stays.
  }
  tag_.clear();
  if (mode_ == Mode::kText) join();
}

void EsiParser::feed(std::string_view piece, EsiSink& sink) {
  run_start_ = 0;
  cand_carried_ = cand_len_;
  size_t i = 0;
  const size_t n = piece.size();
  while (i < n) {
    switch (mode_) {
      case Mode::kText:
        i = step_text(piece, i, sink);
        break;
      case Mode::kTag: {
        char c = piece[i++];
        if (c == '>' && lex_ != Lex::kDoubleQuoted && lex_ != Lex::kSingleQuoted) {
          end_tag(sink);
          run_start_ = i;
          break;
        }
        lex_ = advance(lex_, c);
        tag_.push_back(c);
        if (tag_.size() > kMaxTagBytes) {
          ++dropped_;
          tag_.clear();
          tag_.shrink_to_fit();
          mode_ = Mode::kSkipTag;
        }
        break;
      }
      case Mode::kSkipTag: {
        size_t gt = piece.find('>', i);
        if (gt == std::string_view::npos) {
          i = n;
          break;
        }
        i = gt + 1;
        mode_ = Mode::kText;
        run_start_ = i;
        join();
        break;
      }
      case Mode::kRemove: {
        if (remove_match_ == 0) {
          size_t lt = piece.find('<', i);
          if (lt == std::string_view::npos) {
            i = n;
            break;
          }
          i = lt;
        }
        char c = piece[i++];
        if (remove_match_ == kRemoveEnd.size()) {
          // "</esi:remove" seen: it is the end tag if the name ends here.
          remove_match_ = 0;
          if (c == '>') {
            mode_ = Mode::kText;
            run_start_ = i;
            join();
          } else if (is_space(c) || c == '/') {
            mode_ = Mode::kSkipTag;
          } else if (c == '<') {
            remove_match_ = 1;
          }
        } else if (lower(c) == kRemoveEnd[remove_match_]) {
          ++remove_match_;
        } else {
          remove_match_ = c == '<' ? 1 : 0;
        }
        break;
      }
    }
  }
  if (mode_ == Mode::kText) {
    flush_run(piece, n - (cand_len_ - cand_carried_), sink);
    cand_carried_ = cand_len_;
  }
}

void EsiParser::finish(EsiSink& sink) {
  if (mode_ == Mode::kText) {
    if (cand_len_ > cand_virtual_)
      emit(std::string_view(cand_ + cand_virtual_, cand_len_ - cand_virtual_), sink);
  } else {
    ++dropped_;  // a tag or an <esi:remove> left open
  }
  mode_ = Mode::kText;
  in_comment_ = false;
  cand_len_ = cand_carried_ = cand_virtual_ = 0;
  run_start_ = 0;
  last_len_ = 0;
  tag_.clear();
  remove_match_ = 0;
}

void EsiCollector::on_text(std::string_view text) {
  if (events_.empty() || events_.back().kind != EsiEvent::Kind::kText) {
    events_.push_back(EsiEvent{EsiEvent::Kind::kText, std::string(text), {}});
  } else {
    events_.back().text.append(text);
  }
}

void EsiCollector::on_include(EsiInclude include) {
  events_.push_back(EsiEvent{EsiEvent::Kind::kInclude, {}, std::move(include)});
}

std::vector<EsiEvent> parse_esi(std::string_view document) {
  EsiParser parser;
  EsiCollector collector;
  parser.feed(document, collector);
  parser.finish(collector);
  return collector.events();
}

}  // namespace pforte::modules::isolation
