// Allocator + publisher together on the test coordinator, with a fake ConfigMap port: the
// behaviours of issue "actor system" that decide what the device sees.
#include <set>

#include <boost/test/unit_test.hpp>

#include "actors/allocator.hpp"
#include "actors/publisher.hpp"
#include "fake_ports.hpp"
#include "fixture.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace std::chrono_literals;

namespace {

kube::node_info make_node(const std::string& name, const std::string& ip, const std::string& pod) {
  kube::node_info n;
  n.name = name;
  n.uid = "uid-" + name;
  n.underlay_ip = *net::ip_address::parse(ip);
  n.pod_cidrs = {*net::cidr::parse(pod)};
  n.ready = true;
  return n;
}

std::string nth_ip(int i) {
  return "198.51.100." + std::to_string(i + 1);
}
std::string nth_pod(int i) {
  return "10.244." + std::to_string(i) + ".0/24";
}

published_snapshot snapshot_of(const std::optional<configmap_object>& cm) {
  if (!cm)
    return {};
  return published_snapshot::decode(true, cm->resource_version, cm->data);
}

struct events_log {
  std::vector<node_event> events;
};

event_recorder_actor::behavior_type recording_events(std::shared_ptr<events_log> log) {
  return {[=](node_event& m) { log->events.push_back(m); }};
}

struct pipeline : test::actor_fixture {
  controller_settings settings;
  std::shared_ptr<test::fake_configmap_port> port = std::make_shared<test::fake_configmap_port>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  std::shared_ptr<events_log> ev_log = std::make_shared<events_log>();
  event_recorder_actor events;
  publisher_actor pub;
  allocator_actor alloc;
  uint64_t term = 0;

  pipeline() {
    settings.node_name = "node-00";
    settings.overlay_network = *net::cidr::parse("192.168.254.0/24");
    settings.endpoint_ip = *net::ip_address::parse("192.168.254.254");
    settings.remote_vtep = *net::ip_address::parse("203.0.113.1");
    settings.detach_blocking_actors = false;
    events = track(sys->spawn(recording_events, ev_log));
  }

  void start() {
    pub = track(sys->spawn(publisher, settings, tel, port));
    alloc = track(sys->spawn(allocator, settings, tel, pub, node_annotator_actor{}, events));
    run();
  }

  void lead(bool leading) {
    if (leading)
      ++term;
    caf::anon_send(alloc, leadership{leading, "test", term});
    caf::anon_send(pub, leadership{leading, "test", term});
    run();
  }

  /// What the configmap_watcher would send after seeing the store.
  void observe_store() {
    auto s = snapshot_of(port->current());
    caf::anon_send(alloc, s);
    caf::anon_send(pub, s);
    run();
  }

  void add(const kube::node_info& n) { caf::anon_send(alloc, node_upserted{n}); }
  void synced(size_t count) { caf::anon_send(alloc, nodes_synced{count}); }

  std::map<std::string, std::string> data() const {
    auto cm = port->current();
    return cm ? cm->data : std::map<std::string, std::string>{};
  }
  int writes() const { return port->calls("create") + port->calls("patch"); }

  /// Node name -> overlay IP as published.
  std::map<std::string, std::string> assignments() const {
    std::map<std::string, std::string> out;
    for (const auto& e : kube::decode(data()).state.entries)
      out[e.name] = e.overlay_ip.to_string();
    return out;
  }

