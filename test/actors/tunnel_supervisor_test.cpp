// The tunnel supervisor of an agent: the local tunnel converges from its own Node's overlay
// annotation (nothing else), refuses an annotation outside the overlay network, keeps the tunnel
// when the annotation or the Node goes, respawns a dead tunnel actor, stops it on shutdown.
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

/// node-a's own Node (test::own_node) with the given underlay IP.
own_node_observed own_node_at(std::optional<std::string> annotation,
                              const char* underlay = "198.51.100.7", std::string rv = "1") {
  auto m = test::own_node(std::move(annotation), false, std::move(rv));
  m.node.underlay_ip = ip(underlay);
  return m;
}

struct supervisor_fixture : actor_fixture {
  controller_settings settings = tunnel_settings("node-a");
  std::shared_ptr<fake_tunnel_manager> mgr = std::make_shared<fake_tunnel_manager>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  std::shared_ptr<std::vector<node_event>> events = std::make_shared<std::vector<node_event>>();
  tunnel_supervisor_actor sup;

  supervisor_fixture() {
    sup = track(sys->spawn(tunnel_supervisor, settings, mgr, tel, recording_events(*this, events)));
    run();
  }

  /// The local tunnel's status, as the supervisor answers it.
  tunnel_status status() { return ask<tunnel_status>(*this, sup, status_atom::value); }
  /// The supervisor's own counters.
  supervisor_status summary() {
    return ask<supervisor_status>(*this, sup, status_atom::value, supervisor_atom::value);
  }
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

} // namespace

BOOST_FIXTURE_TEST_SUITE(tunnel_supervisor_suite, supervisor_fixture)

BOOST_AUTO_TEST_CASE(the_agent_converges_from_its_own_annotation) {
  send(own_node_at(std::nullopt)); // registered, not yet annotated by the publisher
  BOOST_TEST(mgr->converges.empty());
  auto waiting = status(); // no tunnel actor yet: the supervisor answers, saying why
  BOOST_TEST(waiting.node == "node-a");
  BOOST_TEST(!waiting.running);
  BOOST_TEST(waiting.problem == std::string{"Node node-a has no annotation "} +
                                    overlay_ip_annotation +
                                    " yet (the publisher writes it once the node is published)");
  BOOST_TEST(waiting.converges == 0u);

  send(own_node_at("192.168.254.3", "198.51.100.7", "2"));
  BOOST_REQUIRE(mgr->converges.size() == 1u);
  const auto& spec = mgr->converges[0];
  BOOST_TEST(spec.name == "routervxlan0");
  BOOST_TEST(spec.vni == 42u);
  BOOST_TEST(spec.port == 4789u);
  BOOST_TEST(spec.local.to_string() == "198.51.100.7");       // its own Node's address
  BOOST_TEST(spec.remote.to_string() == "203.0.113.10");      // a flag
  BOOST_TEST(spec.overlay.to_string() == "192.168.254.3/24"); // the annotation, the flag's prefix
  BOOST_TEST(spec.mac->to_string() == "0a:58:c0:a8:fe:03");   // derived from it
  BOOST_TEST(status() == (tunnel_status{.node = "node-a",
                                        .running = true,
                                        .problem = "",
                                        .phase = tunnel_phase::converged,
                                        .overlay_ip = "192.168.254.3",
                                        .announced = true,
                                        .converges = 1,
                                        .failures = 0,
                                        .observed = 1,
                                        .last_error = ""}));
  BOOST_TEST(tel->health.readyz().ok, tel->health.readyz().text);

  // Heartbeats (new resourceVersion, same entry): nothing to do.
  send(own_node_at("192.168.254.3", "198.51.100.7", "3"));
  BOOST_TEST(mgr->converges.size() == 1u);
  BOOST_TEST(summary() == (supervisor_status{
                              .node = "node-a", .observed_sent = 1, .respawns = 0, .refused = 0}));
  // A new underlay address or a new overlay address: converge again.
  send(own_node_at("192.168.254.3", "198.51.100.8", "4"));
  send(own_node_at("192.168.254.9", "198.51.100.8", "5"));
  BOOST_REQUIRE(mgr->converges.size() == 3u);
  BOOST_TEST(mgr->converges[1].local.to_string() == "198.51.100.8");
  BOOST_TEST(mgr->converges[2].overlay.to_string() == "192.168.254.9/24");
}

