// Puts a composed page together in document order: text of the page, and slots for includes
// whose content arrives later and in any order. take_ready() hands out everything up to the
// first slot still empty, so the page streams to the client as far as it can. Pure; one per
// response body. Worker thread only.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace pforte::modules::isolation {

class FragmentAssembler {
 public:
  /// Appends page text after everything added so far.
  void add_text(std::string_view text);
  /// Appends an empty slot; returns its id for fill().
  size_t add_slot();
  /// Sets a slot's content (once; later calls are ignored).
  void fill(size_t slot, std::string_view content);
  /// Appends to `out` everything before the first empty slot and forgets it.
  void take_ready(std::string& out);
  /// Slots not filled yet.
  size_t open_slots() const { return open_; }
  /// Nothing left to hand out.
  bool empty() const { return segments_.empty(); }

 private:
  struct Segment {
    std::string text;
    size_t slot = 0;  ///< slot id (slots only)
    bool is_slot = false;
    bool filled = false;
  };
  std::deque<Segment> segments_;
  size_t next_slot_ = 0;
  size_t open_ = 0;
};

}  // namespace pforte::modules::isolation
