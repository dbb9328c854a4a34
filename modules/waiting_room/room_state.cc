#include "modules/waiting_room/room_state.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

namespace pforte::modules::waiting_room {

namespace {

constexpr uint64_t kMinWindow = 128;
constexpr uint64_t kMaxWindow = uint64_t{1} << 27;  // 16 MiB of bits

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t round_window(uint64_t w) {
  return std::bit_ceil(std::clamp(w, kMinWindow, kMaxWindow));
}

// A keyed pseudo-random permutation of [0, n): a balanced four-round Feistel
// network on the smallest even number of bits that covers n, with cycle walking
// back into [0, n). The domain is less than 4n, so a walk takes fewer than four
// steps on average.
uint64_t permute(uint64_t x, uint64_t n, uint64_t key) {
  if (n <= 1) return x;
  const int bits = std::bit_width(n - 1);
  const int half = (bits + 1) / 2;
  const uint64_t mask = (uint64_t{1} << half) - 1;
  do {
    uint64_t l = x >> half;
    uint64_t r = x & mask;
    for (uint64_t round = 0; round < 4; ++round) {
      uint64_t f = mix64(key ^ mix64(r + (round << 56) + 0x9e3779b97f4a7c15ull)) & mask;
      uint64_t next_r = l ^ f;
      l = r;
      r = next_r;
    }
    x = (l << half) | r;
  } while (x >= n);
  return x;
}

}  // namespace

uint64_t default_window(double admit_rate, double admit_burst, double grace_s) {
  double need = 4 * (2 * admit_rate * grace_s + admit_burst);
  if (!(need < static_cast<double>(kMaxWindow))) return kMaxWindow;
  return round_window(static_cast<uint64_t>(need));
}

RoomState::RoomState(const RoomOptions& options, int64_t now_us, uint64_t seed)
    : RoomState(options, now_us, seed, static_cast<uint32_t>(mix64(seed + 1) >> 32)) {}

RoomState::RoomState(const RoomOptions& options, int64_t now_us, uint64_t seed, uint32_t epoch)
    : rate_(options.admit_rate),
      opens_at_us_(options.opens_at_us),
      window_(round_window(options.window
                               ? options.window
                               : default_window(options.admit_rate, options.admit_burst, 60))),
      seed_(seed),
      epoch_(epoch),
      bucket_(options.admit_rate, options.admit_burst, now_us),
      last_us_(now_us),
      recent_span_(std::max<uint64_t>(
          4 * kMinSeen, static_cast<uint64_t>(std::min(options.admit_rate * 20, 1e12)))),
      redeemed_bits_(window_ / 64) {
  if (opens_at_us_ == 0 || now_us >= opens_at_us_) opened_.store(true);
}

uint64_t RoomState::waiting() const {
  uint64_t issued = issued_.load();
  uint64_t called = this->called();
  return issued > called ? issued - called : 0;
}

uint64_t RoomState::effective(uint64_t raw) const {
  if (!opened_.load()) return raw;
  uint64_t block = preopen_block_.load();
  if (raw == 0 || raw > block) return raw;
  return permute(raw - 1, block, seed_) + 1;
}

void RoomState::open() {
  preopen_block_.store(issued_.load());
  opened_.store(true);
}

void RoomState::advance(int64_t now_us) {
  int64_t last = last_us_.load();
  do {
    if (now_us <= last) return;
  } while (!last_us_.compare_exchange_weak(last, now_us));
  // This thread owns the span [last, now_us): no other thread counts it. While the called
  // visitors who came back have booked tokens far ahead, the span calls nobody more.
  look_back(now_us);
  if (paused_.load() || bucket_.backlog_us(now_us) > kHoldBacklogUs) return;
  int64_t from = last;
  if (!opened_.load()) {
    if (now_us < opens_at_us_) return;
    open();
    from = std::max(from, opens_at_us_);
  }
  // admit_rate × elapsed, faster by the share of called tickets nobody redeems,
  // plus one call per token the burst cap threw away meanwhile.
  const double calls = rate_ * (static_cast<double>(now_us - from) * 1e-6 * speedup() +
                                static_cast<double>(bucket_.full_ns_between(from, now_us)) * 1e-9);
  uint64_t add = static_cast<uint64_t>(
      std::llround(std::min(calls, 0x1p46) * static_cast<double>(1u << kFracBits)));
  // In steps of at most window/2 tickets, so that no redemption bit is shared
  // by a ticket that leaves the window and one that enters it.
  const uint64_t max_step = (window_ / 2) << kFracBits;
  while (add > 0) {
    const uint64_t step = std::min(add, max_step);
    add -= step;
    uint64_t c = called_fp_.load();
    uint64_t target;
    do {
      target = std::min(c + step, issued_.load() << kFracBits);
      if (target <= c) return;
    } while (!called_fp_.compare_exchange_weak(c, target));
    expire(c >> kFracBits, target >> kFracBits);
  }
}

// Tickets in (from - window/2, to - window/2] leave the redemption window:
// count the ones never redeemed as abandoned and clear their bits for the
// tickets `window` later.
void RoomState::expire(uint64_t from, uint64_t to) {
  const uint64_t half = window_ / 2;
  if (to <= half) return;
  for_bit_words(from > half ? from - half : 0, to - half,
                [this](std::atomic<uint64_t>& word, uint64_t mask, uint64_t n) {
                  const uint64_t old = word.fetch_and(~mask);
                  abandoned_.fetch_add(n - static_cast<uint64_t>(std::popcount(old & mask)));
                });
}

void RoomState::look_back(int64_t now_us) {
  int64_t due = next_checkpoint_us_.load();
  if (now_us >= due && next_checkpoint_us_.compare_exchange_strong(due, now_us + kCheckpointUs)) {
    const size_t slot = checkpoint_seq_.fetch_add(1) % kCheckpoints;
    checkpoint_us_[slot].store(0);  // being written
    checkpoint_called_[slot].store(called());
    checkpoint_us_[slot].store(now_us);
  }
  // The counter as it stood kNoShowLagUs ago: the newest checkpoint at least that old.
  const int64_t then = now_us - kNoShowLagUs;
  uint64_t upto = 0;
  int64_t best = 0;
  for (size_t i = 0; i < kCheckpoints; ++i) {
    const int64_t at = checkpoint_us_[i].load();
    if (at != 0 && at <= then && at > best) {
      best = at;
      upto = checkpoint_called_[i].load();
    }
  }
  uint64_t from = looked_up_to_.load();
  do {
    if (upto <= from) return;
  } while (!looked_up_to_.compare_exchange_weak(from, upto));
  // Only tickets still in the redemption window have their bit.
  const uint64_t c = called();
  const uint64_t half = window_ / 2;
  if (c > half && from < c - half) from = c - half;
  if (upto <= from) return;
  const uint64_t n = upto - from;
  recent_lost_.fetch_add(unredeemed(from, upto));
  // Both halved now and then, so the share follows the crowd of the last ~20 s.
  if (recent_seen_.fetch_add(n) + n > recent_span_) {
    recent_seen_.store(recent_seen_.load() / 2);
    recent_lost_.store(recent_lost_.load() / 2);
  }
}

uint64_t RoomState::unredeemed(uint64_t from, uint64_t to) {
  uint64_t lost = 0;
  for_bit_words(from, to, [&lost](std::atomic<uint64_t>& word, uint64_t mask, uint64_t n) {
    lost += n - static_cast<uint64_t>(std::popcount(word.load() & mask));
  });
  return lost;
}

double RoomState::speedup() const {
  const uint64_t seen = recent_seen_.load();
  if (seen < kMinSeen) return 1;
  const double lost =
      std::min(kMaxLostShare, static_cast<double>(recent_lost_.load()) / static_cast<double>(seen));
  return 1 / (1 - lost);
}

Place RoomState::place_of(uint64_t effective_ticket, int64_t now_us) const {
  Place p;
  p.paused = paused_.load();
  if (!opened_.load()) {
    // Before the draw every early arrival has the same expected place.
    p.before_opening = true;
    p.position = (issued_.load() + 1) / 2;
    p.eta_s = static_cast<double>(std::max<int64_t>(0, opens_at_us_ - now_us)) * 1e-6 +
              static_cast<double>(p.position) / rate_;
    return p;
  }
  const uint64_t c = called();
  p.position = effective_ticket > c ? effective_ticket - c : 0;
  p.eta_s = static_cast<double>(p.position) / (rate_ * speedup()) +
            static_cast<double>(bucket_.backlog_us(now_us)) * 1e-6;
  return p;
}

Arrival RoomState::arrive(int64_t now_us) {
  advance(now_us);
  Arrival a;
  if (opened_.load() && !paused_.load() && waiting() == 0 && bucket_.try_take(now_us)) {
    a.kind = Arrival::Kind::kAdmitted;
    a.admission_id = next_admission();
    return a;
  }
  a.kind = Arrival::Kind::kTicket;
  a.ticket = issued_.fetch_add(1) + 1;
  a.place = place_of(effective(a.ticket), now_us);
  return a;
}

Redemption RoomState::redeem(uint64_t ticket, int64_t now_us) {
  advance(now_us);
  Redemption r;
  if (ticket == 0 || ticket > issued_.load()) {
    r.kind = Redemption::Kind::kUnknown;
    return r;
  }
  const uint64_t t = effective(ticket);
  r.place = place_of(t, now_us);
  if (!opened_.load() || paused_.load() || t > called()) {
    r.kind = Redemption::Kind::kWaiting;
    return r;
  }
  const uint64_t half = window_ / 2;
  if (t + half <= called()) {
    r.kind = Redemption::Kind::kTooOld;
    return r;
  }
  std::atomic<uint64_t>& word = redeemed_bits_[(t & (window_ - 1)) >> 6];
  const uint64_t mask = uint64_t{1} << (t & 63);
  if (word.fetch_or(mask) & mask) {
    r.kind = Redemption::Kind::kAlreadyRedeemed;
    return r;
  }
  if (t + half <= called()) {
    // The window moved past the ticket while we claimed it; its bit now belongs
    // to a later one.
    word.fetch_and(~mask);
    r.kind = Redemption::Kind::kTooOld;
    return r;
  }
  redeemed_.fetch_add(1);
  r.admission_id = next_admission();
  r.place.position = 0;
  const int64_t due_us = bucket_.book(now_us);
  if (due_us <= now_us) {
    r.kind = Redemption::Kind::kAdmitted;
    r.place.eta_s = 0;
  } else {
    r.kind = Redemption::Kind::kScheduled;
    r.not_before_us = due_us;
    booked_.fetch_add(1);
    r.place.eta_s = static_cast<double>(due_us - now_us) * 1e-6;
  }
  return r;
}

void RoomState::give_back(uint64_t ticket, int64_t now_us) {
  advance(now_us);
  if (ticket == 0 || ticket > issued_.load()) return;
  const uint64_t t = effective(ticket);
  if (t > called() || t + window_ / 2 <= called()) return;
  const uint64_t mask = uint64_t{1} << (t & 63);
  if (redeemed_bits_[(t & (window_ - 1)) >> 6].fetch_and(~mask) & mask) {
    redeemed_.fetch_sub(1);
    given_back_.fetch_add(1);
  }
}

uint64_t RoomState::take_ticket(int64_t now_us) {
  advance(now_us);
  given_back_.fetch_add(1);
  return issued_.fetch_add(1) + 1;
}

Place RoomState::place(uint64_t ticket, int64_t now_us) {
  advance(now_us);
  return place_of(effective(ticket), now_us);
}

void RoomState::pause(int64_t now_us) {
  advance(now_us);
  paused_.store(true);
}

void RoomState::resume(int64_t now_us) {
  advance(now_us);  // the paused span calls nobody
  paused_.store(false);
}

std::string RoomState::serialize(int64_t now_us) {
  advance(now_us);
  char tokens[32];
  std::snprintf(tokens, sizeof tokens, "%.3f", bucket_.available(now_us));
  std::string s = "pforte-waiting-room 1\n";
  auto line = [&s](const char* key, uint64_t v) {
    s.append(key).append(" ").append(std::to_string(v)).append("\n");
  };
  line("epoch", epoch_);
  line("seed", seed_);
  line("issued", issued_.load());
  line("called_fp", called_fp_.load());
  line("admissions", admissions_.load());
  line("redeemed", redeemed_.load());
  line("abandoned", abandoned_.load());
  line("paused", paused_.load() ? 1 : 0);
  line("opened", opened_.load() ? 1 : 0);
  line("preopen_block", preopen_block_.load());
  s.append("tokens ").append(tokens).append("\n");
  // Bookings not yet due (their holders' cookies pass at their times whatever happens here): the
  // restored bucket stays empty that long, so a restart does not let in more than the rate.
  line("backlog_us", static_cast<uint64_t>(bucket_.backlog_us(now_us)));
  return s;
}

std::expected<std::unique_ptr<RoomState>, std::string> RoomState::restore(
    const RoomOptions& options, std::string_view blob, int64_t now_us) {
  constexpr std::string_view kHeader = "pforte-waiting-room 1\n";
  if (!blob.starts_with(kHeader)) return std::unexpected(std::string("not a room state (v1)"));
  blob.remove_prefix(kHeader.size());
  std::map<std::string, uint64_t, std::less<>> fields;
  double tokens = -1;
  while (!blob.empty()) {
    size_t nl = blob.find('\n');
    std::string_view line = blob.substr(0, nl);
    blob.remove_prefix(nl == std::string_view::npos ? blob.size() : nl + 1);
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return std::unexpected("bad line: " + std::string(line));
    std::string_view key = line.substr(0, sp);
    std::string_view value = line.substr(sp + 1);
    if (key == "tokens") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), tokens);
      if (ec != std::errc() || p != value.data() + value.size() || !(tokens >= 0)) {
        return std::unexpected("bad tokens: " + std::string(value));
      }
      continue;
    }
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || p != value.data() + value.size()) {
      return std::unexpected("bad value: " + std::string(line));
    }
    fields[std::string(key)] = v;
  }
  for (const char* key : {"epoch", "seed", "issued", "called_fp", "admissions", "redeemed",
                          "abandoned", "paused", "opened", "preopen_block"}) {
    if (!fields.contains(key)) return std::unexpected(std::string("missing ") + key);
  }
  if (tokens < 0) return std::unexpected(std::string("missing tokens"));
  if (fields["epoch"] > UINT32_MAX || (fields["called_fp"] >> kFracBits) > fields["issued"] ||
      fields["preopen_block"] > fields["issued"]) {
    return std::unexpected(std::string("inconsistent counters"));
  }
  auto room = std::unique_ptr<RoomState>(
      new RoomState(options, now_us, fields["seed"], static_cast<uint32_t>(fields["epoch"])));
  room->issued_.store(fields["issued"]);
  room->called_fp_.store(fields["called_fp"]);
  room->admissions_.store(fields["admissions"]);
  room->redeemed_.store(fields["redeemed"]);
  room->abandoned_.store(fields["abandoned"]);
  room->paused_.store(fields["paused"] != 0);
  room->preopen_block_.store(fields["preopen_block"]);
  // A room that had opened stays open (its draw is fixed); one that had not
  // opens at opens_at.
  room->opened_.store(fields["opened"] != 0 || options.opens_at_us == 0 ||
                      now_us >= options.opens_at_us);
  if (fields["opened"] == 0 && room->opened_.load()) room->open();
  // backlog_us is absent from files written before bookings existed.
  const uint64_t backlog = fields.contains("backlog_us") ? fields["backlog_us"] : 0;
  room->bucket_.set_available(tokens, now_us,
                              static_cast<int64_t>(std::min<uint64_t>(backlog, 3'600'000'000)));
  return room;
}

}  // namespace pforte::modules::waiting_room
