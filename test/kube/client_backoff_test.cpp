// Backoff: doubling from 0.8 s, cap 30 s, jitter bounds, reset after 2 min of quiet.
#include <boost/test/unit_test.hpp>

#include "kube/backoff.hpp"

using namespace kcr::kube;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

namespace {
struct fake_time {
  backoff::clock::time_point now{};
  double random = 0.0;
  backoff make(backoff::params p = {}) {
    return backoff(
        p, [this] { return now; }, [this] { return random; });
  }
};
} // namespace

BOOST_AUTO_TEST_CASE(doubles_to_the_cap_without_jitter) {
  fake_time t;
  auto b = t.make();
  std::vector<long> want{800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
  for (long w : want) {
    t.now += 1s;
    BOOST_TEST(b.next().count() == w);
  }
}

BOOST_AUTO_TEST_CASE(jitter_stays_within_bounds_and_under_the_cap) {
  fake_time t;
  t.random = 0.999;
  auto b = t.make();
  std::vector<long> base{800, 1600, 3200, 6400, 12800, 25600, 30000};
  for (long w : base) {
    t.now += 1s;
    auto d = b.next().count();
    BOOST_TEST(d >= w);
    BOOST_TEST(d <= std::min<long>(30000, w * 5 / 4));
  }
}

BOOST_AUTO_TEST_CASE(resets_after_two_minutes_without_failure) {
  fake_time t;
  auto b = t.make();
  b.next();
  b.next();
  t.now += 119s; // not quiet long enough
  BOOST_TEST(b.next().count() == 3200);
  t.now += 121s;
  BOOST_TEST(b.next().count() == 800);
  BOOST_TEST(b.next().count() == 1600);
  b.reset();
  BOOST_TEST(b.next().count() == 800);
}

BOOST_AUTO_TEST_CASE(custom_parameters) {
  fake_time t;
  auto b = t.make({ms(10), ms(35), ms(1000), 3.0, 0.0});
  BOOST_TEST(b.next().count() == 10);
  BOOST_TEST(b.next().count() == 30);
  BOOST_TEST(b.next().count() == 35);
}

BOOST_AUTO_TEST_CASE(default_random_is_in_range) {
  auto r = backoff::default_random();
  for (int i = 0; i < 1000; ++i) {
    double x = r();
    BOOST_TEST_REQUIRE((x >= 0.0 && x < 1.0));
  }
}
