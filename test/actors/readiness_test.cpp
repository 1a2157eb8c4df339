// Node readiness tied to the tunnel (issue 17): the rules (tables) and the node_readiness actor in
// front of a real tunnel supervisor whose tunnel manager is a fake wrapped in the reporting
// manager, as the agent wires them. What is written to the Node is decided by the state: one
// write per change, none per sync, the taint once, failures retried with backoff.
#include <boost/test/unit_test.hpp>

#include "actors/node_readiness.hpp"
#include "actors/telemetry.hpp"
#include "actors/tunnel_supervisor.hpp"
#include "fake_tunnel_manager.hpp"
#include "tunnel_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace kcr::test;

namespace {

converge_outcome ok_at(const char* ip) {
  return {true, ip, "routervxlan0", "", ""};
}

kube::taint taint_of(const char* key, const char* effect = "NoSchedule") {
  return {key, "", effect};
}

} // namespace

BOOST_AUTO_TEST_CASE(the_condition_follows_the_entry_and_the_last_converge) {
  struct row {
    const char* what;
    readiness_inputs in;
    std::optional<tunnel_condition> want; // nullopt: no opinion, keep what is written
  };
  const auto failed = converge_outcome{false, "192.168.254.3", "routervxlan0",
                                       "foreign_interface: routervxlan0 is not ours", ""};
  const auto strict = converge_outcome{true, "192.168.254.3", "routervxlan0", "",
                                       "sysctl -w net.ipv4.conf.routervxlan0.rp_filter=2"};
  const std::vector<row> rows{
      {"no annotation yet",
       {std::nullopt, "Node node-a has no annotation kube-chorus-router.io/overlay-ip yet", {}},
       tunnel_condition{false, "EntryNotPublished",
                        "Node node-a has no annotation kube-chorus-router.io/overlay-ip yet"}},
      {"no entry, no problem text",
       {std::nullopt, "", ok_at("192.168.254.3")},
       tunnel_condition{false, "EntryNotPublished", "the node has no published overlay entry"}},
      {"entry, no converge yet", {"192.168.254.3", "", std::nullopt}, std::nullopt},
      {"entry, converged to an older address",
       {"192.168.254.3", "", ok_at("192.168.254.9")},
       std::nullopt},
      {"entry, converged",
       {"192.168.254.3", "", ok_at("192.168.254.3")},
       tunnel_condition{true, "TunnelConverged",
                        "tunnel routervxlan0 carries the published overlay address 192.168.254.3"}},
      {"entry, converge failed",
       {"192.168.254.3", "", failed},
       tunnel_condition{false, "TunnelFailed",
                        "tunnel routervxlan0: foreign_interface: routervxlan0 is not ours"}},
      {"entry, converged but rp_filter strict",
       {"192.168.254.3", "", strict},
       tunnel_condition{false, "RpFilterStrict",
                        "tunnel routervxlan0 is up but a strict rp_filter drops the device's "
                        "packets; on the node run: sysctl -w "
                        "net.ipv4.conf.routervxlan0.rp_filter=2"}},
  };
  readiness_inputs route_only{"192.168.254.3", "", std::nullopt, true};
  auto got = desired_condition(route_only);
  BOOST_TEST((got && got->ready && got->reason == "RouteOnly"));
  route_only.entry_overlay_ip.reset();
  got = desired_condition(route_only);
  BOOST_TEST((got && !got->ready && got->reason == "EntryNotPublished"));
  for (const auto& r : rows) {
    auto got = desired_condition(r.in);
    BOOST_TEST_CONTEXT(r.what) {
      BOOST_TEST(got.has_value() == r.want.has_value());
      if (got && r.want) {
        BOOST_TEST(got->ready == r.want->ready);
        BOOST_TEST(got->reason == r.want->reason);
        BOOST_TEST(got->message == r.want->message);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_taint_goes_only_after_a_true_condition) {
  const std::vector<kube::taint> tainted{taint_of("node.kubernetes.io/not-ready", "NoExecute"),
                                         taint_of(readiness_taint_key), taint_of("dedicated"),
                                         taint_of(readiness_taint_key, "NoExecute")};
  BOOST_TEST((taint_indices(tainted, readiness_taint_key) == std::vector<std::size_t>{3, 1}));
  BOOST_TEST(taint_indices({taint_of("dedicated")}, readiness_taint_key).empty());

  const tunnel_condition yes{true, "TunnelConverged", "x"};
  const tunnel_condition no{false, "TunnelFailed", "x"};
  struct row {
    const char* what;
    bool enabled;
    std::optional<tunnel_condition> written;
    std::vector<kube::taint> taints;
    bool want;
  };
  const std::vector<row> rows{
      {"enabled, True, tainted", true, yes, tainted, true},
      {"disabled", false, yes, tainted, false},
      {"nothing written yet", true, std::nullopt, tainted, false},
      {"written False", true, no, tainted, false},
      {"not tainted (any more)", true, yes, {taint_of("dedicated")}, false},
  };
  for (const auto& r : rows)
    BOOST_TEST(should_remove_taint(r.enabled, r.written, r.taints) == r.want, r.what);
}

namespace {

// Records the agent's writes to its Node; fails the next ones on demand.
struct fake_node_status_port : node_status_port {
  struct write {
    tunnel_condition condition;
    bool transition;
  };
  std::vector<write> conditions;
  std::vector<std::vector<std::size_t>> taint_removals;
  int fail_conditions = 0;  // the next N condition patches fail with 500
  int fail_taints_code = 0; // the next taint removal fails with this code (0: succeeds)

  outcome<bool> patch_condition(const std::string& node, const tunnel_condition& c,
                                bool transition) override {
    BOOST_TEST(node == "node-a");
    if (fail_conditions > 0) {
      --fail_conditions;
      return api_failure{500, "InternalError", "injected"};
    }
    conditions.push_back({c, transition});
    return true;
  }
  outcome<bool> remove_taints(const std::string& node, const std::vector<std::size_t>& indices,
                              const std::string& key) override {
    BOOST_TEST(node == "node-a");
    BOOST_TEST(key == readiness_taint_key);
    if (int code = std::exchange(fail_taints_code, 0))
      return api_failure{code, "Invalid", "injected"};
    taint_removals.push_back(indices);
    return true;
  }
};

struct readiness_fixture : actor_fixture {
  controller_settings settings = tunnel_settings("node-a");
  std::shared_ptr<fake_tunnel_manager> fake = std::make_shared<fake_tunnel_manager>();
  std::shared_ptr<reporting_tunnel_manager> mgr = std::make_shared<reporting_tunnel_manager>(fake);
  std::shared_ptr<fake_node_status_port> port = std::make_shared<fake_node_status_port>();
  std::shared_ptr<std::vector<node_event>> events = std::make_shared<std::vector<node_event>>();
  node_readiness_actor front;

  readiness_fixture() {
    auto sup = track(sys->spawn(tunnel_supervisor, settings, mgr, std::shared_ptr<telemetry>{},
                                recording_events(*this, events)));
    front = track(sys->spawn(
        node_readiness, node_readiness_config{std::make_shared<const controller_settings>(settings),
                                              true, port, sup}));
    mgr->set_sink([h = front](converge_outcome o) { caf::anon_send(h, std::move(o)); });
    run();
  }
  template <class T>
  void send(T msg) {
    caf::anon_send(front, std::move(msg));
    run();
  }
  readiness_status status() {
    return ask<readiness_status>(*this, front, status_atom::value, readiness_atom::value);
  }
  /// The local tunnel's status: node_readiness passes the question on to the supervisor.
  tunnel_status tunnel() { return ask<tunnel_status>(*this, front, status_atom::value); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(node_readiness_suite, readiness_fixture)

BOOST_AUTO_TEST_CASE(a_new_node_is_untainted_once_its_tunnel_is_converged) {
  send(own_node(std::nullopt, true)); // registered with the taint, not yet published
  BOOST_REQUIRE(port->conditions.size() == 1u);
  BOOST_TEST(!port->conditions[0].condition.ready);
  BOOST_TEST(port->conditions[0].condition.reason == "EntryNotPublished");
  BOOST_TEST(port->conditions[0].transition);
  BOOST_TEST(port->taint_removals.empty());
  BOOST_TEST(fake->converges.empty());

  send(own_node(std::nullopt, true, "2")); // a heartbeat: nothing new to say
  BOOST_TEST(port->conditions.size() == 1u);

  send(own_node("192.168.254.3", true, "3"));  // the publisher annotated it
  BOOST_REQUIRE(fake->converges.size() == 1u); // forwarded to the supervisor, converged
  BOOST_REQUIRE(port->conditions.size() == 2u);
  BOOST_TEST(port->conditions[1].condition.ready);
  BOOST_TEST(port->conditions[1].condition.reason == "TunnelConverged");
  BOOST_TEST(port->conditions[1].transition);
  BOOST_REQUIRE(port->taint_removals.size() == 1u);
  BOOST_TEST((port->taint_removals[0] == std::vector<std::size_t>{1}));

  // The watch shows the taint gone; periodic converges change nothing: no writes.
  send(own_node("192.168.254.3", false, "4"));
  advance(std::chrono::seconds{61});
  advance(std::chrono::seconds{61});
  BOOST_TEST(fake->converges.size() >= 3u);
  BOOST_TEST(port->conditions.size() == 2u);
  BOOST_TEST(port->taint_removals.size() == 1u);
  BOOST_TEST(status() == (readiness_status{.node = "node-a",
                                           .written = true,
                                           .ready = true,
                                           .reason = "TunnelConverged",
                                           .condition_writes = 2,
                                           .taint_removals = 1,
                                           .failures = 0}));
  BOOST_TEST(tunnel().phase == tunnel_phase::converged);
  BOOST_TEST(tunnel().overlay_ip == "192.168.254.3");
  auto sup = ask<supervisor_status>(*this, front, status_atom::value, supervisor_atom::value);
  BOOST_TEST(sup == (supervisor_status{
                        .node = "node-a", .observed_sent = 1, .respawns = 0, .refused = 0}));
}

BOOST_AUTO_TEST_CASE(a_broken_tunnel_turns_the_condition_false_and_a_repair_true) {
  send(own_node("192.168.254.3", false));
  BOOST_REQUIRE(port->conditions.size() == 1u);
  BOOST_TEST(port->conditions[0].condition.ready);
  BOOST_TEST(port->taint_removals.empty()); // not tainted: nothing to remove

  // Someone put a foreign interface in its place: the converge fails for good.
  fake->fail_next(1, net::tunnel_errc::foreign_interface, "routervxlan0 exists and is not ours");
  send(link_changed{"routervxlan0", "deleted"});
  BOOST_REQUIRE(port->conditions.size() == 2u);
  BOOST_TEST(!port->conditions[1].condition.ready);
  BOOST_TEST(port->conditions[1].condition.reason == "TunnelFailed");
  BOOST_TEST(port->conditions[1].condition.message.find("not ours") != std::string::npos);
  BOOST_TEST(port->conditions[1].transition);

  send(link_changed{"routervxlan0", "deleted"}); // the foreign one is gone: repaired
  BOOST_REQUIRE(port->conditions.size() == 3u);
  BOOST_TEST(port->conditions[2].condition.ready);
  BOOST_TEST(port->conditions[2].transition);

  send(own_node(std::nullopt, false, "5")); // the annotation went: the entry is not published
  BOOST_REQUIRE(port->conditions.size() == 4u);
  BOOST_TEST(port->conditions[3].condition.reason == "EntryNotPublished");
}

BOOST_AUTO_TEST_CASE(failed_writes_are_retried_with_backoff) {
  port->fail_conditions = 2;
  send(own_node("192.168.254.3", true));
  BOOST_TEST(port->conditions.empty());
  advance(std::chrono::milliseconds{500}); // first backoff: fails again
  BOOST_TEST(port->conditions.empty());
  advance(std::chrono::milliseconds{999});
  BOOST_TEST(port->conditions.empty()); // second backoff (1 s) not over yet
  advance(std::chrono::milliseconds{1});
  BOOST_REQUIRE(port->conditions.size() == 1u);
  BOOST_TEST(port->conditions[0].condition.ready);
  BOOST_TEST(port->taint_removals.size() == 1u);
  BOOST_TEST(status().failures == 2u);
}

BOOST_AUTO_TEST_CASE(a_taint_list_that_moved_waits_for_the_next_observation) {
  port->fail_taints_code = 422; // the test op failed: the list changed under the patch
  send(own_node("192.168.254.3", true));
  BOOST_TEST(port->taint_removals.empty());
  advance(std::chrono::seconds{5}); // no retry loop on the same list
  BOOST_TEST(port->taint_removals.empty());
  auto moved = own_node("192.168.254.3", true, "2");
  moved.node.taints.insert(moved.node.taints.begin(), taint_of("new"));
  send(moved);
  BOOST_REQUIRE(port->taint_removals.size() == 1u);
  BOOST_TEST((port->taint_removals[0] == std::vector<std::size_t>{2}));
  BOOST_TEST(port->conditions.size() == 1u); // the condition was written once
}

BOOST_AUTO_TEST_SUITE_END()
