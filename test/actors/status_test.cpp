// Status replies as data: each actor state computes its status struct without any actor, and
// each struct's one line (logs, diagnostics) keeps the wording the replies always had.
#include <boost/test/unit_test.hpp>

#include "actors/allocator.hpp"
#include "actors/node_annotator.hpp"
#include "actors/node_readiness.hpp"
#include "actors/publisher.hpp"
#include "actors/status.hpp"
#include "actors/tunnel.hpp"
#include "tunnel_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;
using kcr::test::ip;
using kcr::test::make_entry;

BOOST_AUTO_TEST_SUITE(status_lines)

BOOST_AUTO_TEST_CASE(allocator_line) {
  allocator_status s;
  BOOST_TEST(to_string(s) == "allocator following listing not-ready nodes=0 entries=0 waiting=0");
  s = {.leading = true,
       .synced = true,
       .seen_configmap = true,
       .ready = true,
       .nodes = 3,
       .entries = 2,
       .waiting = 1,
       .free = 250};
  BOOST_TEST(to_string(s) ==
             "allocator leading synced seen-configmap ready nodes=3 entries=2 waiting=1 free=250");
}

BOOST_AUTO_TEST_CASE(publisher_line) {
  publisher_status s;
  BOOST_TEST(to_string(s) ==
             "publisher following no-desired rv=- writes=0 conflicts=0 failures=0 unpublished=0");
  s = {.leading = true,
       .have_desired = true,
       .desired = 3,
       .resource_version = "42",
       .writes = 2,
       .conflicts = 1,
       .failures = 4,
       .waiting_for_budget = true,
       .unpublished = 5};
  BOOST_TEST(to_string(s) == "publisher leading desired=3 rv=42 writes=2 conflicts=1 failures=4 "
                             "waiting-for-budget unpublished=5");
}

BOOST_AUTO_TEST_CASE(node_annotator_line) {
  node_annotator_status s{.leading = true,
                          .active = false,
                          .desired = 3,
                          .confirmed = 2,
                          .nodes = 4,
                          .pending = 1,
                          .patches = 7,
                          .failures = 1};
  BOOST_TEST(to_string(s) == "node_annotator leading inactive desired=3 confirmed=2 nodes=4 "
                             "pending=1 patches=7 failures=1");
}

BOOST_AUTO_TEST_CASE(tunnel_lines) {
  tunnel_status s;
  s.node = "node-a";
  BOOST_TEST(to_string(s) == "node-a waiting - (0 converges, 0 failed, 0 observed, last error: -)");
  s.phase = tunnel_phase::converged;
  s.overlay_ip = "192.168.254.1";
  s.announced = true;
  s.converges = 3;
  s.observed = 1;
  BOOST_TEST(to_string(s) ==
             "node-a converged 192.168.254.1 (3 converges, 0 failed, 1 observed, last error: -)");
  s.phase = tunnel_phase::failed;
  s.announced = false;
  s.failures = 2;
  s.last_error = "netlink_error: busy";
  BOOST_TEST(to_string(s) == "node-a failed 192.168.254.1 (3 converges, 2 failed, 1 observed, no "
                             "longer announced, last error: netlink_error: busy)");
  tunnel_status none;
  none.node = "node-a";
  none.running = false;
  BOOST_TEST(to_string(none) == "no tunnel actor for node-a");
  none.problem = "Node node-a has no usable InternalIP/ExternalIP address";
  BOOST_TEST(to_string(none) ==
             "no tunnel actor for node-a: Node node-a has no usable InternalIP/ExternalIP address");
}

BOOST_AUTO_TEST_CASE(supervisor_and_readiness_lines) {
  supervisor_status sup{.node = "node-a", .observed_sent = 1, .respawns = 0, .refused = 2};
  BOOST_TEST(to_string(sup) == "tunnel_supervisor: node node-a, 1 entry_observed sent, 0 "
                               "respawned, 2 annotations refused");
  readiness_status r;
  r.node = "node-a";
  BOOST_TEST(to_string(r) ==
             "node-a ChorusTunnelReady=unwritten (0 writes, taint removed 0, 0 failed)");
  r = {.node = "node-a",
       .written = true,
       .ready = true,
       .reason = "TunnelConverged",
       .condition_writes = 2,
       .taint_removals = 1,
       .failures = 0};
  BOOST_TEST(to_string(r) ==
             "node-a ChorusTunnelReady=True TunnelConverged (2 writes, taint removed 1, 0 failed)");
  r.ready = false;
  r.reason = "TunnelFailed";
  BOOST_TEST(to_string(r) ==
             "node-a ChorusTunnelReady=False TunnelFailed (2 writes, taint removed 1, 0 failed)");
}

BOOST_AUTO_TEST_SUITE_END()

// The states compute their structs from what they hold (no actor, no I/O).
BOOST_AUTO_TEST_SUITE(status_of_states)

