#include "modules/waiting_room/admission_ledger.h"

#include <algorithm>
#include <bit>

namespace pforte::modules::waiting_room {

namespace {

constexpr uint64_t kMinSlots = 64;
constexpr uint64_t kMaxSlots = uint64_t{1} << 22;  // 32 MiB

uint64_t pack(uint32_t tag, uint16_t window, uint16_t count) {
  return (uint64_t{tag} << 32) | (uint64_t{window} << 16) | count;
}

}  // namespace

uint64_t recommended_slots(double admit_rate, double admit_burst, double session_ttl_s) {
  double need = 2 * admit_rate * session_ttl_s + admit_burst;
  if (!(need < static_cast<double>(kMaxSlots))) return kMaxSlots;
  return std::bit_ceil(std::max(kMinSlots, static_cast<uint64_t>(need)));
}

AdmissionLedger::AdmissionLedger(const LedgerOptions& options)
    : budget_(std::clamp<uint32_t>(options.budget, 1, 65535)),
      window_us_(std::max<int64_t>(1, options.window_us)),
      shift_(std::countr_zero(std::bit_ceil(std::clamp(options.slots, kMinSlots, kMaxSlots)))),
      slots_(uint64_t{1} << shift_) {}

AdmissionLedger::Use AdmissionLedger::charge(uint64_t id, int64_t now_us) {
  std::atomic<uint64_t>& slot = slots_[id & (slots_.size() - 1)];
  // Tags start at 1 so that an empty slot (0) never matches.
  const uint32_t tag = static_cast<uint32_t>((id >> shift_) + 1);
  const uint16_t window = static_cast<uint16_t>(now_us / window_us_);
  uint64_t old = slot.load();
  for (;;) {
    const uint32_t old_tag = static_cast<uint32_t>(old >> 32);
    const uint16_t old_window = static_cast<uint16_t>(old >> 16);
    const uint16_t old_count = static_cast<uint16_t>(old);
    uint64_t next;
    if (old == 0 || static_cast<int32_t>(tag - old_tag) > 0) {
      next = pack(tag, window, 1);  // first use, or the slot's admission is older
    } else if (tag != old_tag) {
      return Use::kSuperseded;
    } else if (old_window != window) {
      next = pack(tag, window, 1);
    } else if (old_count >= budget_) {
      return Use::kOverBudget;
    } else {
      next = pack(tag, window, static_cast<uint16_t>(old_count + 1));
    }
    if (slot.compare_exchange_weak(old, next)) return Use::kOk;
  }
}

}  // namespace pforte::modules::waiting_room