BOOST_AUTO_TEST_CASE(an_annotation_outside_the_overlay_network_is_refused) {
  send(own_node_at("192.168.254.3"));
  BOOST_REQUIRE(mgr->converges.size() == 1u);
  send(own_node_at("10.9.9.9", "198.51.100.7", "2"));
  send(own_node_at("10.9.9.9", "198.51.100.7", "3")); // the same value again: one report
  BOOST_TEST(mgr->converges.size() == 1u);            // not converged to it
  BOOST_REQUIRE(events->size() == 1u);
  const auto& e = events->front();
  BOOST_TEST(e.warning);
  BOOST_TEST(e.reason == reason_overlay_annotation_invalid);
  BOOST_TEST(e.node == "node-a");
  BOOST_TEST(e.message.find("10.9.9.9") != std::string::npos, e.message);
  BOOST_TEST(e.message.find("192.168.254.0/24") != std::string::npos, e.message);
  // The tunnel stays as last converged, and the periodic sync keeps it so.
  advance(settings.tunnel_sync_period);
  BOOST_REQUIRE(mgr->converges.size() == 2u);
  BOOST_TEST(mgr->converges[1].overlay.to_string() == "192.168.254.3/24");
  // The publisher restores the value: no new converge needed, the refusal is over.
  send(own_node_at("192.168.254.3", "198.51.100.7", "4"));
  BOOST_TEST(mgr->converges.size() == 2u);
  send(own_node_at("192.168.254.0", "198.51.100.7", "5")); // a new bad value is news again
  BOOST_TEST(events->size() == 2u);
  BOOST_TEST(summary().refused == 2u);
}

BOOST_AUTO_TEST_CASE(a_refused_first_annotation_converges_nothing) {
  send(own_node_at("192.168.254.254")); // the device's EndpointIP
  BOOST_TEST(mgr->converges.empty());
  BOOST_TEST(events->size() == 1u);
  auto st = status();
  BOOST_TEST(!st.running);
  BOOST_TEST(st.problem == std::string{"Node node-a annotation "} + overlay_ip_annotation +
                               "=\"192.168.254.254\" is the EndpointIP (the device's address)");
}

BOOST_AUTO_TEST_CASE(the_tunnel_stays_when_the_annotation_or_the_node_goes) {
  send(own_node_at("192.168.254.3"));
  BOOST_REQUIRE(mgr->converges.size() == 1u);
  send(own_node_at(std::nullopt, "198.51.100.7", "2"));
  own_node_observed gone;
  gone.node.name = "node-a";
  send(gone);
  BOOST_TEST(mgr->converges.size() == 1u);
  BOOST_TEST(mgr->cleanups == 0);
  BOOST_TEST(mgr->removes.empty());
  auto kept = status();
  BOOST_TEST(kept.phase == tunnel_phase::converged);
  BOOST_TEST(kept.overlay_ip == "192.168.254.3");
  BOOST_TEST(!kept.announced);
  // Back with the same value: the actor hears of it again, the kernel is already right.
  send(own_node_at("192.168.254.3", "198.51.100.7", "3"));
  BOOST_TEST(status().announced);
  BOOST_TEST(mgr->converges.size() == 1u);
}

BOOST_AUTO_TEST_CASE(link_change_and_periodic_sync_reach_the_local_actor) {
  send(link_changed{"routervxlan0", "deleted"}); // before any entry: nothing to repair
  BOOST_TEST(mgr->converges.empty());
  send(own_node_at("192.168.254.3"));
  BOOST_TEST(mgr->converges.size() == 1u);
  send(link_changed{"routervxlan0", "deleted"});
  BOOST_TEST(mgr->converges.size() == 2u); // within the same run(), no time advance
  advance(settings.tunnel_sync_period);
  BOOST_TEST(mgr->converges.size() == 3u);
  advance(settings.tunnel_sync_period);
  BOOST_TEST(mgr->converges.size() == 4u);
}

BOOST_AUTO_TEST_CASE(a_killed_local_actor_is_respawned_and_reconverges) {
  send(own_node_at("192.168.254.3"));
  BOOST_TEST(mgr->converges.size() == 1u);
  auto old = state().child_handle();
  BOOST_REQUIRE(old);
  caf::anon_send_exit(old, caf::exit_reason::kill);
  run();
  auto fresh = state().child_handle();
  BOOST_REQUIRE(fresh);
  BOOST_TEST(fresh.id() != old.id());
  BOOST_REQUIRE(mgr->converges.size() == 2u);
  BOOST_TEST((mgr->converges[1] == mgr->converges[0]));
  BOOST_TEST(summary().respawns == 1u);

  // Even when the annotation is gone, the respawned actor gets the last entry it had.
  send(own_node_at(std::nullopt, "198.51.100.7", "5"));
  caf::anon_send_exit(state().child_handle(), caf::exit_reason::kill);
  run();
  BOOST_REQUIRE(mgr->converges.size() == 3u);
  BOOST_TEST(mgr->converges[2].overlay.to_string() == "192.168.254.3/24");
}

BOOST_AUTO_TEST_CASE(stopping_the_supervisor_stops_the_tunnel_actor_not_the_tunnel) {
  send(own_node_at("192.168.254.3"));
  auto downs = std::make_shared<int>(0);
  auto child = state().child_handle();
  auto watcher = sys->spawn([downs, child](caf::event_based_actor* self) -> caf::behavior {
    self->set_down_handler([downs](caf::down_msg&) { ++*downs; });
    self->monitor(child);
    return {[](int) {}};
  });
  track(watcher);
  run();
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  BOOST_TEST(*downs == 1);
  BOOST_TEST(mgr->cleanups == 0); // the tunnel stays up
  BOOST_TEST(mgr->removes.empty());
}

BOOST_AUTO_TEST_SUITE_END()
