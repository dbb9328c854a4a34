// Only the node accessors of toml++ are used here; the parser (and the two macro patches the core
// applies to it, see proxy/config/loader.cc) stays in the loader's translation unit.
#define TOML_ENABLE_PARSER 0
#include "modules/waiting_room/config.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "modules/waiting_room/token.h"
#include "proxy/common/units.h"

namespace pforte::modules::waiting_room {

namespace {

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

Position position_of(const toml::node& node) {
  const toml::source_position& p = node.source().begin;
  return Position{static_cast<int>(p.line), static_cast<int>(p.column)};
}

bool valid_room_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxRoomName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

/// A number (integer or float) as a double; reports a type error otherwise.
std::optional<double> get_number(const toml::node& node, std::string_view key,
                                 config::ErrorSink& errors) {
  if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
  if (const auto* f = node.as_floating_point()) {
    if (std::isfinite(f->get())) return f->get();
  }
  errors.add(node, quoted(key) + " must be a number");
  return std::nullopt;
}

std::optional<std::string> get_string(const toml::node& node, std::string_view key,
                                      config::ErrorSink& errors) {
  if (const auto* s = node.as_string()) return s->get();
  errors.add(node, quoted(key) + " must be a string");
  return std::nullopt;
}

std::optional<int64_t> get_duration_ms(const toml::node& node, std::string_view key,
                                       config::ErrorSink& errors) {
  const auto* s = node.as_string();
  if (!s) {
    errors.add(node, quoted(key) + R"( must be a duration string such as "10s" or "15m")");
    return std::nullopt;
  }
  const std::optional<Millis> value = parse_duration(s->get());
  if (!value) {
    errors.add(node, "invalid duration " + quoted(s->get()) + R"( (use e.g. "10s", "15m"))");
    return std::nullopt;
  }
  if (value->count() <= 0) {
    errors.add(node, quoted(key) + " must be greater than 0");
    return std::nullopt;
  }
  return value->count();
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void parse_room(const toml::table& table, RoomConfig& room, config::ErrorSink& errors) {
  const std::string where = "[waiting_room." + room.name + "]";
  bool has_rate = false;
  bool has_burst = false;
  bool has_secret = false;
  for (auto&& [key, value] : table) {
    const std::string_view k = key.str();
    if (k == "admit_rate") {
      has_rate = true;  // a bad value is reported once, not also as missing
      if (auto v = get_number(value, k, errors)) {
        if (*v > 0 && *v <= 1e6) {
          room.admit_rate = *v;
        } else {
          errors.add(value, R"("admit_rate" must be greater than 0 and at most 1000000)");
        }
      }
    } else if (k == "admit_burst") {
      if (auto v = get_number(value, k, errors)) {
        if (*v >= 1 && *v <= 1e7) {
          room.admit_burst = *v;
          has_burst = true;
        } else {
          errors.add(value, R"("admit_burst" must be at least 1 and at most 10000000)");
        }
      }
    } else if (k == "session_ttl") {
      if (auto ms = get_duration_ms(value, k, errors)) {
        if (*ms < 1000) {
          errors.add(value, R"("session_ttl" must be at least "1s")");
        } else {
          room.session_ttl_s = *ms / 1000;
        }
      }
    } else if (k == "refresh") {
      if (auto ms = get_duration_ms(value, k, errors)) {
        if (*ms < 1000 || *ms > 3'600'000) {
          errors.add(value, R"("refresh" must be between "1s" and "1h")");
        } else {
          room.refresh_s = static_cast<double>(*ms) / 1000;
        }
      }
    } else if (k == "jitter") {
      if (auto v = get_number(value, k, errors)) {
        if (*v >= 0 && *v < 1) {
          room.jitter = *v;
        } else {
          errors.add(value, R"("jitter" must be at least 0 and less than 1)");
        }
      }
    } else if (k == "secret_file") {
      has_secret = true;
      if (auto v = get_string(value, k, errors)) {
        if (v->empty()) {
          errors.add(value, R"("secret_file" must name a file)");
        } else {
          room.secret_file = std::move(*v);
          room.secret_file_at = position_of(value);
        }
      }
    } else if (k == "template") {
      if (auto v = get_string(value, k, errors)) {
        if (v->empty()) {
          errors.add(value, R"("template" must name a file)");
        } else {
          room.template_file = std::move(*v);
          room.template_at = position_of(value);
        }
      }
    } else if (k == "opens_at") {
      if (auto v = get_string(value, k, errors)) {
        std::optional<int64_t> us = parse_rfc3339(*v);
        if (!us || *us <= 0) {
          errors.add(value,
                     "invalid opens_at " + quoted(*v) +
                         R"( (use RFC 3339 with an offset, e.g. "2026-12-01T08:00:00+01:00"))");
        } else {
          room.opens_at = std::move(*v);
          room.opens_at_us = *us;
        }
      }
    } else if (k == "state_file") {
      if (auto v = get_string(value, k, errors)) {
        if (v->empty()) {
          errors.add(value, R"("state_file" must name a file)");
        } else {
          room.state_file = std::move(*v);
          room.state_file_at = position_of(value);
        }
      }
    } else {
      errors.add(static_cast<int>(key.source().begin.line),
                 static_cast<int>(key.source().begin.column),
                 "unknown key " + quoted(k) + " in " + where);
    }
  }
  if (!has_rate) errors.add(table, "missing \"admit_rate\" in " + where);
  if (!has_secret) errors.add(table, "missing \"secret_file\" in " + where);
  if (!has_burst) room.admit_burst = std::max(1.0, room.admit_rate);
}

std::shared_ptr<const config::ModuleConfig> parse_section(const toml::node& node,
                                                          config::ErrorSink& errors) {
  const toml::table* table = node.as_table();
  if (!table) {
    errors.add(node, "[waiting_room] must hold [waiting_room.NAME] tables");
    return nullptr;
  }
  auto section = std::make_shared<SectionConfig>();
  // toml++ keeps keys sorted; keep the operator's order for the status page.
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, value] : *table) entries.emplace_back(&key, &value);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.first->source().begin;
    const auto& pb = b.first->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  std::set<std::string> state_files;
  for (const auto& [key, value] : entries) {
    RoomConfig room;
    room.name = std::string(key->str());
    const toml::source_position& kp = key->source().begin;
    if (!valid_room_name(room.name)) {
      errors.add(static_cast<int>(kp.line), static_cast<int>(kp.column),
                 "invalid waiting room name " + quoted(room.name) +
                     R"( (1 to 64 letters, digits, "_" and "-"))");
    }
    const toml::table* room_table = value->as_table();
    if (!room_table) {
      errors.add(*value, "[waiting_room." + room.name + "] must be a table");
      continue;
    }
    room.at = position_of(*room_table);
    parse_room(*room_table, room, errors);
    if (!room.state_file.empty() && !state_files.insert(room.state_file).second) {
      errors.add(room.state_file_at.line, room.state_file_at.column,
                 "state_file " + quoted(room.state_file) + " is used by another room");
    }
    // Kept even when invalid, so routes naming it do not add a second, misleading error.
    section->rooms.push_back(std::move(room));
  }
  return section;
}

std::shared_ptr<const config::ModuleConfig> parse_route(const toml::node& node,
                                                        const config::ModuleConfig* section_config,
                                                        config::ErrorSink& errors) {
  const auto* s = node.as_string();
  if (!s) {
    errors.add(node, R"("waiting_room" must be the name of a [waiting_room.NAME] as a string)");
    return nullptr;
  }
  const auto* section = dynamic_cast<const SectionConfig*>(section_config);
  std::optional<size_t> index = section ? section->find(s->get()) : std::nullopt;
  if (!index) {
    errors.add(node, "unknown waiting room " + quoted(s->get()) + " (no [waiting_room." + s->get() +
                         "] table)");
    return nullptr;
  }
  auto route = std::make_shared<RouteRoomConfig>();
  route->room = s->get();
  route->room_index = *index;
  return route;
}

}  // namespace

