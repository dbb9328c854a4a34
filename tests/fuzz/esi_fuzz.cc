// libFuzzer target for the streaming ESI parser (modules/isolation/esi.h). Checks invariants that
// hold for any input: the events are the same whether the document arrives at once or in random
// pieces, no ESI markup ever reaches the text output (the text concatenated, includes taken out,
// in any letter case), every text view points into the piece being fed or into the parser, and
// an include always has a src.
//
// The fuzz targets link only pforte_config and pforte_http, so the parser's source is compiled
// into this file directly.
#include "modules/isolation/esi.cc"  // NOLINT(bugprone-suspicious-include)

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace pforte::modules::isolation;

namespace {

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (0)

// Collects events and checks each text view against the piece being fed.
class CheckingSink : public EsiCollector {
 public:
  std::string_view piece;
  const EsiParser* parser = nullptr;

  void on_text(std::string_view text) override {
    FUZZ_CHECK(!text.empty());
    auto* p = reinterpret_cast<const char*>(parser);
    bool in_piece =
        text.data() >= piece.data() && text.data() + text.size() <= piece.data() + piece.size();
    bool in_parser = text.data() >= p && text.data() + text.size() <= p + sizeof(EsiParser);
    FUZZ_CHECK(in_piece || in_parser);
    EsiCollector::on_text(text);
  }
  void on_include(EsiInclude include) override {
    FUZZ_CHECK(!include.src.empty());
    EsiCollector::on_include(std::move(include));
  }
};

bool has_esi_markup(const std::vector<EsiEvent>& events) {
  std::string all;
  for (const auto& e : events)
    if (e.kind == EsiEvent::Kind::kText) all += e.text;
  for (auto& c : all)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return all.find("<esi:") != std::string::npos || all.find("</esi:") != std::string::npos ||
         all.find("<!--esi") != std::string::npos;
}

std::vector<EsiEvent> parse(std::string_view doc, uint64_t seed) {
  EsiParser parser;
  CheckingSink sink;
  sink.parser = &parser;
  size_t at = 0;
  while (at < doc.size()) {
    size_t n = doc.size() - at;
    if (seed != 0) {
      // xorshift64: mostly small pieces, so that markup is cut everywhere.
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      n = std::min<size_t>(n, (seed % 4 == 0) ? 1 + seed % 257 : 1 + seed % 9);
    }
    // Copy the piece so that views into an earlier piece would be caught by ASan.
    std::string piece(doc.substr(at, n));
    sink.piece = piece;
    parser.feed(piece, sink);
    at += n;
  }
  sink.piece = {};
  parser.finish(sink);
  return sink.events();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  auto whole = parse(doc, 0);
  FUZZ_CHECK(!has_esi_markup(whole));
  uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) seed = seed * 131 + data[i];
  for (int round = 0; round < 2; ++round) {
    auto pieces = parse(doc, seed + static_cast<uint64_t>(round) * 7919 + 1);
    FUZZ_CHECK(pieces == whole);
  }
  return 0;
}
