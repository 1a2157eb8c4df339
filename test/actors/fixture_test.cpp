// The fixture itself: timers fire only when the test clock moves.
#include <boost/test/unit_test.hpp>

#include "fixture.hpp"

using namespace std::chrono_literals;
using tick = caf::atom_constant<caf::atom("tick")>;

BOOST_FIXTURE_TEST_SUITE(actor_fixture_suite, kcr::test::actor_fixture)

BOOST_AUTO_TEST_CASE(timers_fire_only_when_time_advances) {
  auto count = std::make_shared<int>(0);
  auto a = track(sys->spawn([count](caf::event_based_actor* self) -> caf::behavior {
    self->delayed_send(self, 1s, tick::value);
    return {[=](tick) {
      ++*count;
      self->delayed_send(self, 1s, tick::value);
    }};
  }));
  run();
  BOOST_TEST(*count == 0);
  advance(1s);
  BOOST_TEST(*count == 1);
  advance(500ms);
  BOOST_TEST(*count == 1);
  advance(500ms);
  BOOST_TEST(*count == 2);
}

BOOST_AUTO_TEST_SUITE_END()
