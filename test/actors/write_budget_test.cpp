// The publisher's write budget and size verdicts: pure logic, time passed in.
#include <boost/test/unit_test.hpp>

#include "actors/write_budget.hpp"

using namespace kcr::actors;
using namespace std::chrono_literals;
using clock_type = write_budget::clock;

namespace {

const clock_type::time_point t0{std::chrono::hours{1}};

double seconds(clock_type::duration d) {
  return std::chrono::duration<double>(d).count();
}

} // namespace

BOOST_AUTO_TEST_SUITE(write_budget_rules)

BOOST_AUTO_TEST_CASE(unlimited_never_waits) {
  write_budget b{0};
  BOOST_TEST(b.unlimited());
  for (int i = 0; i < 1000; ++i) {
    BOOST_TEST(seconds(b.wait(1 << 20, t0)) == 0.0);
    b.spend(1 << 20, t0);
  }
}

BOOST_AUTO_TEST_CASE(waits_follow_the_bucket) {
  // rate (B/s), cost (B), writes at t0 that go at once, wait before the next one (s)
  struct row {
    double rate;
    std::size_t cost;
    int at_once;
    double next_wait;
  };
  const row table[] = {
      {1000, 100, 10, 0.1}, // the bucket holds one second of budget: 10 small writes
      {1000, 1000, 2, 1.0}, // ... or two whole objects, whichever is more
      {1000, 5000, 2, 5.0}, // an object bigger than the rate: two at once, then cost / rate
      {2097152, 1215500, 2, 0.5796}, // 5000 nodes at the default budget
  };
  for (const auto& r : table) {
    BOOST_TEST_CONTEXT("rate " << r.rate << " cost " << r.cost) {
      write_budget b{r.rate};
      int went = 0;
      while (b.wait(r.cost, t0) == clock_type::duration::zero() && went < 100) {
        b.spend(r.cost, t0);
        ++went;
      }
      BOOST_TEST(went == r.at_once);
      BOOST_TEST(seconds(b.wait(r.cost, t0)) == r.next_wait, boost::test_tools::tolerance(1e-3));
      // Once waited, the write may go.
      auto later = t0 + b.wait(r.cost, t0);
      BOOST_TEST(seconds(b.wait(r.cost, later)) == 0.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_isolated_change_after_quiet_goes_at_once) {
  write_budget b{1000};
  for (int i = 0; i < 5; ++i) // drain it
    b.spend(1000, t0);
  BOOST_TEST(seconds(b.wait(1000, t0)) == 4.0, boost::test_tools::tolerance(1e-6));
  // Quiet for an hour refills only up to the capacity: two writes at once, not 3600.
  auto t = t0 + 1h;
  BOOST_TEST(b.tokens(1000, t) == 2000.0);
  BOOST_TEST(seconds(b.wait(1000, t)) == 0.0);
}

BOOST_AUTO_TEST_CASE(an_idle_bucket_is_full_for_any_object_size) {
  // A create of the fixed keys (500 B), then the patch of all entries (1.2 MB): both at once.
  write_budget b{2097152};
  BOOST_TEST(seconds(b.wait(500, t0)) == 0.0);
  b.spend(500, t0);
  BOOST_TEST(seconds(b.wait(1215500, t0)) == 0.0);
}

BOOST_AUTO_TEST_CASE(churn_is_written_at_the_budget_on_average) {
  // Writes as fast as the budget allows for 60 s, every 10 ms a chance, the object growing.
  const double rate = 64 * 1024;
  write_budget b{rate};
  double bytes = 0;
  std::size_t cost = 10000;
  double first_capacity = b.capacity(cost);
  for (auto t = t0; t < t0 + 60s; t += 10ms) {
    if (b.wait(cost, t) == clock_type::duration::zero()) {
      b.spend(cost, t);
      bytes += static_cast<double>(cost);
      cost += 100;
    }
  }
  BOOST_TEST(bytes <= first_capacity + rate * 60);
  BOOST_TEST(bytes >= rate * 60 * 0.9); // and the budget is used, not wasted
}

BOOST_AUTO_TEST_CASE(time_going_backwards_changes_nothing) {
  write_budget b{1000};
  b.spend(2000, t0);
  auto w = b.wait(1000, t0);
  BOOST_TEST(seconds(b.wait(1000, t0 - 10s)) == seconds(w));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(configmap_size_rules)

BOOST_AUTO_TEST_CASE(sizes_count_keys_values_and_metadata) {
  auto s = size_of({{"EndpointIP", "192.168.254.254"}, {"Type", "VXLAN"}});
  BOOST_TEST(s.values == 15u + 5u);
  BOOST_TEST(s.encoded == 320u + (10 + 15 + 6) + (4 + 5 + 6));
  BOOST_TEST(size_of({}).values == 0u);
}

BOOST_AUTO_TEST_CASE(verdicts_name_the_limit) {
  struct row {
    std::size_t values;
    std::size_t encoded;
    size_verdict verdict;
    const char* named; // a text the log line must contain
  };
  const row table[] = {
      {600000, 1215500, size_verdict::fits, ""},
      {1000000, 1468006, size_verdict::fits, ""},
      {1000000, 1468007, size_verdict::near_etcd_limit, "1572864"},
      {1048576, 1500000, size_verdict::near_etcd_limit, "1500000 bytes"},
      {1048577, 1400000, size_verdict::too_large, "1048576"},
      {1048577, 1600000, size_verdict::too_large, "1048577 bytes"},
  };
  for (const auto& r : table) {
    BOOST_TEST_CONTEXT("values " << r.values << " encoded " << r.encoded) {
      configmap_size s{r.values, r.encoded};
      auto v = judge(s);
      BOOST_TEST(static_cast<int>(v) == static_cast<int>(r.verdict));
      auto text = describe(s, v);
      BOOST_TEST(text.empty() == (v == size_verdict::fits));
      BOOST_TEST(text.find(r.named) != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
