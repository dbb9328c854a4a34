#define BOOST_TEST_MODULE reaper
#include "proxy/common/reaper.h"

#include <boost/test/unit_test.hpp>
#include <memory>
#include <vector>

namespace {

// Counts its own destruction; optionally defers another object to the reaper when destroyed
// (as an exchange does with its upstream connection).
struct Tracked {
  int* destroyed;
  pforte::Reaper* reaper = nullptr;
  int* chained_destroyed = nullptr;
  explicit Tracked(int* d) : destroyed(d) {}
  ~Tracked() {
    ++*destroyed;
    if (reaper && chained_destroyed) reaper->defer(std::make_unique<Tracked>(chained_destroyed));
  }
};

struct Loop {
  pforte::EventBasePtr base{event_base_new()};
  void turn() { event_base_loop(base.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(objects_live_until_the_next_loop_turn) {
  Loop loop;
  pforte::Reaper reaper(loop.base.get());
  int unique_gone = 0;
  int shared_gone = 0;
  reaper.defer(std::make_unique<Tracked>(&unique_gone));
  reaper.defer(std::shared_ptr<void>(std::make_shared<Tracked>(&shared_gone)));
  BOOST_TEST(unique_gone == 0);
  BOOST_TEST(shared_gone == 0);
  loop.turn();
  BOOST_TEST(unique_gone == 1);
  BOOST_TEST(shared_gone == 1);
}

BOOST_AUTO_TEST_CASE(a_shared_object_still_held_elsewhere_survives) {
  Loop loop;
  pforte::Reaper reaper(loop.base.get());
  int gone = 0;
  auto kept = std::make_shared<Tracked>(&gone);
  reaper.defer(std::shared_ptr<void>(kept));
  loop.turn();
  BOOST_TEST(gone == 0);
  kept.reset();
  BOOST_TEST(gone == 1);
}

BOOST_AUTO_TEST_CASE(what_a_release_defers_is_released_in_the_same_flush) {
  Loop loop;
  pforte::Reaper reaper(loop.base.get());
  int first = 0;
  int second = 0;
  auto t = std::make_unique<Tracked>(&first);
  t->reaper = &reaper;
  t->chained_destroyed = &second;
  reaper.defer(std::move(t));
  loop.turn();
  BOOST_TEST(first == 1);
  BOOST_TEST(second == 1);
}

BOOST_AUTO_TEST_CASE(many_objects_over_many_turns_and_the_rest_at_destruction) {
  Loop loop;
  int gone = 0;
  {
    pforte::Reaper reaper(loop.base.get());
    for (int turn = 0; turn < 3; ++turn) {
      for (int i = 0; i < 100; ++i) reaper.defer(std::make_unique<Tracked>(&gone));
      loop.turn();
      BOOST_TEST(gone == 100 * (turn + 1));
    }
    reaper.defer(std::make_unique<Tracked>(&gone));
    reaper.defer(std::unique_ptr<Tracked>());  // nothing to keep: ignored
  }
  BOOST_TEST(gone == 301);
}