  /// A running cluster of n nodes, published.
  void bring_up(int n) {
    start();
    lead(true);
    observe_store();
    for (int i = 0; i < n; ++i)
      add(make_node("node-" + std::to_string(100 + i), nth_ip(i), nth_pod(i)));
    synced(static_cast<size_t>(n));
    run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(allocator_and_publisher, pipeline)

BOOST_AUTO_TEST_CASE(nothing_is_written_before_the_picture_is_complete) {
  start();
  add(make_node("node-a", nth_ip(0), nth_pod(0)));
  run();
  lead(true);
  observe_store();           // no ConfigMap yet
  BOOST_TEST(writes() == 0); // the initial Node list is not complete yet
  synced(1);
  run();
  // Created with the fixed keys, the entries patched in at once (the patch resets managedFields).
  BOOST_TEST(writes() == 2);
  BOOST_TEST(port->calls("create") == 1);
  BOOST_TEST(port->calls("patch") == 1);
  auto d = data();
  BOOST_TEST(d["Interface-198.51.100.1"] == "192.168.254.1");
  BOOST_TEST(d["Node-198.51.100.1"] == "198.51.100.1");
  BOOST_TEST(d["Host-uid-node-a"] == "198.51.100.1");
  BOOST_TEST(d["Mac-198.51.100.1"] == "0a:58:c0:a8:fe:01");
  BOOST_TEST(d["CNI-198.51.100.1"] == "10.244.0.1/24");
  BOOST_TEST(d["EndpointIP"] == "192.168.254.254");
  BOOST_TEST(d["Type"] == "VXLAN");
  BOOST_TEST(d["Name-198.51.100.1"] == "node-a");
}

BOOST_AUTO_TEST_CASE(a_burst_of_100_adds_is_one_write) {
  bring_up(0);
  BOOST_TEST_REQUIRE(writes() == 1); // the empty ConfigMap with the fixed keys
  for (int i = 0; i < 100; ++i)
    add(make_node("node-" + std::to_string(100 + i), nth_ip(i), nth_pod(i)));
  run();
  BOOST_TEST(writes() == 2);
  auto a = assignments();
  BOOST_TEST(a.size() == 100u);
  std::set<std::string> distinct;
  for (const auto& [_, ip] : a)
    distinct.insert(ip);
  BOOST_TEST(distinct.size() == 100u);
  BOOST_TEST(a["node-100"] == "192.168.254.1");
  BOOST_TEST(a["node-199"] == "192.168.254.100");
}

BOOST_AUTO_TEST_CASE(idle_means_zero_writes) {
  bring_up(20);
  int before = writes();
  for (int i = 0; i < 5; ++i)
    advance(settings.config_sync_period); // periodic Sync of allocator and publisher
  observe_store();
  // Heartbeat-only updates never reach the allocator (node_watcher filters them), but even a
  // repeated identical upsert changes nothing.
  add(make_node("node-100", nth_ip(0), nth_pod(0)));
  run();
  BOOST_TEST(writes() == before);
}

BOOST_AUTO_TEST_CASE(a_restart_republishes_identical_assignments_without_writing) {
  bring_up(10);
  // Make the assignment non-trivial: delete one in the middle, add one (which takes the gap).
  caf::anon_send(alloc, node_deleted{"node-104"});
  add(make_node("node-zzz", nth_ip(50), nth_pod(50)));
  run();
  auto before = assignments();
  BOOST_TEST(before["node-zzz"] == "192.168.254.5");
  int writes_before = writes();

  // "Restart": fresh actors on the same API state, nodes arriving in a different order.
  caf::anon_send_exit(alloc, caf::exit_reason::kill);
  caf::anon_send_exit(pub, caf::exit_reason::kill);
  run();
  start();
  lead(true);
  observe_store();
  add(make_node("node-zzz", nth_ip(50), nth_pod(50)));
  for (int i = 9; i >= 0; --i)
    if (i != 4)
      add(make_node("node-" + std::to_string(100 + i), nth_ip(i), nth_pod(i)));
  synced(10);
  run();
  BOOST_TEST(assignments() == before);
  BOOST_TEST(writes() == writes_before); // identical: nothing to write
}

BOOST_AUTO_TEST_CASE(a_seed_format_configmap_is_restored_by_uid) {
  // The original system's ConfigMap: no Name- keys, foreign MACs.
  port->set_data({{"EndpointIP", "192.168.254.254"},
                  {"Type", "VXLAN"},
                  {"Host-uid-node-a", "198.51.100.1"},
                  {"Interface-198.51.100.1", "192.168.254.7"},
                  {"CNI-198.51.100.1", "10.244.0.1/24"},
                  {"Node-198.51.100.1", "198.51.100.1"},
                  {"Operator-Note", "keep me"}});
  start();
  lead(true);
  observe_store();
  add(make_node("node-a", nth_ip(0), nth_pod(0)));
  add(make_node("node-b", nth_ip(1), nth_pod(1)));
  synced(2);
  run();
  auto a = assignments();
  BOOST_TEST(a["node-a"] == "192.168.254.7");
  BOOST_TEST(a["node-b"] == "192.168.254.1");
  BOOST_TEST(data()["Operator-Note"] == "keep me");
}

BOOST_AUTO_TEST_CASE(a_conflict_rereads_and_succeeds) {
  bring_up(3);
  int patches = port->calls("patch"); // bring_up's: the entries after the create
  // Someone edits a foreign key between our read and our write.
  bool edited = false;
  port->on_call = [&](const std::string& verb) {
    if (verb == "patch" && !edited) {
      edited = true;
      port->edit_data([](auto& d) { d["Foreign"] = "x"; });
    }
  };
  add(make_node("node-new", nth_ip(9), nth_pod(9)));
  run();
  port->on_call = nullptr;
  BOOST_TEST(edited);
  auto d = data();
  BOOST_TEST(d["Foreign"] == "x");
  BOOST_TEST(d["Name-198.51.100.10"] == "node-new");
  BOOST_TEST(port->calls("patch") == patches + 2); // the 409, then the write on top of the re-read
  BOOST_TEST(port->calls("get") == 1);             // the re-read after the 409
}

BOOST_AUTO_TEST_CASE(failures_back_off_and_recover) {
  bring_up(1);
  port->fail_next(2, test::transport_failure(), "patch");
  add(make_node("node-new", nth_ip(9), nth_pod(9)));
  run();
  BOOST_TEST(assignments().count("node-new") == 0u);
  int calls = port->calls("patch");
  advance(settings.backoff_initial); // retry 1 fails too
  BOOST_TEST(port->calls("patch") == calls + 1);
  advance(settings.backoff_initial); // backoff doubled: not yet
  BOOST_TEST(port->calls("patch") == calls + 1);
  advance(settings.backoff_initial);
  BOOST_TEST(assignments().count("node-new") == 1u);
}

BOOST_AUTO_TEST_CASE(losing_leadership_stops_every_write) {
  bring_up(2);
  int before = writes();
  lead(false);
  add(make_node("node-late", nth_ip(9), nth_pod(9)));
  caf::anon_send(alloc, node_deleted{"node-100"});
  run();
  advance(settings.config_sync_period);
  port->edit_data([](auto& d) { d.erase("EndpointIP"); }); // drift a leader would repair
  observe_store();
  BOOST_TEST(writes() == before);
  // Leading again: restores from what is published and catches up.
  lead(true);
  run();
  auto a = assignments();
  BOOST_TEST(a.count("node-100") == 0u);
  BOOST_TEST(a["node-late"] == "192.168.254.1"); // node-100's address, freed
  BOOST_TEST(data()["EndpointIP"] == "192.168.254.254");
}

BOOST_AUTO_TEST_CASE(a_stale_desired_set_from_an_old_term_is_never_written) {
  bring_up(2);
  // The publisher hears "leading, term 2" before the allocator's new full set; an old delta that
  // was in flight carries term 1 and must be dropped.
  caf::anon_send(pub, leadership{false, "test", term});
  caf::anon_send(pub, leadership{true, "test", term + 1});
  desired_entries stale;
  stale.term = term;
  stale.full = true;
  run();
  int before = writes();
  caf::anon_send(pub, stale);
  run();
  BOOST_TEST(writes() == before);
  BOOST_TEST(assignments().size() == 2u);
}

BOOST_AUTO_TEST_CASE(ip_and_pod_cidr_changes_follow) {
  bring_up(2);
  add(make_node("node-100", "198.51.100.200", "10.244.77.0/24"));
  run();
  auto d = data();
  BOOST_TEST(d.count("Node-198.51.100.1") == 0u); // old IP's keys gone
  BOOST_TEST(d["Node-198.51.100.200"] == "198.51.100.200");
  BOOST_TEST(d["Interface-198.51.100.200"] == "192.168.254.1"); // address kept
  BOOST_TEST(d["CNI-198.51.100.200"] == "10.244.77.1/24");
  BOOST_TEST(d["Host-uid-node-100"] == "198.51.100.200");
}

BOOST_AUTO_TEST_CASE(delete_removes_entries_and_the_address_is_reused) {
  bring_up(3);
  caf::anon_send(alloc, node_deleted{"node-101"});
  run();
  auto d = data();
  BOOST_TEST(d.count("Node-198.51.100.2") == 0u);
  BOOST_TEST(d.count("Interface-198.51.100.2") == 0u);
  BOOST_TEST(d.count("Host-uid-node-101") == 0u);
  add(make_node("node-new", nth_ip(20), nth_pod(20)));
  run();
  BOOST_TEST(assignments()["node-new"] == "192.168.254.2");
}

BOOST_AUTO_TEST_CASE(exhaustion_leaves_other_nodes_alone) {
  settings.overlay_network = *net::cidr::parse("192.168.254.0/29"); // 8 addresses, 5 usable
  settings.endpoint_ip = *net::ip_address::parse("192.168.254.6");
  bring_up(7);
  auto a = assignments();
  BOOST_TEST(a.size() == 5u);
  BOOST_TEST(a.count("node-105") == 0u);
  BOOST_TEST(a.count("node-106") == 0u);
  int warnings = 0;
  for (const auto& e : ev_log->events)
    warnings += e.warning && e.reason == "OverlayNetworkExhausted";
  BOOST_TEST(warnings == 2);
  // A freed address goes to a waiting node.
  caf::anon_send(alloc, node_deleted{"node-102"});
  run();
  a = assignments();
  BOOST_TEST(a.size() == 5u);
  BOOST_TEST(a["node-105"] == "192.168.254.3");
  // Repeated syncs do not repeat the warning.
  advance(settings.config_sync_period);
  advance(settings.config_sync_period);
  int after = 0;
  for (const auto& e : ev_log->events)
    after += e.warning && e.reason == "OverlayNetworkExhausted";
  BOOST_TEST(after == 2);
}

BOOST_AUTO_TEST_CASE(nodes_without_address_or_cidr_wait_without_harm) {
  bring_up(1);
  auto bad = make_node("node-bad", nth_ip(5), nth_pod(5));
  bad.pod_cidrs.clear();
  add(bad);
  auto dup = make_node("node-dup", nth_ip(0), nth_pod(7)); // same underlay IP as node-100
  add(dup);
  run();
  auto a = assignments();
  BOOST_TEST(a.size() == 1u);
  BOOST_TEST(a.count("node-100") == 1u);
  // Once fixed, it gets its entry.
  add(make_node("node-bad", nth_ip(5), nth_pod(5)));
  run();
  BOOST_TEST(assignments().count("node-bad") == 1u);
}

BOOST_AUTO_TEST_CASE(hand_edits_are_repaired_and_foreign_keys_kept) {
  bring_up(2);
  port->edit_data([](auto& d) {
    d["Interface-198.51.100.1"] = "garbage";
    d.erase("Node-198.51.100.2");
    d["Vendor-Key"] = "mine";
  });
  observe_store();
  auto d = data();
  BOOST_TEST(d["Interface-198.51.100.1"] == "192.168.254.1");
  BOOST_TEST(d["Node-198.51.100.2"] == "198.51.100.2");
  BOOST_TEST(d["Vendor-Key"] == "mine");
  // A deleted ConfigMap is recreated.
  port->remove();
  observe_store();
  BOOST_TEST(data()["Node-198.51.100.2"] == "198.51.100.2");
}

BOOST_AUTO_TEST_SUITE_END()
