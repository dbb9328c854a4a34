#define BOOST_TEST_MODULE waiting_room_shared
#include "modules/waiting_room/shared.h"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/config/loader.h"

using namespace pforte::modules::waiting_room;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kT0 = 1'790'000'000'000'000;  // unix µs
constexpr int64_t kSecond = 1'000'000;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "pforte-wr-XXXXXX").string();
    BOOST_REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

struct Fixture {
  TempDir dir;
  std::string key = dir.write("key", "# rotation: first signs\n" + std::string(64, 'k') + "\n");

  std::shared_ptr<const pforte::config::Config> load(const std::string& room_keys) {
    std::string text =
        "[[listener]]\naddress = \"127.0.0.1:8080\"\n[upstream.app]\n"
        "servers = [\"127.0.0.1:9000\"]\n[[route]]\nupstream = \"app\"\n"
        "waiting_room = \"login\"\n[waiting_room.login]\n" +
        room_keys;
    // From a file, so that messages carry its path as FILE.
    auto c = pforte::config::load_config_file(dir.write("t.toml", text), {config_parser()});
    if (!c) {
      for (const auto& e : c.error()) BOOST_TEST_MESSAGE(e.to_string());
      BOOST_FAIL("config did not load");
    }
    return *c;
  }
  std::string room(const std::string& extra = {}) const {
    return "admit_rate = 5\nsecret_file = \"" + key + "\"\n" + extra;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(shared_suite, Fixture)

BOOST_AUTO_TEST_CASE(prepare_builds_a_room_per_table) {
  auto shared = WaitingRoomShared::prepare(*load(room()), nullptr, kT0);
  BOOST_REQUIRE(shared.has_value());
  BOOST_REQUIRE((*shared)->rooms().size() == 1u);
  const Room* r = (*shared)->find("login");
  BOOST_REQUIRE(r != nullptr);
  BOOST_TEST(r->keys.size() == 1u);
  BOOST_TEST(r->wait_seconds != nullptr);
  BOOST_TEST(!(*shared)->persists());
  BOOST_TEST((*shared)->find("exam") == nullptr);
}

BOOST_AUTO_TEST_CASE(missing_secret_file_is_an_error_at_the_key) {
  auto shared = WaitingRoomShared::prepare(
      *load("admit_rate = 5\nsecret_file = \"" + (dir.path / "nope").string() + "\"\n"), nullptr,
      kT0);
  BOOST_REQUIRE(!shared.has_value());
  BOOST_TEST(shared.error().starts_with(dir.path.string() + "/t.toml:10:15: secret_file "),
             shared.error());
  BOOST_TEST(shared.error().find("No such file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(short_key_is_an_error_at_the_key) {
  const std::string short_key = dir.write("short", "tooshort\n");
  auto shared = WaitingRoomShared::prepare(
      *load("admit_rate = 5\nsecret_file = \"" + short_key + "\"\n"), nullptr, kT0);
  BOOST_REQUIRE(!shared.has_value());
  BOOST_TEST(shared.error().starts_with(dir.path.string() + "/t.toml:10:15: secret_file "),
             shared.error());
  BOOST_TEST(shared.error().find("line 1") != std::string::npos, shared.error());
}

BOOST_AUTO_TEST_CASE(missing_template_is_an_error_at_the_key_and_a_present_one_is_read) {
  auto bad = WaitingRoomShared::prepare(*load(room("template = \"/nonexistent/page.html\"\n")),
                                        nullptr, kT0);
  BOOST_REQUIRE(!bad.has_value());
  BOOST_TEST(bad.error().starts_with(dir.path.string() + "/t.toml:11:12: template "), bad.error());
  const std::string page = dir.write("page.html", "<p>{{position}}</p>");
  auto good =
      WaitingRoomShared::prepare(*load(room("template = \"" + page + "\"\n")), nullptr, kT0);
  BOOST_REQUIRE(good.has_value());
  BOOST_TEST((*good)->find("login")->template_text == "<p>{{position}}</p>");
}

BOOST_AUTO_TEST_CASE(reload_keeps_a_compatible_room_and_carries_an_incompatible_one_over) {
  auto first = WaitingRoomShared::prepare(*load(room()), nullptr, kT0);
  BOOST_REQUIRE(first.has_value());
  const Room& a = *(*first)->find("login");
  for (int i = 0; i < 8; ++i) a.state->arrive(kT0);  // 5 straight in, 3 tickets
  BOOST_TEST(a.state->waiting() == 3u);

  auto same = WaitingRoomShared::prepare(*load(room("refresh = \"5s\"\n")), *first, kT0);
  BOOST_REQUIRE(same.has_value());
  BOOST_TEST((*same)->find("login")->state.get() == a.state.get());
  BOOST_TEST((*same)->find("login")->ledger.get() == a.ledger.get());

  auto faster = WaitingRoomShared::prepare(
      *load("admit_rate = 50\nsecret_file = \"" + key + "\"\n"), *first, kT0);
  BOOST_REQUIRE(faster.has_value());
  const Room& b = *(*faster)->find("login");
  BOOST_TEST(b.state.get() != a.state.get());
  BOOST_TEST(b.state->epoch() == a.state->epoch());  // old cookies stay valid
  BOOST_TEST(b.state->issued() == 3u);               // tickets; the first 5 went straight in
  BOOST_TEST(b.state->waiting() == 3u);
}

BOOST_AUTO_TEST_CASE(state_file_is_saved_and_restored_with_every_place) {
  const std::string state_file = (dir.path / "login.room").string();
  auto first = WaitingRoomShared::prepare(*load(room("state_file = \"" + state_file + "\"\n")),
                                          nullptr, kT0);
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST((*first)->persists());
  BOOST_TEST(!fs::exists(state_file));  // prepare writes nothing (pforte -t runs it)
  const Room& a = *(*first)->find("login");
  for (int i = 0; i < 8; ++i) a.state->arrive(kT0);
  a.state->pause(kT0);
  (*first)->save(kT0 + kSecond);
  BOOST_TEST(fs::exists(state_file));
  BOOST_TEST(!fs::exists(state_file + ".tmp"));

  // A restart much later: the places are where they were (the downtime calls nobody).
  auto again = WaitingRoomShared::prepare(*load(room("state_file = \"" + state_file + "\"\n")),
                                          nullptr, kT0 + 3600 * kSecond);
  BOOST_REQUIRE(again.has_value());
  const Room& b = *(*again)->find("login");
  BOOST_TEST(b.state->epoch() == a.state->epoch());
  BOOST_TEST(b.state->issued() == 3u);  // tickets; the first 5 went straight in
  BOOST_TEST(b.state->waiting() == 3u);
  BOOST_TEST(b.state->paused());
}

BOOST_AUTO_TEST_CASE(damaged_state_file_starts_the_room_afresh) {
  const std::string state_file = dir.write("login.room", "garbage");
  auto shared = WaitingRoomShared::prepare(*load(room("state_file = \"" + state_file + "\"\n")),
                                           nullptr, kT0);
  BOOST_REQUIRE(shared.has_value());
  BOOST_TEST((*shared)->find("login")->state->issued() == 0u);
}

BOOST_AUTO_TEST_CASE(unwritable_state_directory_is_an_error_at_the_key) {
  auto shared = WaitingRoomShared::prepare(
      *load(room("state_file = \"/nonexistent-dir/x.room\"\n")), nullptr, kT0);
  BOOST_REQUIRE(!shared.has_value());
  BOOST_TEST(shared.error().starts_with(dir.path.string() + "/t.toml:11:14: state_file "),
             shared.error());
}

BOOST_AUTO_TEST_CASE(metrics_and_status_show_each_room) {
  auto shared = WaitingRoomShared::prepare(*load(room("opens_at = \"2020-01-01T00:00:00Z\"\n")),
                                           nullptr, kT0);
  BOOST_REQUIRE(shared.has_value());
  const Room& r = *(*shared)->find("login");
  for (int i = 0; i < 7; ++i) r.state->arrive(kT0);
  pforte::module::MetricsWriter w;
  (*shared)->write_metrics(w);
  const std::string text = w.text();
  BOOST_TEST(text.find("# TYPE pforte_waiting_room_queue_length gauge") != std::string::npos);
  BOOST_TEST(text.find("pforte_waiting_room_admitted_total{room=\"login\"} 5") != std::string::npos,
             text);
  BOOST_TEST(text.find("pforte_waiting_room_abandoned_total{room=\"login\"}") != std::string::npos);

  std::string json;
  (*shared)->write_status_json(json);
  BOOST_TEST(json.starts_with("{\"rooms\":[{\"room\":\"login\""), json);
  BOOST_TEST(json.find("\"admitted\":5") != std::string::npos, json);
  BOOST_TEST(json.find("\"rate\":5") != std::string::npos, json);
  BOOST_TEST(json.find("\"paused\":false") != std::string::npos, json);
  BOOST_TEST(json.find("\"opens_at\":\"2020-01-01T00:00:00Z\"") != std::string::npos, json);
  std::string html;
  (*shared)->write_status_html(html);
  BOOST_TEST(html.find("<td>login</td>") != std::string::npos, html);
}

BOOST_AUTO_TEST_SUITE_END()