std::optional<size_t> SectionConfig::find(std::string_view name) const {
  for (size_t i = 0; i < rooms.size(); ++i) {
    if (rooms[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<int64_t> parse_rfc3339(std::string_view t) {
  size_t i = 0;
  auto digits = [&](size_t n) -> std::optional<int64_t> {
    if (i + n > t.size()) return std::nullopt;
    int64_t v = 0;
    for (size_t k = 0; k < n; ++k) {
      const char c = t[i + k];
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    i += n;
    return v;
  };
  auto expect = [&](std::string_view chars) {
    if (i < t.size() && chars.find(t[i]) != std::string_view::npos) {
      ++i;
      return true;
    }
    return false;
  };
  auto year = digits(4);
  if (!year || !expect("-")) return std::nullopt;
  auto month = digits(2);
  if (!month || !expect("-")) return std::nullopt;
  auto day = digits(2);
  if (!day || !expect("Tt ")) return std::nullopt;
  auto hour = digits(2);
  if (!hour || !expect(":")) return std::nullopt;
  auto minute = digits(2);
  if (!minute || !expect(":")) return std::nullopt;
  auto second = digits(2);
  if (!second) return std::nullopt;
  int64_t micros = 0;
  if (expect(".")) {
    int64_t scale = 100'000;
    size_t n = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      micros += (t[i] - '0') * scale;
      scale /= 10;
      ++i;
      ++n;
    }
    if (n == 0) return std::nullopt;
  }
  int64_t offset_s = 0;
  if (expect("Zz")) {
    offset_s = 0;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    const int sign = t[i] == '-' ? -1 : 1;
    ++i;
    auto oh = digits(2);
    if (!oh || !expect(":")) return std::nullopt;
    auto om = digits(2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset_s = sign * (*oh * 3600 + *om * 60);
  } else {
    return std::nullopt;  // an offset is required: a bare local time is ambiguous
  }
  if (i != t.size()) return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (*month < 1 || *month > 12 || *day < 1 || *day > kDays[*month - 1]) return std::nullopt;
  const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  if (*month == 2 && *day == 29 && !leap) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  const int64_t days =
      days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  const int64_t unix_s =
      days * 86400 + *hour * 3600 + *minute * 60 + std::min<int64_t>(*second, 59) - offset_s;
  return unix_s * 1'000'000 + micros;
}

config::ModuleConfigParser config_parser() {
  config::ModuleConfigParser p;
  p.name = "waiting_room";
  p.parse_section = parse_section;
  p.parse_route = parse_route;
  return p;
}

}  // namespace pforte::modules::waiting_room
