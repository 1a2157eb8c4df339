// leader_elector: client-go leader election over a fake Lease shared by several electors, driven
// by the test clock (lease 15 s, renew deadline 10 s, retry 2 s).
#include <regex>

#include <boost/test/unit_test.hpp>

#include "actors/leader_elector.hpp"
#include "control_recorders.hpp"
#include "fake_ports.hpp"
#include "fixture.hpp"

using namespace std::chrono_literals;
using namespace kcr;
using namespace kcr::actors;

namespace {

// One instance: its own port onto the shared Lease, its own recorders.
struct candidate {
  std::shared_ptr<test::fake_lease_port> port;
  std::shared_ptr<test::inbox> alloc_in = std::make_shared<test::inbox>();
  std::shared_ptr<test::inbox> pub_in = std::make_shared<test::inbox>();
  leader_elector_actor elector;
  std::string identity;

  // The leadership messages the allocator saw, as "true"/"false".
  std::vector<bool> changes() const {
    std::vector<bool> v;
    for (const auto& l : alloc_in->leaderships)
      v.push_back(l.leading);
    return v;
  }
};

struct election : test::actor_fixture {
  std::shared_ptr<test::fake_lease_port::store_type> lease =
      std::make_shared<test::fake_lease_port::store_type>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  controller_settings settings; // defaults: 15 s / 10 s / 2 s

  candidate spawn(const std::string& identity) {
    candidate c;
    c.identity = identity;
    c.port = std::make_shared<test::fake_lease_port>(lease);
    auto alloc = track(sys->spawn(test::recording_allocator, c.alloc_in));
    auto pub = track(sys->spawn(test::recording_publisher, c.pub_in));
    auto s = settings;
    s.lease_identity = identity;
    s.detach_blocking_actors = false;
    // allocator_actor and publisher_actor convert to leadership_listener.
    std::vector<leadership_listener> listeners{alloc, pub};
    c.elector = track(sys->spawn(leader_elector, std::static_pointer_cast<lease_port>(c.port), s,
                                 listeners, tel));
    run(); // the first attempt runs at once
    return c;
  }

  /// Advances in retry_period steps (timers fire at most once per step).
  void steps(int n) {
    for (int i = 0; i < n; ++i)
      advance(2s);
  }

