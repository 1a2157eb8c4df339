// The actors' retry delays (publisher, node annotator, tunnel, node readiness): kube::backoff set
// up by retry_backoff, exact (no jitter) so the actor tests can advance CAF's clock by them.
#include <boost/test/unit_test.hpp>

#include "actors/retry_backoff.hpp"

using namespace kcr::actors;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(retry_backoff_suite)

BOOST_AUTO_TEST_CASE(doubles_from_initial_to_max_and_reset_starts_over) {
  controller_settings s;
  s.backoff_initial = 500ms;
  s.backoff_max = 4s;
  auto b = retry_backoff(s);
  for (auto want : {500ms, 1000ms, 2000ms, 4000ms, 4000ms, 4000ms})
    BOOST_TEST(b.next().count() == std::chrono::milliseconds{want}.count());
  b.reset();
  BOOST_TEST(b.next().count() == 500);
  BOOST_TEST(b.next().count() == 1000);
}

BOOST_AUTO_TEST_CASE(never_resets_by_itself) {
  controller_settings s; // the defaults: 500 ms to 30 s
  auto b = retry_backoff(s);
  for (int i = 0; i < 20; ++i)
    b.next();
  BOOST_TEST(b.next().count() == s.backoff_max.count()); // however long ago the last failure was
}

BOOST_AUTO_TEST_SUITE_END()
