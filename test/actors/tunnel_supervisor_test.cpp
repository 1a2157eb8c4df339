// The tunnel supervisor: per-node actors on demand, routing by node name, per-node diff of the
// published snapshot (no fan-out), stopping deleted nodes, respawning the local actor.
#include <boost/test/unit_test.hpp>

#include "actors/telemetry.hpp"
#include "actors/tunnel.hpp"
#include "actors/tunnel_spec_builder.hpp"
#include "actors/tunnel_supervisor.hpp"
#include "fake_tunnel_manager.hpp"
#include "tunnel_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace kcr::test;

namespace {

struct supervisor_fixture : actor_fixture {
  controller_settings settings = tunnel_settings("node-a");
  std::shared_ptr<fake_tunnel_manager> mgr = std::make_shared<fake_tunnel_manager>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  std::shared_ptr<std::vector<node_event>> events = std::make_shared<std::vector<node_event>>();
  tunnel_supervisor_actor sup;

  tunnel_supervisor_actor start(std::shared_ptr<net::tunnel_manager> m) {
    sup = track(sys->spawn(tunnel_supervisor, settings, std::move(m), tel,
                           recording_events(*this, events)));
    run();
    return sup;
  }
  void start() { start(mgr); }

  std::string status(const std::string& node) { return ask(*this, sup, status_atom::value, node); }
  template <class T>
  void send(T msg) {
    caf::anon_send(sup, std::move(msg));
    run();
  }
  /// The supervisor's state; safe between run() calls (everything runs on this thread).
  tunnel_supervisor_state& state() {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(sup);
    using impl =
        std::remove_pointer_t<tunnel_supervisor_actor::stateful_pointer<tunnel_supervisor_state>>;
    return dynamic_cast<impl&>(*ptr).state;
  }
};

const auto entry_a = make_entry("node-a", "198.51.100.7", "192.168.254.1");
const auto entry_b = make_entry("node-b", "198.51.100.8", "192.168.254.2");

std::vector<kube::node_entry> hundred() {
  std::vector<kube::node_entry> v;
  for (int i = 0; i < 100; ++i)
    v.push_back(nth_entry(i));
  return v;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(tunnel_supervisor_suite, supervisor_fixture)

BOOST_AUTO_TEST_CASE(local_node_converges_from_published_snapshots) {
  start();
  BOOST_TEST(status("") == "no actor for node-a");
  send(snapshot({entry_b, entry_a}, "10"));
  BOOST_REQUIRE(mgr->converges.size() == 1u);
  const auto& spec = mgr->converges[0];
  BOOST_TEST(spec.name == "routervxlan0");
  BOOST_TEST(spec.vni == 42u);
  BOOST_TEST(spec.port == 4789u);
  BOOST_TEST(spec.local.to_string() == "198.51.100.7");
  BOOST_TEST(spec.remote.to_string() == "203.0.113.10");
  BOOST_TEST(spec.overlay.to_string() == "192.168.254.1/24");
  BOOST_TEST(spec.mac->to_string() == "0a:58:c0:a8:fe:01");
  BOOST_TEST(!spec.mtu.has_value());
  BOOST_TEST(!spec.endpoint_neighbour.has_value());
  BOOST_TEST(status("") == "node-a local converged 192.168.254.1 (1 converges, 0 failed, 1 "
                           "observed, last error: -)");
  BOOST_TEST(status("node-b") == "no actor for node-b"); // non-leaders track only themselves

  send(snapshot({entry_b, entry_a}, "11")); // same entries, new resourceVersion
  BOOST_TEST(mgr->converges.size() == 1u);
  BOOST_TEST(status("").find("1 observed") != std::string::npos); // not even told

  auto moved = entry_a;
  moved.overlay_ip = ip("192.168.254.9");
  send(snapshot({entry_b, moved}, "12"));
  BOOST_REQUIRE(mgr->converges.size() == 2u);
  BOOST_TEST(mgr->converges[1].overlay.to_string() == "192.168.254.9/24");
  BOOST_TEST(mgr->converges[1].mac->to_string() == "0a:58:c0:a8:fe:09");

  send(snapshot({entry_b}, "13"));  // our entry vanished: no teardown, no converge
  auto gone = published_snapshot{}; // the ConfigMap deleted
  send(gone);
  BOOST_TEST(mgr->converges.size() == 2u);
  BOOST_TEST(mgr->cleanups == 0);
  BOOST_TEST(mgr->removes.empty());
  BOOST_TEST(status("").starts_with("node-a local converged 192.168.254.9"));
}

BOOST_AUTO_TEST_CASE(link_change_and_periodic_sync_reach_the_local_actor) {
  start();
  send(link_changed{"routervxlan0", "deleted"}); // before any snapshot: nothing to repair
  BOOST_TEST(mgr->converges.empty());
  send(snapshot({entry_a}));
  BOOST_TEST(mgr->converges.size() == 1u);
  send(link_changed{"routervxlan0", "deleted"});
  BOOST_TEST(mgr->converges.size() == 2u); // within the same run(), no time advance
  advance(settings.tunnel_sync_period);
  BOOST_TEST(mgr->converges.size() == 3u);
  advance(settings.tunnel_sync_period);
  BOOST_TEST(mgr->converges.size() == 4u);
}

BOOST_AUTO_TEST_CASE(without_a_manager_nothing_is_converged_or_tracked) {
  start(nullptr); // --run-tunnel=false
  send(snapshot({entry_a}));
  send(link_changed{"routervxlan0", "deleted"});
  BOOST_TEST(status("node-a") == "no actor for node-a");
  send(entry_assigned{entry_a}); // the leader still tracks every node, this one included
  BOOST_TEST(status("node-a").starts_with("node-a remote published 192.168.254.1"));
  BOOST_TEST(mgr->converges.empty());
}

BOOST_AUTO_TEST_CASE(hundred_nodes_pending_published_withdrawn) {
  start();
  for (const auto& e : hundred())
    caf::anon_send(sup, entry_assigned{e});
  run();
  BOOST_TEST(state().children->size() == 100u);
  for (int i = 0; i < 100; ++i)
    BOOST_TEST(status("node-" + std::to_string(i))
                   .starts_with("node-" + std::to_string(i) + " remote pending 192.168.254."));
  entries_published pub;
  for (int i = 0; i < 100; ++i)
    pub.nodes.push_back("node-" + std::to_string(i));
  pub.nodes.push_back("node-unknown"); // no actor: not spawned by a publish
  send(pub);
  BOOST_TEST(state().children->size() == 100u);
  for (int i = 0; i < 100; ++i)
    BOOST_TEST(status("node-" + std::to_string(i)).find(" remote published ") != std::string::npos);

  send(entry_withdrawn{"node-7", "node deleted", true});
  BOOST_TEST(status("node-7") == "no actor for node-7");
  BOOST_TEST(state().children->size() == 99u);
  send(entry_withdrawn{"node-8", "no pod CIDR", false}); // not deleted: stays, pending
  BOOST_TEST(status("node-8").find("withdrawn: no pod CIDR") != std::string::npos);
  send(entry_withdrawn{"node-500", "node deleted", true}); // never known: nothing spawned
  BOOST_TEST(state().children->size() == 99u);
  BOOST_TEST(status("*").find("99 actors") != std::string::npos);
  BOOST_TEST(mgr->converges.empty()); // none of them is local
}

BOOST_AUTO_TEST_CASE(snapshot_changing_one_of_hundred_sends_one_entry_observed) {
  start();
  auto entries = hundred();
  for (const auto& e : entries)
    caf::anon_send(sup, entry_assigned{e});
  run();
  send(snapshot(entries, "1")); // first: every tracked actor (and the new local one) is told
  BOOST_TEST(state().observed_sent == 101u);
  BOOST_TEST(status("node-42").find("1 observed") != std::string::npos);
  BOOST_TEST(status("node-42").find(" published ") != std::string::npos); // confirmed by the watch

  send(snapshot(entries, "2")); // nothing changed
  BOOST_TEST(state().observed_sent == 101u);

  entries[42].overlay_ip = ip("192.168.254.200");
  send(snapshot(entries, "3"));
  BOOST_TEST(state().observed_sent == 102u);
  BOOST_TEST(status("*").find("102 entry_observed sent") != std::string::npos);
  size_t total = 0;
  for (int i = 0; i < 100; ++i) {
    const auto s = status("node-" + std::to_string(i));
    const auto at = s.find(" observed");
    const auto from = s.rfind(' ', at - 1) + 1;
    total += std::stoul(s.substr(from, at - from));
  }
  BOOST_TEST(total == 101u); // 100 first ones + exactly one for node-42
  BOOST_TEST(status("node-42").find("2 observed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_failing_local_node_does_not_block_others) {
  start();
  mgr->fail_next(1000, net::tunnel_errc::netlink_error, "busy");
  send(snapshot({entry_a}));
  BOOST_TEST(status("").starts_with("node-a local failed"));
  for (int round = 0; round < 3; ++round) {
    advance(settings.backoff_max); // the local actor keeps retrying
    const auto e = nth_entry(10 + round);
    send(entry_assigned{e});
    BOOST_TEST(status(e.name).find(" remote pending ") != std::string::npos);
    send(entries_published{{e.name}, "r"});
    BOOST_TEST(status(e.name).find(" remote published ") != std::string::npos);
  }
  BOOST_TEST(status("").starts_with("node-a local failed"));
  BOOST_TEST(mgr->converges.size() > 3u);
  BOOST_TEST(events->size() == 1u); // one Event for the one distinct error
}

BOOST_AUTO_TEST_CASE(a_killed_local_actor_is_respawned_and_reconverges) {
  start();
  send(snapshot({entry_a}));
  BOOST_TEST(mgr->converges.size() == 1u);
  auto old = state().child_handle("node-a");
  BOOST_REQUIRE(old);
  caf::anon_send_exit(old, caf::exit_reason::kill);
  run();
  auto fresh = state().child_handle("node-a");
  BOOST_REQUIRE(fresh);
  BOOST_TEST(fresh.id() != old.id());
  BOOST_REQUIRE(mgr->converges.size() == 2u);
  BOOST_TEST((mgr->converges[1] == mgr->converges[0]));
  BOOST_TEST(status("").starts_with("node-a local converged 192.168.254.1"));
  BOOST_TEST(status("*").find("1 respawned") != std::string::npos);

  // Even when the ConfigMap lost our entry, the respawned actor gets the last one it saw.
  send(snapshot({}, "5"));
  caf::anon_send_exit(state().child_handle("node-a"), caf::exit_reason::kill);
  run();
  BOOST_REQUIRE(mgr->converges.size() == 3u);
  BOOST_TEST(mgr->converges[2].overlay.to_string() == "192.168.254.1/24");
}

BOOST_AUTO_TEST_CASE(a_dead_remote_actor_is_dropped_and_recreated_by_the_next_assignment) {
  start();
  send(entry_assigned{entry_b});
  caf::anon_send_exit(state().child_handle("node-b"), caf::exit_reason::kill);
  run();
  BOOST_TEST(status("node-b") == "no actor for node-b");
  send(entry_assigned{entry_b});
  BOOST_TEST(status("node-b").starts_with("node-b remote pending"));
}

BOOST_AUTO_TEST_CASE(stopping_the_supervisor_stops_its_children) {
  start();
  send(snapshot({entry_a}));
  send(entry_assigned{entry_b});
  auto downs = std::make_shared<int>(0);
  auto a = state().child_handle("node-a");
  auto b = state().child_handle("node-b");
  auto watcher = sys->spawn([downs, a, b](caf::event_based_actor* self) -> caf::behavior {
    self->set_down_handler([downs](caf::down_msg&) { ++*downs; });
    self->monitor(a);
    self->monitor(b);
    return {[](int) {}};
  });
  track(watcher);
  run();
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  BOOST_TEST(*downs == 2);
  BOOST_TEST(mgr->cleanups == 0); // the tunnel stays up
  BOOST_TEST(mgr->removes.empty());
}

BOOST_AUTO_TEST_SUITE_END()
