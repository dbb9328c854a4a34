#define BOOST_TEST_MODULE waiting_room_config
#include "modules/waiting_room/config.h"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "proxy/config/loader.h"

using namespace pforte::modules::waiting_room;
using pforte::config::ConfigError;
using pforte::config::load_config_text;

namespace {

/// Lines 1..6; rooms and routes follow from line 7.
const std::string kBase =
    "[[listener]]\n"
    "address = \"127.0.0.1:8080\"\n"
    "[upstream.app]\n"
    "servers = [\"127.0.0.1:9000\"]\n"
    "[[route]]\n"
    "upstream = \"app\"\n";

std::vector<std::string> errors_of(const std::string& text) {
  std::vector<std::string> out;
  auto result = load_config_text(text, "t.toml", {config_parser()});
  if (!result) {
    for (const ConfigError& e : result.error()) out.push_back(e.to_string());
  }
  return out;
}

const SectionConfig& section_of(const pforte::config::Config& config) {
  const auto* s = dynamic_cast<const SectionConfig*>(config.modules.at("waiting_room").get());
  BOOST_REQUIRE(s != nullptr);
  return *s;
}

std::shared_ptr<const pforte::config::Config> load_ok(const std::string& text) {
  auto result = load_config_text(text, "t.toml", {config_parser()});
  if (!result) {
    for (const ConfigError& e : result.error()) BOOST_TEST_MESSAGE(e.to_string());
    BOOST_FAIL("config did not load");
  }
  return *result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(minimal_room_gets_the_documented_defaults) {
  auto config = load_ok(kBase +
                        "waiting_room = \"login\"\n"
                        "[waiting_room.login]\n"
                        "admit_rate = 5\n"
                        "secret_file = \"/k\"\n");
  const SectionConfig& s = section_of(*config);
  BOOST_REQUIRE(s.rooms.size() == 1u);
  const RoomConfig& r = s.rooms[0];
  BOOST_TEST(r.name == "login");
  BOOST_TEST(r.admit_rate == 5);
  BOOST_TEST(r.admit_burst == 5);  // default = admit_rate
  BOOST_TEST(r.session_ttl_s == 900);
  BOOST_TEST(r.refresh_s == 10);
  BOOST_TEST(r.jitter == 0.5);
  BOOST_TEST(r.secret_file == "/k");
  BOOST_TEST((r.secret_file_at.line == 10 && r.secret_file_at.column == 15));
  BOOST_TEST(r.template_file.empty());
  BOOST_TEST(r.state_file.empty());
  BOOST_TEST(r.opens_at_us == 0);
  const auto* route =
      dynamic_cast<const RouteRoomConfig*>(config->routes[0].modules.at("waiting_room").get());
  BOOST_REQUIRE(route != nullptr);
  BOOST_TEST(route->room == "login");
  BOOST_TEST(route->room_index == 0u);
}

BOOST_AUTO_TEST_CASE(every_key_is_read) {
  auto config = load_ok(kBase +
                        "[waiting_room.zeta]\n"
                        "admit_rate = 2.5\n"
                        "admit_burst = 10\n"
                        "session_ttl = \"30m\"\n"
                        "refresh = \"5s\"\n"
                        "jitter = 0.25\n"
                        "secret_file = \"/etc/k\"\n"
                        "template = \"/etc/page.html\"\n"
                        "opens_at = \"2026-12-01T08:00:00+01:00\"\n"
                        "state_file = \"/var/lib/pforte/zeta.room\"\n"
                        "[waiting_room.alpha]\n"
                        "admit_rate = 1\n"
                        "secret_file = \"/etc/k\"\n");
  const SectionConfig& s = section_of(*config);
  BOOST_REQUIRE(s.rooms.size() == 2u);
  // Kept in the order written, not toml++'s sorted order.
  BOOST_TEST(s.rooms[0].name == "zeta");
  BOOST_TEST(s.rooms[1].name == "alpha");
  const RoomConfig& r = s.rooms[0];
  BOOST_TEST(r.admit_rate == 2.5);
  BOOST_TEST(r.admit_burst == 10);
  BOOST_TEST(r.session_ttl_s == 1800);
  BOOST_TEST(r.refresh_s == 5);
  BOOST_TEST(r.jitter == 0.25);
  BOOST_TEST(r.template_file == "/etc/page.html");
  BOOST_TEST(r.template_at.line == 14);
  BOOST_TEST(r.opens_at == "2026-12-01T08:00:00+01:00");
  BOOST_TEST(r.opens_at_us == 1'796'108'400'000'000);  // 07:00Z
  BOOST_TEST(r.state_file == "/var/lib/pforte/zeta.room");
  BOOST_TEST(r.state_file_at.line == 16);
  BOOST_TEST(s.find("alpha").value() == 1u);
  BOOST_TEST(!s.find("beta").has_value());
}

BOOST_AUTO_TEST_CASE(unknown_key_is_reported_at_the_key) {
  auto e = errors_of(kBase +
                     "[waiting_room.login]\n"
                     "admit_rate = 5\n"
                     "secret_file = \"/k\"\n"
                     "  admit_ratte = 5\n");
  BOOST_REQUIRE(e.size() == 1u);
  BOOST_TEST(e[0].starts_with("t.toml:10:3: unknown key \"admit_ratte\""));
}

BOOST_AUTO_TEST_CASE(wrong_types_are_reported_at_the_value) {
  auto e = errors_of(kBase +
                     "[waiting_room.login]\n"
                     "admit_rate = \"fast\"\n"
                     "secret_file = 7\n"
                     "session_ttl = 900\n"
                     "jitter = true\n");
  BOOST_REQUIRE(e.size() == 4u);
  BOOST_TEST(e[0].starts_with("t.toml:8:14: \"admit_rate\" must be a number"));
  BOOST_TEST(e[1].starts_with("t.toml:9:15: \"secret_file\" must be a string"));
  BOOST_TEST(e[2].starts_with("t.toml:10:15: \"session_ttl\" must be a duration"));
  BOOST_TEST(e[3].starts_with("t.toml:11:10: \"jitter\" must be a number"));
}

BOOST_AUTO_TEST_CASE(out_of_range_values_are_refused) {
  auto e = errors_of(kBase +
                     "[waiting_room.login]\n"
                     "admit_rate = 0\n"
                     "admit_burst = 0.5\n"
                     "jitter = 1.0\n"
                     "refresh = \"0\"\n"
                     "secret_file = \"\"\n");
  BOOST_REQUIRE(e.size() == 5u);
  BOOST_TEST(e[0].starts_with("t.toml:8:14: \"admit_rate\" must be greater than 0"));
  BOOST_TEST(e[1].starts_with("t.toml:9:15: \"admit_burst\" must be at least 1"));
  BOOST_TEST(e[2].starts_with("t.toml:10:10: \"jitter\""));
  BOOST_TEST(e[3].starts_with("t.toml:11:11: \"refresh\" must be greater than 0"));
  BOOST_TEST(e[4].starts_with("t.toml:12:15: \"secret_file\" must name a file"));
}

BOOST_AUTO_TEST_CASE(missing_required_keys_are_reported_at_the_table) {
  auto e = errors_of(kBase +
                     "[waiting_room.login]\n"
                     "refresh = \"5s\"\n");
  BOOST_REQUIRE(e.size() == 2u);
  BOOST_TEST(e[0].find("missing \"admit_rate\" in [waiting_room.login]") != std::string::npos);
  BOOST_TEST(e[1].find("missing \"secret_file\"") != std::string::npos);
  BOOST_TEST(e[0].starts_with("t.toml:7:"));
}

BOOST_AUTO_TEST_CASE(bad_opens_at_is_refused) {
  for (const char* bad : {"2026-12-01 08:00", "2026-12-01T08:00:00", "2026-02-30T08:00:00Z",
                          "2026-12-01T25:00:00Z", "tomorrow"}) {
    auto e = errors_of(kBase +
                       "[waiting_room.login]\n"
                       "admit_rate = 5\n"
                       "secret_file = \"/k\"\n"
                       "opens_at = \"" +
                       bad + "\"\n");
    BOOST_REQUIRE(e.size() == 1u);
    BOOST_TEST(e[0].starts_with("t.toml:10:12: invalid opens_at"), e[0]);
  }
}

BOOST_AUTO_TEST_CASE(rfc3339_offsets_and_fractions) {
  BOOST_TEST(parse_rfc3339("1970-01-01T00:00:00Z").value() == 0);
  BOOST_TEST(parse_rfc3339("1970-01-01T01:00:00+01:00").value() == 0);
  BOOST_TEST(parse_rfc3339("1969-12-31T23:00:00-01:00").value() == 0);
  BOOST_TEST(parse_rfc3339("2000-02-29T12:00:00.25Z").value() == 951'825'600'250'000);
  BOOST_TEST(!parse_rfc3339("2001-02-29T12:00:00Z").has_value());
  BOOST_TEST(!parse_rfc3339("2000-01-01T12:00:00+0100").has_value());
}

BOOST_AUTO_TEST_CASE(route_naming_an_unknown_room_is_an_error_at_the_name) {
  auto e = errors_of(kBase +
                     "waiting_room = \"lgoin\"\n"
                     "[waiting_room.login]\n"
                     "admit_rate = 5\n"
                     "secret_file = \"/k\"\n");
  BOOST_REQUIRE(e.size() == 1u);
  BOOST_TEST(e[0].starts_with("t.toml:7:16: unknown waiting room \"lgoin\""), e[0]);
}

BOOST_AUTO_TEST_CASE(route_room_without_any_section_is_an_error) {
  auto e = errors_of(kBase + "waiting_room = \"login\"\n");
  BOOST_REQUIRE(e.size() == 1u);
  BOOST_TEST(e[0].starts_with("t.toml:7:16: unknown waiting room"), e[0]);
  e = errors_of(kBase + "waiting_room = 3\n");
  BOOST_REQUIRE(e.size() == 1u);
  BOOST_TEST(e[0].starts_with("t.toml:7:16: \"waiting_room\" must be the name"), e[0]);
}

BOOST_AUTO_TEST_CASE(invalid_room_names_and_shared_state_files_are_refused) {
  auto e = errors_of(kBase +
                     "[waiting_room.\"log in\"]\n"
                     "admit_rate = 5\n"
                     "secret_file = \"/k\"\n"
                     "state_file = \"/s\"\n"
                     "[waiting_room.b]\n"
                     "admit_rate = 5\n"
                     "secret_file = \"/k\"\n"
                     "state_file = \"/s\"\n");
  BOOST_REQUIRE(e.size() == 2u);
  BOOST_TEST(e[0].find("invalid waiting room name \"log in\"") != std::string::npos, e[0]);
  BOOST_TEST(e[1].starts_with("t.toml:14:14: state_file \"/s\" is used by another room"), e[1]);
}

BOOST_AUTO_TEST_CASE(section_must_hold_tables) {
  auto e = errors_of(kBase +
                     "[waiting_room]\n"
                     "login = 5\n");
  BOOST_REQUIRE(e.size() == 1u);
  BOOST_TEST(e[0].starts_with("t.toml:8:9: [waiting_room.login] must be a table"), e[0]);
}
