// Streaming ESI parser for the fragments feature: HTML goes in, in pieces cut anywhere; out come
// text (passed through) and include instructions, in document order. Pure: no I/O, no fetching.
// The fragments body filter (later) feeds it each response-body piece, streams text downstream
// up to the first include still being fetched, and replaces each include with the fragment, its
// last good copy, its `alt`, or nothing.
//
// Understood (tag and attribute names case-insensitive, values in '', "" or unquoted, taken
// verbatim: no entity decoding, no ESI variables):
//   <esi:include src="..." alt="..." onerror="continue"/>   an include; `/>` optional, a following
//                                                           </esi:include> is dropped
//   <esi:remove> ... </esi:remove>                          dropped with its content
//   <!--esi ... -->                                         unwrapped: the markers are dropped,
//                                                           the content parsed like the rest
//
// The rule for everything else: no ESI markup ever reaches the text output. In particular:
//  - any other ESI element (<esi:try>, <esi:vars>, <esi:comment/>, ...) and any stray closing tag
//    (</esi:include>, </esi:remove> outside a remove) is dropped as a tag; its content stays;
//  - an include without a non-empty src is dropped;
//  - a tag longer than kMaxTagBytes is dropped up to and including the next '>' (bounded memory);
//  - a tag, or an <esi:remove>, still open at the end of the input is dropped;
//  - text on both sides of dropped markup is read as one: if the two sides form ESI markup
//    ("<" + [dropped] + "esi:include .../>"), that markup is handled like any other (whatever of
//    it was already passed on, here "<", stays as text). So the text output, concatenated, never
//    contains "<esi:", "</esi:" or "<!--esi" in any case.
// Markup is recognised anywhere, also inside HTML comments, <script> and attribute values.
//
// Memory: bounded per parser (a tag of at most kMaxTagBytes, a few bytes of held-back text).
// Worker thread only (one parser per response body).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pforte::modules::isolation {

/// One <esi:include>.
struct EsiInclude {
  std::string src;                ///< what to fetch (through pforte's own routes)
  std::string alt;                ///< fetched instead if `src` fails; empty if none
  bool onerror_continue = false;  ///< onerror="continue": a failure may render as nothing

  bool operator==(const EsiInclude&) const = default;
};

/// Receives what the parser finds, in document order.
class EsiSink {
 public:
  virtual ~EsiSink() = default;
  /// Text to pass through. The view is valid only during the call (it points into the piece
  /// being fed, or into the parser); text may arrive in any number of pieces.
  virtual void on_text(std::string_view text) = 0;
  virtual void on_include(EsiInclude include) = 0;
};

class EsiParser {
 public:
  static constexpr size_t kMaxTagBytes = 4096;

  /// Parses the next piece of the document. Text that may still turn out to be the start of
  /// markup (at most a few bytes) is held back until the next piece or finish().
  void feed(std::string_view piece, EsiSink& sink);
  /// The document is complete: releases held-back text, drops unfinished markup. The parser is
  /// then ready for a new document.
  void finish(EsiSink& sink);

  /// Malformed ESI markup dropped so far (for logs and metrics).
  uint64_t dropped() const { return dropped_; }

 private:
  enum class Mode : uint8_t {
    kText,     ///< passing text through, watching for markup (cand_ holds a partial match)
    kTag,      ///< inside <esi:... or </esi:..., buffering it in tag_
    kSkipTag,  ///< dropping the rest of a broken tag up to '>'
    kRemove,   ///< inside <esi:remove>, dropping until </esi:remove>
  };
  /// Where a buffered tag's lexer stands, to know whether a '>' ends the tag.
  enum class Lex : uint8_t {
    kName,
    kBeforeAttr,
    kAttrName,
    kAfterAttrName,
    kBeforeValue,
    kDoubleQuoted,
    kSingleQuoted,
    kUnquoted
  };

  size_t step_text(std::string_view piece, size_t i, EsiSink& sink);
  void on_markup(std::string_view pattern, size_t virtual_bytes);
  void end_tag(EsiSink& sink);
  void join();
  void emit(std::string_view text, EsiSink& sink);
  void flush_run(std::string_view piece, size_t end, EsiSink& sink);

  Mode mode_ = Mode::kText;
  bool in_comment_ = false;  ///< inside <!--esi ... -->
  // kText: bytes matching the start of markup. The first cand_carried_ came before the current
  // piece (the first cand_virtual_ of those were already passed on, see join()); the rest are the
  // bytes of the current piece just before the parse position.
  char cand_[8] = {};
  size_t cand_len_ = 0;
  size_t cand_carried_ = 0;
  size_t cand_virtual_ = 0;
  size_t run_start_ = 0;  ///< start of text in the current piece not yet passed on
  // The last few bytes passed on as text, to read text across dropped markup as one.
  char last_[8] = {};
  size_t last_len_ = 0;
  // kTag
  std::string tag_;  ///< the tag after "<esi:" / "</esi:"
  bool closing_ = false;
  Lex lex_ = Lex::kName;
  // kRemove: bytes of "</esi:remove" matched, then whether the name ended
  size_t remove_match_ = 0;
  uint64_t dropped_ = 0;
};

/// One parser event, for collecting a whole document (tests, fuzzing, small fragments).
struct EsiEvent {
  enum class Kind : uint8_t { kText, kInclude };
  Kind kind = Kind::kText;
  std::string text;    ///< kText
  EsiInclude include;  ///< kInclude

  bool operator==(const EsiEvent&) const = default;
};

/// A sink that keeps every event, joining adjacent text, so that the events of a document do not
/// depend on how it was cut into pieces.
class EsiCollector : public EsiSink {
 public:
  void on_text(std::string_view text) override;
  void on_include(EsiInclude include) override;
  const std::vector<EsiEvent>& events() const { return events_; }

 private:
  std::vector<EsiEvent> events_;
};

/// Parses a whole document at once.
std::vector<EsiEvent> parse_esi(std::string_view document);

}  // namespace pforte::modules::isolation
