#include "modules/isolation/fragment_assembler.h"

namespace pforte::modules::isolation {

void FragmentAssembler::add_text(std::string_view text) {
  if (text.empty()) return;
  if (segments_.empty() || segments_.back().is_slot) segments_.emplace_back();
  segments_.back().text.append(text);
}

size_t FragmentAssembler::add_slot() {
  Segment s;
  s.is_slot = true;
  s.slot = next_slot_++;
  segments_.push_back(std::move(s));
  ++open_;
  return segments_.back().slot;
}

void FragmentAssembler::fill(size_t slot, std::string_view content) {
  // Slots are few per page; a linear search over the pending part is cheap.
  for (Segment& s : segments_) {
    if (!s.is_slot || s.slot != slot) continue;
    if (s.filled) return;
    s.filled = true;
    s.text.assign(content);
    --open_;
    return;
  }
}

void FragmentAssembler::take_ready(std::string& out) {
  while (!segments_.empty()) {
    Segment& s = segments_.front();
    if (s.is_slot && !s.filled) return;
    out.append(s.text);
    segments_.pop_front();
  }
}

}  // namespace pforte::modules::isolation
