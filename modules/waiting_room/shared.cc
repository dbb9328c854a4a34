#include "modules/waiting_room/shared.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "modules/waiting_room/page.h"
#include "proxy/common/log.h"
#include "proxy/module/text.h"

namespace pforte::modules::waiting_room {

namespace {

constexpr size_t kMaxFileBytes = 1 << 20;  // key, template and state files are small

std::string at(const config::Config& config, const Position& p) {
  return config.source_path + ":" + std::to_string(std::max(p.line, 1)) + ":" +
         std::to_string(std::max(p.column, 1)) + ": ";
}

/// The whole file, or an error text ("cannot open: No such file or directory").
std::expected<std::string, std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(std::string("cannot open: ") + std::strerror(errno));
  std::string data;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return std::unexpected(std::string("cannot read: ") + std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxFileBytes) {
      ::close(fd);
      return std::unexpected(std::string("larger than 1 MiB"));
    }
  }
  ::close(fd);
  return data;
}

uint64_t random_seed() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed;
}

RoomOptions room_options(const RoomConfig& c) {
  RoomOptions o;
  o.admit_rate = c.admit_rate;
  o.admit_burst = c.admit_burst;
  o.opens_at_us = c.opens_at_us;
  o.window = default_window(c.admit_rate, c.admit_burst, kGraceSeconds);
  return o;
}

LedgerOptions ledger_options(const RoomConfig& c) {
  LedgerOptions o;
  o.slots = recommended_slots(c.admit_rate, c.admit_burst, static_cast<double>(c.session_ttl_s));
  return o;
}

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

int64_t unix_us_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Gate Room::gate() const {
  return Gate{config.name,
              *state,
              *ledger,
              keys,
              config.session_ttl_s,
              kGraceSeconds,
              PollPolicy{config.refresh_s, config.jitter, 1}};
}

std::string Room::json(int64_t now_us) const {
  state->advance(now_us);
  std::string out = "{\"room\":";
  module::append_json_string(out, config.name);
  out += ",\"queue_length\":" + std::to_string(state->waiting());
  out += ",\"issued\":" + std::to_string(state->issued());
  out += ",\"called\":" + std::to_string(state->called());
  out += ",\"admitted\":" + std::to_string(state->admissions());
  out += ",\"abandoned\":" + std::to_string(state->abandoned());
  out += ",\"given_back\":" + std::to_string(state->given_back());
  out += ",\"booked\":" + std::to_string(state->booked());
  out += ",\"booked_ahead_ms\":" + std::to_string(state->backlog_us(now_us) / 1000);
  out += ",\"rate\":" + number(config.admit_rate);
  out += ",\"burst\":" + number(config.admit_burst);
  out += ",\"paused\":";
  out += state->paused() ? "true" : "false";
  out += ",\"opens_at\":";
  if (config.opens_at.empty()) {
    out += "null";
  } else {
    module::append_json_string(out, config.opens_at);
  }
  out += "}";
  return out;
}

std::expected<std::shared_ptr<WaitingRoomShared>, std::string> WaitingRoomShared::prepare(
    const config::Config& config, const std::shared_ptr<module::ModuleShared>& previous,
    int64_t now_us) {
  auto shared = std::make_shared<WaitingRoomShared>();
  const auto it = config.modules.find("waiting_room");
  const auto* section =
      it == config.modules.end() ? nullptr : dynamic_cast<const SectionConfig*>(it->second.get());
  if (!section) return shared;
  const auto* before = dynamic_cast<const WaitingRoomShared*>(previous.get());
  std::string errors;  // every room's problems, one a line
  for (const RoomConfig& rc : section->rooms) {
    auto secret = read_file(rc.secret_file);
    if (!secret) {
      errors += at(config, rc.secret_file_at) + "secret_file " + rc.secret_file + ": " +
                secret.error() + "\n";
      continue;
    }
    auto keys = KeyRing::parse(*secret);
    if (!keys) {
      errors += at(config, rc.secret_file_at) + "secret_file " + rc.secret_file + ": " +
                keys.error() + "\n";
      continue;
    }
    auto room = std::make_unique<Room>(rc, std::move(*keys));
    if (!rc.template_file.empty()) {
      auto text = read_file(rc.template_file);
      if (!text) {
        errors += at(config, rc.template_at) + "template " + rc.template_file + ": " +
                  text.error() + "\n";
        continue;
      }
      room->template_text = std::move(*text);
    }
    if (!rc.state_file.empty() && ::access(directory_of(rc.state_file).c_str(), W_OK) != 0) {
      errors += at(config, rc.state_file_at) + "state_file " + rc.state_file +
                ": its directory is not writable: " + std::strerror(errno) + "\n";
      continue;
    }
    const Room* old = before ? before->find(rc.name) : nullptr;
    if (old) {
      const RoomConfig& oc = old->config;
      if (oc.admit_rate == rc.admit_rate && oc.admit_burst == rc.admit_burst &&
          oc.opens_at_us == rc.opens_at_us) {
        room->state = old->state;
      } else {
        // New admit settings: the counters and places move over; only the bucket rate changes.
        auto moved = RoomState::restore(room_options(rc), old->state->serialize(now_us), now_us);
        if (moved) room->state = std::move(*moved);
      }
      if (oc.admit_rate == rc.admit_rate && oc.admit_burst == rc.admit_burst &&
          oc.session_ttl_s == rc.session_ttl_s) {
        room->ledger = old->ledger;
      }
    }
    if (!room->state && !rc.state_file.empty() && ::access(rc.state_file.c_str(), F_OK) == 0) {
      auto blob = read_file(rc.state_file);
      if (!blob) {
        errors += at(config, rc.state_file_at) + "state_file " + rc.state_file + ": " +
                  blob.error() + "\n";
        continue;
      }
      auto restored = RoomState::restore(room_options(rc), *blob, now_us);
      if (restored) {
        room->state = std::move(*restored);
      } else {
        // Refusing to start would cost everyone more than a fresh line does.
        PF_WARN("%sstate_file %s: %s; the room starts afresh", at(config, rc.state_file_at).c_str(),
                rc.state_file.c_str(), restored.error().c_str());
      }
    }
    if (!room->state)
      room->state = std::make_shared<RoomState>(room_options(rc), now_us, random_seed());
    if (!room->ledger) room->ledger = std::make_shared<AdmissionLedger>(ledger_options(rc));
    static const std::vector<double> kWaitBuckets = {1,   5,   10,   30,   60,   120,  300,
                                                     600, 900, 1800, 3600, 7200, 14400};
    room->wait_seconds = &module::metrics().histogram(
        "pforte_waiting_room_wait_seconds",
        "Seconds from a visitor's ticket to their admission, by waiting room.", {{"room", rc.name}},
        kWaitBuckets);
    shared->rooms_.push_back(std::move(room));
  }
  if (!errors.empty()) {
    errors.pop_back();  // the last newline
    return std::unexpected(std::move(errors));
  }
  shared->save_failed_.assign(shared->rooms_.size(), 0);
  return shared;
}

