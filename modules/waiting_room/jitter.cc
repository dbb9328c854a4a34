#include "modules/waiting_room/jitter.h"

#include <algorithm>
#include <cmath>

namespace pforte::modules::waiting_room {

int64_t next_poll_ms(const PollPolicy& policy, double eta_s, uint64_t random_bits) {
  const double floor_s = std::max(0.001, policy.floor_s);
  const double jitter = std::clamp(policy.jitter, 0.0, 0.999);
  const double refresh = std::max(floor_s, policy.refresh_s);
  const double far = refresh * (1 - jitter + 2 * jitter * unit_interval(random_bits));
  double delay_s = far;
  if (!std::isnan(eta_s) && eta_s >= 0) {
    const double spread = std::min(kNearSpreadS, jitter * eta_s);
    const double near = eta_s + spread * unit_interval(SplitMix64(random_bits).next());
    delay_s = std::min(far, near);
  }
  return std::llround(std::max(floor_s, delay_s) * 1000);
}

int64_t whole_seconds(int64_t ms) {
  return std::max<int64_t>(1, (ms + 500) / 1000);
}

double unit_interval(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace pforte::modules::waiting_room