  lease_record current() const { return lease->get().value(); }
};

bool rfc3339_micro_like(const std::string& s) {
  static const std::regex re{R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$)"};
  return std::regex_match(s, re);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(leader_elector_suite, election)

BOOST_AUTO_TEST_CASE(time_format) {
  BOOST_TEST(rfc3339_micro(std::chrono::system_clock::time_point{}) ==
             "1970-01-01T00:00:00.000000Z");
  BOOST_TEST(rfc3339_micro(std::chrono::system_clock::time_point{1735725902455032us}) ==
             "2025-01-01T10:05:02.455032Z");
}

BOOST_AUTO_TEST_CASE(empty_cluster_creates_and_leads) {
  auto a = spawn("node-a_1111");
  BOOST_TEST(a.port->calls("get") == 1);
  BOOST_TEST(a.port->calls("create") == 1);
  auto l = current();
  BOOST_TEST(l.holder == "node-a_1111");
  BOOST_TEST(l.lease_duration_seconds == 15);
  BOOST_TEST(l.transitions == 0);
  BOOST_TEST(rfc3339_micro_like(l.acquire_time), l.acquire_time);
  BOOST_TEST(l.acquire_time == l.renew_time);
  BOOST_TEST(a.changes() == std::vector<bool>{true}, boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(a.pub_in->leaderships.size() == 1u);
  BOOST_TEST(a.pub_in->leaderships[0].identity == "node-a_1111");
  BOOST_TEST(a.pub_in->leaderships[0].term == 1u);

  // Renewals: one PUT per retry period, no new leadership message.
  steps(5);
  BOOST_TEST(a.port->calls("update") == 5);
  BOOST_TEST(a.changes().size() == 1u);
  BOOST_TEST(current().holder == "node-a_1111");
  BOOST_TEST(current().transitions == 0);
}

BOOST_AUTO_TEST_CASE(follower_waits_then_takes_over_after_lease_duration) {
  auto a = spawn("node-a_1111");
  advance(1s); // B ticks on odd seconds: it always sees A's latest renewal
  auto b = spawn("node-b_2222");
  BOOST_TEST(b.alloc_in->leaderships.empty());
  steps(10); // 20 s > lease_duration while A renews
  BOOST_TEST(b.alloc_in->leaderships.empty());
  BOOST_TEST(b.port->calls("update") == 0);
  BOOST_TEST(current().holder == "node-a_1111");

  // Now t = 21 s: A renewed at 20 s and B saw that change at 21 s. A dies.
  caf::anon_send_exit(a.elector, caf::exit_reason::kill);
  run();
  steps(6); // t = 33 s: 12 s since B saw the last change
  BOOST_TEST(b.alloc_in->leaderships.empty());
  steps(1); // t = 35 s: 14 s >= lease_duration - retry_period, still not expired on B's clock
  BOOST_TEST(b.alloc_in->leaderships.empty());
  BOOST_TEST(current().holder == "node-a_1111");
  steps(1); // t = 37 s: 16 s since B saw the change > 15 s
  BOOST_TEST(b.changes() == std::vector<bool>{true}, boost::test_tools::per_element());
  auto l = current();
  BOOST_TEST(l.holder == "node-b_2222");
  BOOST_TEST(l.transitions == 1);
  BOOST_TEST(l.acquire_time == l.renew_time);
}

BOOST_AUTO_TEST_CASE(renew_failures_within_deadline_keep_leadership) {
  auto a = spawn("node-a_1111");
  a.port->fail_next(4, test::transport_failure()); // 8 s without a renewal < 10 s
  steps(4);
  steps(1);
  BOOST_TEST(a.changes() == std::vector<bool>{true}, boost::test_tools::per_element());
  BOOST_TEST(a.port->calls("update") == 5);
  BOOST_TEST(a.port->writes().size() == 2u); // the create and the renewal that worked
}

BOOST_AUTO_TEST_CASE(renew_failures_past_deadline_lose_leadership) {
  auto a = spawn("node-a_1111");
  a.port->fail_always(test::transport_failure());
  steps(4); // 8 s
  BOOST_TEST(a.changes() == std::vector<bool>{true}, boost::test_tools::per_element());
  steps(1); // 10 s without a renewal: the deadline has passed
  BOOST_TEST(a.changes() == (std::vector<bool>{true, false}), boost::test_tools::per_element());
  BOOST_TEST(a.pub_in->leaderships.back().leading == false);
  // The API heals and the Lease still names A (nobody took it): A leads again, new term.
  a.port->clear_failures();
  steps(1);
  BOOST_TEST(a.changes() == (std::vector<bool>{true, false, true}),
             boost::test_tools::per_element());
  BOOST_TEST(a.alloc_in->leaderships.back().term == 2u);
  BOOST_TEST(current().transitions == 0);
}

BOOST_AUTO_TEST_CASE(conflict_on_renew_with_another_holder_stops_at_once) {
  auto a = spawn("node-a_1111");
  // Someone else took the Lease behind A's back (e.g. after a long pause of A).
  lease->hand_edit([](lease_record& l) {
    l.holder = "node-z_9999";
    l.transitions += 1;
  });
  steps(1);
  BOOST_TEST(a.changes() == (std::vector<bool>{true, false}), boost::test_tools::per_element());
  BOOST_TEST(current().holder == "node-z_9999");
}

BOOST_AUTO_TEST_CASE(lease_deleted_while_leading_is_recreated) {
  auto a = spawn("node-a_1111");
  lease->remove(); // kubectl delete lease
  steps(1);        // the renewal's 404, a GET that finds nothing, a new POST
  BOOST_TEST(a.port->calls("create") == 2);
  BOOST_TEST(a.changes() == std::vector<bool>{true}, boost::test_tools::per_element());
  BOOST_TEST(current().holder == "node-a_1111");
  steps(1);
  BOOST_TEST(a.port->writes().size() == 3u); // create, re-create, a renewal on top of it
}

BOOST_AUTO_TEST_CASE(release_hands_over_without_waiting) {
  auto a = spawn("node-a_1111");
  advance(1s);
  auto b = spawn("node-b_2222");
  steps(2);
  auto released = test::ask<bool>(*sys, a.elector, release_atom::value);
  run();
  BOOST_TEST_REQUIRE(released->has_value());
  BOOST_TEST(**released);
  auto l = current();
  BOOST_TEST(l.holder == "");
  BOOST_TEST(l.lease_duration_seconds == 1);
  BOOST_TEST(a.changes() == (std::vector<bool>{true, false}), boost::test_tools::per_element());
  // B (ticking on odd seconds, t = 5 s now) acquires at its next tick, not after lease_duration.
  advance(1s);
  BOOST_TEST(b.alloc_in->leaderships.empty());
  advance(1s);
  BOOST_TEST(b.changes() == std::vector<bool>{true}, boost::test_tools::per_element());
  BOOST_TEST(current().holder == "node-b_2222");
  BOOST_TEST(current().transitions == 1);
  BOOST_TEST(current().lease_duration_seconds == 15);
  // A, shut down, never tries again; a second release answers false.
  auto calls = a.port->total_calls();
  steps(10);
  BOOST_TEST(a.port->total_calls() == calls);
  auto again = test::ask<bool>(*sys, a.elector, release_atom::value);
  run();
  BOOST_TEST_REQUIRE(again->has_value());
  BOOST_TEST(!**again);
}

BOOST_AUTO_TEST_CASE(release_when_following_answers_false) {
  auto a = spawn("node-a_1111");
  auto b = spawn("node-b_2222");
  auto r = test::ask<bool>(*sys, b.elector, release_atom::value);
  run();
  BOOST_TEST_REQUIRE(r->has_value());
  BOOST_TEST(!**r);
  BOOST_TEST(current().holder == "node-a_1111");
  BOOST_TEST(b.port->calls("update") == 0);
}

BOOST_AUTO_TEST_CASE(lost_races_stay_follower) {
  // The create loses against another instance (409 AlreadyExists).
  auto c = candidate{};
  {
    auto port = std::make_shared<test::fake_lease_port>(lease);
    port->on_call = [this, called = false](const std::string& verb) mutable {
      if (verb == "create" && !called) {
        called = true; // someone else creates it between our GET and our POST
        lease->hand_edit([](lease_record& l) {
          l.holder = "node-z_9999";
          l.lease_duration_seconds = 15;
        });
      }
    };
    c.port = port;
    auto alloc = track(sys->spawn(test::recording_allocator, c.alloc_in));
    auto s = settings;
    s.lease_identity = "node-c_3333";
    c.elector = track(sys->spawn(leader_elector, std::static_pointer_cast<lease_port>(port), s,
                                 std::vector<leadership_listener>{alloc}, tel));
    run();
  }
  BOOST_TEST(c.port->calls("create") == 1);
  BOOST_TEST(c.alloc_in->leaderships.empty());
  BOOST_TEST(current().holder == "node-z_9999");

  // The winner keeps renewing: the loser stays follower.
  for (int i = 0; i < 10; ++i) {
    lease->hand_edit([](lease_record& l) { l.renew_time = "renewed"; });
    steps(1);
  }
  BOOST_TEST(c.alloc_in->leaderships.empty());
  BOOST_TEST(c.port->calls("update") == 0);
}

BOOST_AUTO_TEST_CASE(conflict_on_takeover_stays_follower) {
  lease->hand_edit([](lease_record& l) {
    l.holder = "node-z_9999";
    l.lease_duration_seconds = 15;
  });
  auto b = spawn("node-b_2222");
  b.port->fail_next(1, test::conflict_failure("leases.coordination.k8s.io"), "update");
  steps(8); // 16 s: expired; the PUT gets a 409
  BOOST_TEST(b.port->calls("update") == 1);
  BOOST_TEST(b.alloc_in->leaderships.empty());
  BOOST_TEST(current().holder == "node-z_9999");
  steps(1); // next tick: the fake no longer conflicts, the Lease is still stale
  BOOST_TEST(b.changes() == std::vector<bool>{true}, boost::test_tools::per_element());
  BOOST_TEST(current().transitions == 1);
}

BOOST_AUTO_TEST_CASE(metrics_and_health) {
  auto a = spawn("node-a_1111");
  auto text = tel->health.readyz().text;
  BOOST_TEST(text.find("leader_elector") == std::string::npos); // no allowance declared: silent
  // Lease calls that succeed are readiness (an API outage makes them stale), never liveness.
  tel->health.expect("leader_elector", 5s);
  BOOST_TEST(tel->health.readyz().ok, tel->health.readyz().text);
  BOOST_TEST(tel->health.readyz().text.find("[+]leader_elector last sync") != std::string::npos,
             tel->health.readyz().text);
  BOOST_TEST(tel->health.healthz().text.find("leader_elector") == std::string::npos,
             tel->health.healthz().text);
}

BOOST_AUTO_TEST_SUITE_END()