const Room* WaitingRoomShared::find(std::string_view name) const {
  for (const auto& r : rooms_) {
    if (r->config.name == name) return r.get();
  }
  return nullptr;
}

bool WaitingRoomShared::persists() const {
  for (const auto& r : rooms_) {
    if (!r->config.state_file.empty()) return true;
  }
  return false;
}

void WaitingRoomShared::save(int64_t now_us) const {
  for (size_t i = 0; i < rooms_.size(); ++i) {
    const Room& room = *rooms_[i];
    if (room.config.state_file.empty()) continue;
    auto done = write_file_atomically(room.config.state_file, room.state->serialize(now_us));
    if (!done && !save_failed_[i]) {
      PF_ERROR("waiting room %s: cannot save %s: %s", room.config.name.c_str(),
               room.config.state_file.c_str(), done.error().c_str());
    }
    save_failed_[i] = done ? 0 : 1;
  }
}

void WaitingRoomShared::write_metrics(module::MetricsWriter& out) const {
  for (const auto& r : rooms_) {
    const module::Labels labels = {{"room", r->config.name}};
    r->state->advance(unix_us_now());
    out.gauge("pforte_waiting_room_queue_length", "Visitors holding a ticket not yet called.",
              labels, static_cast<double>(r->state->waiting()));
    out.counter("pforte_waiting_room_admitted_total",
                "Visitors let in, directly or by ticket (kept across restarts with state_file).",
                labels, static_cast<double>(r->state->admissions()));
    out.counter("pforte_waiting_room_abandoned_total",
                "Tickets whose holder did not come back in time after their turn.", labels,
                static_cast<double>(r->state->abandoned()));
    out.counter("pforte_waiting_room_given_back_total",
                "Admissions taken back because the platform answered 502/503/504 at once.", labels,
                static_cast<double>(r->state->given_back()));
    out.counter("pforte_waiting_room_booked_total",
                "Called visitors who found no token free and got the next one booked.", labels,
                static_cast<double>(r->state->booked()));
    out.gauge("pforte_waiting_room_booked_ahead_seconds",
              "How far ahead tokens are booked for called visitors (0: none outstanding).", labels,
              static_cast<double>(r->state->backlog_us(unix_us_now())) * 1e-6);
  }
}

void WaitingRoomShared::write_status_json(std::string& out) const {
  const int64_t now = unix_us_now();
  out += "{\"rooms\":[";
  for (size_t i = 0; i < rooms_.size(); ++i) {
    if (i) out += ",";
    out += rooms_[i]->json(now);
  }
  out += "]}";
}

void WaitingRoomShared::write_status_html(std::string& out) const {
  if (rooms_.empty()) return;
  const int64_t now = unix_us_now();
  out +=
      "<h2>Waiting rooms</h2>\n<table>\n<tr><th>room</th><th>queue length</th>"
      "<th>admitted</th><th>abandoned</th><th>rate/s</th><th>burst</th><th>state</th>"
      "<th>opens at</th></tr>\n";
  for (const auto& r : rooms_) {
    r->state->advance(now);
    out += "<tr><td>" + html_escape(r->config.name) + "</td><td>" +
           std::to_string(r->state->waiting()) + "</td><td>" +
           std::to_string(r->state->admissions()) + "</td><td>" +
           std::to_string(r->state->abandoned()) + "</td><td>" + number(r->config.admit_rate) +
           "</td><td>" + number(r->config.admit_burst) + "</td><td>" +
           (r->state->paused() ? "paused" : "running") + "</td><td>" +
           (r->config.opens_at.empty() ? std::string("-") : html_escape(r->config.opens_at)) +
           "</td></tr>\n";
  }
  out += "</table>\n";
}

void WaitingRoomShared::shutdown() {
  save(unix_us_now());
}

std::expected<void, std::string> write_file_atomically(const std::string& path,
                                                       std::string_view data) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return std::unexpected(tmp + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected(tmp + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected(path + ": " + std::strerror(err));
  }
  return {};
}

}  // namespace pforte::modules::waiting_room