BOOST_AUTO_TEST_CASE(allocator_state_status) {
  allocator_state st;
  BOOST_TEST((st.status() == allocator_status{}));
  st.leading = true;
  st.synced = true;
  st.nodes["node-a"].name = "node-a";
  st.nodes["node-b"].name = "node-b";
  st.entries["node-a"] = make_entry("node-a", "198.51.100.7", "192.168.254.1");
  st.waiting["node-b"] = {"no-address", "it has none"};
  auto s = st.status();
  BOOST_TEST(s.leading);
  BOOST_TEST(s.synced);
  BOOST_TEST(!s.seen_configmap);
  BOOST_TEST(!s.ready);
  BOOST_TEST(s.nodes == 2u);
  BOOST_TEST(s.entries == 1u);
  BOOST_TEST(s.waiting == 1u);
  BOOST_TEST(s.free == 0u); // no pool yet
  auto pool = net::overlay_pool::create("192.168.254.0/24", "192.168.254.254");
  BOOST_REQUIRE(pool.ok());
  st.pool.emplace(std::move(*pool));
  st.snapshot = published_snapshot{};
  s = st.status();
  BOOST_TEST(s.ready);
  BOOST_TEST(s.seen_configmap);
  BOOST_TEST(s.free == st.pool->free_count());
  BOOST_TEST(s.free > 0u);
}

BOOST_AUTO_TEST_CASE(publisher_state_status) {
  publisher_state st;
  st.leading = true;
  st.have_desired = true;
  st.add_own(make_entry("node-a", "198.51.100.7", "192.168.254.1"));
  st.resource_version = "42";
  st.writes = 2;
  st.conflicts = 1;
  st.failures = 3;
  st.budget_timer = true;
  st.unpublished = {"node-a"};
  BOOST_TEST((st.status() == publisher_status{.leading = true,
                                              .have_desired = true,
                                              .desired = 1,
                                              .resource_version = "42",
                                              .writes = 2,
                                              .conflicts = 1,
                                              .failures = 3,
                                              .waiting_for_budget = true,
                                              .unpublished = 1}));
}

BOOST_AUTO_TEST_CASE(node_annotator_state_status) {
  node_annotator_state st;
  st.leading = true;
  st.have_desired = true;
  st.have_snapshot = true;
  st.desired["node-a"] = ip("192.168.254.1");
  st.seen["node-a"] = {};
  st.seen["node-b"] = {};
  st.pending = {"node-a"};
  st.patches = 4;
  auto s = st.status();
  BOOST_TEST(s.leading);
  BOOST_TEST(s.active); // leading, desired and snapshot of the same term (0)
  BOOST_TEST(s.desired == 1u);
  BOOST_TEST(s.confirmed == 0u);
  BOOST_TEST(s.nodes == 2u);
  BOOST_TEST(s.pending == 1u);
  BOOST_TEST(s.patches == 4u);
  BOOST_TEST(s.failures == 0u);
}

BOOST_AUTO_TEST_CASE(tunnel_state_status) {
  tunnel_state st;
  st.cfg.node = "node-a";
  auto s = st.status();
  BOOST_TEST(s.node == "node-a");
  BOOST_TEST(s.running);
  BOOST_TEST((s.phase == tunnel_phase::waiting));
  BOOST_TEST(s.overlay_ip == "");
  BOOST_TEST(!s.announced);
  st.observed = make_entry("node-a", "198.51.100.7", "192.168.254.1");
  st.observed_present = false; // the entry went; the tunnel keeps it
  st.phase = tunnel_phase::failed;
  st.last_error = "permission: EPERM";
  st.converges = 2;
  st.failures = 1;
  st.observed_msgs = 2;
  s = st.status();
  BOOST_TEST((s.phase == tunnel_phase::failed));
  BOOST_TEST(s.overlay_ip == "192.168.254.1");
  BOOST_TEST(!s.announced);
  BOOST_TEST(s.converges == 2u);
  BOOST_TEST(s.failures == 1u);
  BOOST_TEST(s.observed == 2u);
  BOOST_TEST(s.last_error == "permission: EPERM");
}

BOOST_AUTO_TEST_CASE(readiness_state_status) {
  controller_settings settings;
  settings.node_name = "node-a";
  node_readiness_state st;
  st.cfg.settings = std::make_shared<const controller_settings>(settings);
  auto s = st.status();
  BOOST_TEST(s.node == "node-a");
  BOOST_TEST(!s.written);
  st.written = tunnel_condition{false, "TunnelFailed", "not ours"};
  st.condition_writes = 1;
  st.failures = 2;
  s = st.status();
  BOOST_TEST(s.written);
  BOOST_TEST(!s.ready);
  BOOST_TEST(s.reason == "TunnelFailed");
  BOOST_TEST(s.condition_writes == 1u);
  BOOST_TEST(s.taint_removals == 0u);
  BOOST_TEST(s.failures == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
