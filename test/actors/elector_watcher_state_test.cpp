// The leader elector's and the ConfigMap watcher's states without an actor: what each input
// returns to send (the elector's time is passed in, its Lease is a fake port).
#include <boost/test/unit_test.hpp>

#include "actors/configmap_watcher.hpp"
#include "actors/leader_elector.hpp"
#include "fake_ports.hpp"

using namespace std::chrono_literals;
using namespace kcr;
using namespace kcr::actors;

namespace {

using time_point = leader_elector_state::time_point;
const time_point t0 = time_point{} + 1h;

struct elector {
  std::shared_ptr<test::fake_lease_port::store_type> lease;
  std::shared_ptr<test::fake_lease_port> port;
  leader_elector_state st;

  explicit elector(std::string identity, std::shared_ptr<test::fake_lease_port::store_type> shared =
                                             std::make_shared<test::fake_lease_port::store_type>())
      : lease(std::move(shared)), port(std::make_shared<test::fake_lease_port>(lease)) {
    st.port = port;
    st.settings.lease_identity = std::move(identity); // defaults: 15 s / 10 s / 2 s
  }
};

std::vector<bool> leading_of(const leader_elector_outbox& out) {
  std::vector<bool> v;
  for (const auto& m : out.to_listeners)
    v.push_back(m.leading);
  return v;
}

configmap_observed observed(std::string rv, bool exists = true) {
  configmap_observed cm;
  cm.exists = exists;
  cm.resource_version = std::move(rv);
  if (exists)
    cm.data = {{"EndpointIP", "10.200.255.254"}};
  return cm;
}

} // namespace

BOOST_AUTO_TEST_SUITE(elector_state)

BOOST_AUTO_TEST_CASE(no_lease_creates_it_and_announces_term_one) {
  elector a("a");
  auto out = a.st.tick(t0);
  BOOST_TEST(leading_of(out) == std::vector<bool>{true});
  BOOST_TEST(out.to_listeners.front().term == 1u);
  BOOST_TEST(out.to_listeners.front().identity == "a");
  BOOST_TEST(a.port->calls("create") == 1);
  // A renew while leading announces nothing.
  BOOST_TEST(a.st.tick(t0 + 2s).to_listeners.empty());
}

BOOST_AUTO_TEST_CASE(a_fresh_holder_is_followed_and_an_expired_one_replaced) {
  auto shared = std::make_shared<test::fake_lease_port::store_type>();
  elector a("a", shared);
  elector b("b", shared);
  BOOST_TEST(leading_of(a.st.tick(t0)) == std::vector<bool>{true});
  BOOST_TEST(b.st.tick(t0).to_listeners.empty());       // a holds it, seen for the first time
  BOOST_TEST(b.st.tick(t0 + 15s).to_listeners.empty()); // unchanged for exactly the duration
  auto taken = b.st.tick(t0 + 16s);                     // unchanged for longer: expired
  BOOST_TEST(leading_of(taken) == std::vector<bool>{true});
  // a cannot renew (b holds it now): it stops leading.
  BOOST_TEST(leading_of(a.st.tick(t0 + 17s)) == std::vector<bool>{false});
}

BOOST_AUTO_TEST_CASE(renewals_failing_past_the_deadline_stop_leading) {
  elector a("a");
  BOOST_TEST(leading_of(a.st.tick(t0)) == std::vector<bool>{true});
  a.port->fail_next(100, api_failure{500, "InternalError", "etcd down"});
  BOOST_TEST(a.st.tick(t0 + 2s).to_listeners.empty());
  BOOST_TEST(a.st.tick(t0 + 8s).to_listeners.empty());
  BOOST_TEST(leading_of(a.st.tick(t0 + 11s)) == std::vector<bool>{false});
}

BOOST_AUTO_TEST_CASE(release_hands_the_lease_back_and_announces_it) {
  elector a("a");
  a.st.tick(t0);
  auto out = a.st.release();
  BOOST_TEST(out.released);
  BOOST_TEST(leading_of(out) == std::vector<bool>{false});
  a.port->reset_calls();
  BOOST_TEST(a.st.tick(t0 + 2s).to_listeners.empty()); // released: never acquires again
  BOOST_TEST(a.port->total_calls() == 0);
  // A follower has nothing to release and says so.
  elector b("b");
  auto none = b.st.release();
  BOOST_TEST(!none.released);
  BOOST_TEST(none.to_listeners.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(configmap_watcher_state_decisions)

BOOST_AUTO_TEST_CASE(each_new_observation_is_passed_on_once) {
  configmap_watcher_state st;
  auto first = st.observed(observed("5"));
  BOOST_TEST_REQUIRE(first.has_value());
  BOOST_TEST(first->exists);
  BOOST_TEST(first->resource_version == "5");
  BOOST_TEST(!st.observed(observed("5")).has_value()); // a relist that found nothing new
  auto next = st.observed(observed("6"));
  BOOST_TEST_REQUIRE(next.has_value());
  BOOST_TEST(next->resource_version == "6");
  auto gone = st.observed(observed("6", false));
  BOOST_TEST_REQUIRE(gone.has_value()); // same RV, but now it does not exist
  BOOST_TEST(!gone->exists);
}

BOOST_AUTO_TEST_SUITE_END()
