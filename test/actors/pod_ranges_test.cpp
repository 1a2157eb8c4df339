// Pod ranges through the actors: the node_watcher applying BlockAffinities to Nodes (what reaches
// the allocator and when), and the allocator refusing ranges it must not publish (width, node and
// device addresses, another node's range) with a PodRangeRefused Event and the metric.
#include <boost/test/unit_test.hpp>

#include "actors/allocator.hpp"
#include "actors/node_watcher.hpp"
#include "actors/publisher.hpp"
#include "control_recorders.hpp"
#include "fake_ports.hpp"
#include "fixture.hpp"
#include "test/kube/node_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += x + " ";
  return s;
}

std::string join(const std::vector<net::cidr>& cidrs) {
  return kcr::test::join(cidrs);
}

std::vector<net::cidr> cidrs(const std::vector<std::string>& texts) {
  std::vector<net::cidr> out;
  for (const auto& t : texts)
    out.push_back(*net::cidr::parse(t));
  return out;
}

// --- node_watcher with --pod-cidr-source calico-ipam ----------------------------------------

// A Node as parse_node gives it for calico-ipam: an address, no pod range of its own.
kube::node_info calico_node(const std::string& name, const char* address,
                            const std::string& rv = "1") {
  kube::node_info n;
  n.name = name;
  n.uid = "uid-" + name;
  n.resource_version = rv;
  n.internal_ips = {*net::ip_address::parse(address)};
  n.underlay_ip = n.internal_ips[0];
  n.underlay_source = "InternalIP";
  n.ready = true;
  return n;
}

kube::range_object block(const std::string& name, const std::string& node,
                         const std::vector<std::string>& ranges) {
  return {name, node, cidrs(ranges)};
}

struct calico_watcher : test::actor_fixture {
  std::shared_ptr<test::inbox> alloc_in = std::make_shared<test::inbox>();
  std::shared_ptr<std::vector<node_event>> events = std::make_shared<std::vector<node_event>>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  node_watcher_actor watcher;

  calico_watcher() {
    auto alloc = track(sys->spawn(test::recording_allocator, alloc_in));
    auto rec = track(sys->spawn(test::recording_events, events));
    watcher = track(sys->spawn(node_watcher, alloc, node_annotator_actor{}, rec, tel));
    feed(pod_source_chosen{kube::pod_cidr_source::calico_ipam});
  }
  template <class T>
  void feed(T msg) {
    caf::anon_send(watcher, std::move(msg));
    run();
  }
  /// The last upsert of `node` the allocator received, as "ranges|source".
  std::string last_upsert(const std::string& node) const {
    for (auto it = alloc_in->upserts.rbegin(); it != alloc_in->upserts.rend(); ++it)
      if (it->node.name == node)
        return join(it->node.pod_cidrs) + "|" + it->node.pod_cidr_source;
    return "(none)";
  }
  /// Both lists done: n1 with one confirmed block, n2 with a pending one.
  void listed() {
    feed(nodes_listed{{calico_node("n1", "198.51.100.1"), calico_node("n2", "198.51.100.2")}});
    feed(range_objects_listed{
        {block("n1-10-244-1-0-26", "n1", {"10.244.1.0/26"}), block("n2-pending", "n2", {})}});
    alloc_in->clear();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(pod_ranges_node_watcher, calico_watcher)

BOOST_AUTO_TEST_CASE(nodes_synced_waits_for_the_block_affinities) {
  feed(nodes_listed{{calico_node("n1", "198.51.100.1"), calico_node("n2", "198.51.100.2")}});
  // The Nodes go on (without ranges they wait), but the list is not complete yet: a synced now
  // would let a restarted allocator withdraw every published entry.
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n1", "upsert:n2"}),
             join(alloc_in->order));
  BOOST_TEST(alloc_in->synced.empty());
  BOOST_TEST(last_upsert("n1") == "|");
  BOOST_TEST(!tel->health.readyz().ok, tel->health.readyz().text);
  alloc_in->clear();

  feed(range_objects_listed{
      {block("n1-10-244-1-0-26", "n1", {"10.244.1.0/26"}), block("n2-pending", "n2", {})}});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n1", "synced:2"}),
             join(alloc_in->order));
  BOOST_TEST(last_upsert("n1") == "10.244.1.0/26|BlockAffinity");
  BOOST_TEST(tel->health.readyz().ok, tel->health.readyz().text);
}

BOOST_AUTO_TEST_CASE(block_affinities_listed_first_then_the_nodes) {
  feed(range_objects_listed{{block("n1-10-244-1-0-26", "n1", {"10.244.1.0/26"})}});
  BOOST_TEST(alloc_in->order.empty(), join(alloc_in->order));
  feed(nodes_listed{{calico_node("n1", "198.51.100.1")}});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n1", "synced:1"}),
             join(alloc_in->order));
  BOOST_TEST(last_upsert("n1") == "10.244.1.0/26|BlockAffinity");
}

BOOST_AUTO_TEST_CASE(a_block_added_or_removed_resends_the_node) {
  listed();
  feed(range_object_changed{block("n1-10-244-1-64-26", "n1", {"10.244.1.64/26"})});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n1"}), join(alloc_in->order));
  BOOST_TEST(last_upsert("n1") == "10.244.1.0/26,10.244.1.64/26|BlockAffinity");
  alloc_in->clear();

  // The same object again (a MODIFIED that changes nothing of the node's): nothing to send.
  feed(range_object_changed{block("n1-10-244-1-64-26", "n1", {"10.244.1.64/26"})});
  BOOST_TEST(alloc_in->order.empty(), join(alloc_in->order));

  feed(range_object_removed{"n1-10-244-1-64-26"});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n1"}), join(alloc_in->order));
  BOOST_TEST(last_upsert("n1") == "10.244.1.0/26|BlockAffinity");
  alloc_in->clear();

  // A pending block becoming confirmed, then its removal: the node loses its only range.
  feed(range_object_changed{block("n2-pending", "n2", {"10.244.2.0/26"})});
  BOOST_TEST(last_upsert("n2") == "10.244.2.0/26|BlockAffinity");
  feed(range_object_removed{"n2-pending"});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n2", "upsert:n2"}),
             join(alloc_in->order));
  BOOST_TEST(last_upsert("n2") == "|");
  BOOST_TEST(!alloc_in->upserts.back().node.ready_for_entry());
  alloc_in->clear();

  feed(range_object_removed{"never-seen"});
  BOOST_TEST(alloc_in->order.empty(), join(alloc_in->order));
}

BOOST_AUTO_TEST_CASE(a_relist_of_the_blocks_resends_only_changed_nodes) {
  listed();
  feed(range_objects_listed{{block("n1-10-244-1-0-26", "n1", {"10.244.1.0/26"}),
                             block("n2-10-244-2-0-26", "n2", {"10.244.2.0/26"})}});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n2"}), join(alloc_in->order));
  BOOST_TEST(last_upsert("n2") == "10.244.2.0/26|BlockAffinity");
  alloc_in->clear();
  feed(range_objects_listed{{block("n2-10-244-2-0-26", "n2", {"10.244.2.0/26"})}});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n1"}), join(alloc_in->order));
  BOOST_TEST(last_upsert("n1") == "|");
}

BOOST_AUTO_TEST_CASE(a_block_of_an_unknown_node_applies_when_the_node_appears) {
  listed();
  feed(range_object_changed{block("n9-10-244-9-0-26", "n9", {"10.244.9.0/26"})});
  BOOST_TEST(alloc_in->order.empty(), join(alloc_in->order));
  feed(node_changed{calico_node("n9", "198.51.100.9")});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n9"}), join(alloc_in->order));
  BOOST_TEST(last_upsert("n9") == "10.244.9.0/26|BlockAffinity");
  alloc_in->clear();
  // A heartbeat of that Node keeps its range (nothing sent); a new address carries it along.
  feed(node_changed{calico_node("n9", "198.51.100.9", "2")});
  BOOST_TEST(alloc_in->order.empty(), join(alloc_in->order));
  feed(node_changed{calico_node("n9", "198.51.100.99", "3")});
  BOOST_TEST(last_upsert("n9") == "10.244.9.0/26|BlockAffinity");
}

BOOST_AUTO_TEST_SUITE_END()

// --- allocator refusing ranges ----------------------------------------------------------------

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

event_recorder_actor::behavior_type recording_events(std::shared_ptr<std::vector<node_event>> log) {
  return {[=](node_event& m) { log->push_back(m); }};
}

struct ranges_pipeline : test::actor_fixture {
  controller_settings settings;
  std::shared_ptr<test::fake_configmap_port> port = std::make_shared<test::fake_configmap_port>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  std::shared_ptr<std::vector<node_event>> events = std::make_shared<std::vector<node_event>>();
  event_recorder_actor recorder;
  publisher_actor pub;
  allocator_actor alloc;
  uint64_t term = 0;

  ranges_pipeline() {
    settings.node_name = "node-a";
    settings.overlay_network = *net::cidr::parse("192.168.254.0/24");
    settings.endpoint_ip = *net::ip_address::parse("192.168.254.254");
    settings.remote_vtep = *net::ip_address::parse("203.0.113.1");
    settings.detach_blocking_actors = false;
    recorder = track(sys->spawn(recording_events, events));
  }

  /// Publisher and allocator (again, after a "restart"), leading, having seen the store.
  void start() {
    pub = track(sys->spawn(publisher, settings, tel, port));
    alloc = track(sys->spawn(allocator, settings, tel, pub, node_annotator_actor{}, recorder));
    run();
    ++term;
    caf::anon_send(alloc, leadership{true, "test", term});
    caf::anon_send(pub, leadership{true, "test", term});
    run();
    auto cm = port->current();
    auto snap = cm ? published_snapshot::decode(true, cm->resource_version, cm->data)
                   : published_snapshot{};
    caf::anon_send(alloc, snap);
    caf::anon_send(pub, snap);
    run();
  }
  void stop() {
    caf::anon_send_exit(alloc, caf::exit_reason::kill);
    caf::anon_send_exit(pub, caf::exit_reason::kill);
    run();
  }

  void add(const kube::node_info& n) {
    caf::anon_send(alloc, node_upserted{n});
    run();
  }
  void remove(const std::string& name) {
    caf::anon_send(alloc, node_deleted{name});
    run();
  }
  void synced(size_t count) {
    caf::anon_send(alloc, nodes_synced{count});
    run();
  }

  std::map<std::string, std::string> data() const {
    auto cm = port->current();
    return cm ? cm->data : std::map<std::string, std::string>{};
  }
  /// Node name -> published pod ranges.
  std::map<std::string, std::string> published() const {
    std::map<std::string, std::string> out;
    for (const auto& e : kube::decode(data()).state.entries)
      out[e.name] = join(e.pod_cidrs);
    return out;
  }
  /// The PodRangeRefused Events of `node`, their messages.
  std::vector<std::string> refusals(const std::string& node) const {
    std::vector<std::string> out;
    for (const auto& e : *events)
      if (e.node == node && e.reason == "PodRangeRefused") {
        BOOST_TEST(e.warning);
        out.push_back(e.message);
      }
    return out;
  }
  /// The pod_ranges_refused series of `node` as "range reason", or "" when it has none.
  std::string refused_metric(const std::string& node) const {
    for (const auto& family : tel->metrics.registry()->Collect()) {
      if (family.name != "kube_chorus_router_pod_ranges_refused")
        continue;
      for (const auto& m : family.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& l : m.label)
          labels[l.name] = l.value;
        if (labels["node"] == node && m.gauge.value == 1)
          return labels["range"] + " " + labels["reason"];
      }
    }
    return "";
  }
};

bool mentions(const std::vector<std::string>& messages, const std::string& part) {
  return messages.size() == 1 && messages[0].find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pod_ranges_allocator, ranges_pipeline)

BOOST_AUTO_TEST_CASE(a_node_claiming_everything_gets_no_entry) {
  start();
  add(make_node("node-a", "198.51.100.1", "10.244.0.0/24"));
  add(make_node("node-evil", "198.51.100.2", "0.0.0.0/0"));
  synced(2);
  auto p = published();
  BOOST_TEST(p.size() == 1u);
  BOOST_TEST(p["node-a"] == "10.244.0.0/24");
  BOOST_TEST(data().count("Node-198.51.100.2") == 0u);
  auto why = refusals("node-evil");
  BOOST_TEST(mentions(why, "pod range 0.0.0.0/0 of Node node-evil refused: wider than /16"),
             join(why));
  BOOST_TEST(refused_metric("node-evil") == "0.0.0.0/0 too-wide");
  BOOST_TEST(refused_metric("node-a") == "");
  // Periodic syncs do not repeat the Event.
  advance(settings.config_sync_period);
  advance(settings.config_sync_period);
  BOOST_TEST(refusals("node-evil").size() == 1u);
  // Fixed: published, and the metric series is gone.
  add(make_node("node-evil", "198.51.100.2", "10.244.2.0/24"));
  BOOST_TEST(published()["node-evil"] == "10.244.2.0/24");
  BOOST_TEST(refused_metric("node-evil") == "");
}

BOOST_AUTO_TEST_CASE(the_first_owner_keeps_an_overlapping_range) {
  start();
  synced(0);
  add(make_node("node-a", "198.51.100.1", "10.244.1.0/24"));
  add(make_node("node-b", "198.51.100.2", "10.244.1.0/24"));
  add(make_node("node-c", "198.51.100.3", "10.244.0.0/16")); // wider, around node-a's
  auto p = published();
  BOOST_TEST(p.size() == 1u);
  BOOST_TEST(p["node-a"] == "10.244.1.0/24");
  auto why = refusals("node-b");
  BOOST_TEST(mentions(why, "overlaps 10.244.1.0/24, which Node node-a already publishes"),
             join(why));
  BOOST_TEST(refused_metric("node-b") == "10.244.1.0/24 overlap");
  BOOST_TEST(refused_metric("node-c") == "10.244.0.0/16 overlap");

  // node-a leaves: node-b (first of the waiting) gets the range; node-c still overlaps it.
  remove("node-a");
  p = published();
  BOOST_TEST(p.count("node-a") == 0u);
  BOOST_TEST(p["node-b"] == "10.244.1.0/24");
  BOOST_TEST(p.count("node-c") == 0u);
  BOOST_TEST(data()["CNI-198.51.100.2"] == "10.244.1.1/24");
  BOOST_TEST(refused_metric("node-b") == "");
  BOOST_TEST(refused_metric("node-c") == "10.244.0.0/16 overlap");
  why = refusals("node-c");
  BOOST_TEST(why.size() == 2u, join(why)); // the owner it overlaps changed: said again
  BOOST_TEST(why.back().find("which Node node-b already publishes") != std::string::npos,
             join(why));
}

BOOST_AUTO_TEST_CASE(a_range_holding_a_node_or_the_device_address_is_refused) {
  start();
  synced(0);
  add(make_node("node-a", "198.51.100.1", "10.244.0.0/24"));
  add(make_node("node-b", "198.51.100.2", "198.51.100.0/24"));  // holds node-a's (and its own)
  add(make_node("node-c", "198.51.100.3", "203.0.113.0/24"));   // holds the device's
  add(make_node("node-d", "198.51.100.4", "198.51.100.64/26")); // beside them: fine
  auto p = published();
  BOOST_TEST(p.count("node-b") == 0u);
  BOOST_TEST(p.count("node-c") == 0u);
  BOOST_TEST(p["node-d"] == "198.51.100.64/26");
  auto why = refusals("node-b");
  BOOST_TEST(mentions(why, "contains the underlay address 198.51.100.1 of Node node-a"), join(why));
  BOOST_TEST(refused_metric("node-b") == "198.51.100.0/24 node-ip");
  why = refusals("node-c");
  BOOST_TEST(mentions(why, "contains the device's address 203.0.113.1"), join(why));
  BOOST_TEST(refused_metric("node-c") == "203.0.113.0/24 device-ip");
}

BOOST_AUTO_TEST_CASE(a_node_arriving_inside_a_published_range_withdraws_it) {
  start();
  synced(0);
  add(make_node("node-d", "198.51.100.4", "198.51.100.64/26"));
  BOOST_TEST_REQUIRE(published()["node-d"] == "198.51.100.64/26");
  // node-e's address lies inside node-d's range: the device would send node-e's tunnel traffic
  // into node-d's tunnel, which is what the node-ip check is there to prevent.
  add(make_node("node-e", "198.51.100.70", "10.244.5.0/24"));
  BOOST_TEST(published()["node-e"] == "10.244.5.0/24");
  BOOST_TEST(published().count("node-d") == 0u, "node-d's range still published right after "
                                                "node-e arrived");
  advance(settings.config_sync_period);
  BOOST_TEST(published().count("node-d") == 0u, "node-d's range still published after a sync");
  BOOST_TEST(refused_metric("node-d") == "198.51.100.64/26 node-ip");
  BOOST_TEST(mentions(refusals("node-d"), "contains the underlay address 198.51.100.70 of Node "
                                          "node-e"),
             join(refusals("node-d")));
}

BOOST_AUTO_TEST_CASE(with_pod_networks_a_range_outside_is_refused) {
  settings.pod_networks = {*net::cidr::parse("10.244.0.0/16")};
  start();
  synced(0);
  add(make_node("node-a", "198.51.100.1", "10.244.0.0/16")); // the whole pod network: allowed
  add(make_node("node-b", "198.51.100.2", "10.245.1.0/24"));
  BOOST_TEST(published()["node-a"] == "10.244.0.0/16");
  BOOST_TEST(published().count("node-b") == 0u);
  BOOST_TEST(refused_metric("node-b") == "10.245.1.0/24 outside-pod-network");
  BOOST_TEST(mentions(refusals("node-b"), "outside the pod network (10.244.0.0/16)"),
             join(refusals("node-b")));
}

BOOST_AUTO_TEST_CASE(at_a_cold_start_the_published_owner_keeps_its_range) {
  // First life: only node-b exists and publishes 10.244.1.0/24.
  start();
  add(make_node("node-b", "198.51.100.2", "10.244.1.0/24"));
  synced(1);
  BOOST_TEST_REQUIRE(published()["node-b"] == "10.244.1.0/24");
  stop();
  // Restart: node-a, first by name, now claims the same range.
  start();
  add(make_node("node-a", "198.51.100.1", "10.244.1.0/24"));
  add(make_node("node-b", "198.51.100.2", "10.244.1.0/24"));
  synced(2);
  auto p = published();
  BOOST_TEST(p.size() == 1u);
  BOOST_TEST(p["node-b"] == "10.244.1.0/24");
  BOOST_TEST(data()["Interface-198.51.100.2"] == "192.168.254.1"); // its address kept too
  auto why = refusals("node-a");
  BOOST_TEST(mentions(why, "which Node node-b already publishes"), join(why));
}

BOOST_AUTO_TEST_CASE(at_a_cold_start_a_published_node_that_took_another_range_does_not_win_it) {
  // The fault campaign's finding: node-a and node-b both publish; while no leader runs, node-a
  // (first by name) claims node-b's range. The next leader must keep node-b's entry.
  start();
  add(make_node("node-a", "198.51.100.1", "10.244.2.0/24"));
  add(make_node("node-b", "198.51.100.2", "10.244.1.0/24"));
  synced(2);
  BOOST_TEST_REQUIRE(published().size() == 2u);
  auto b_overlay = data()["Interface-198.51.100.2"];
  stop();
  start();
  add(make_node("node-a", "198.51.100.1", "10.244.1.0/24"));
  add(make_node("node-b", "198.51.100.2", "10.244.1.0/24"));
  synced(2);
  auto p = published();
  BOOST_TEST(p.size() == 1u);
  BOOST_TEST(p["node-b"] == "10.244.1.0/24");
  BOOST_TEST(data()["Interface-198.51.100.2"] == b_overlay);
  auto why = refusals("node-a");
  BOOST_TEST(mentions(why, "which Node node-b already publishes"), join(why));
}

BOOST_AUTO_TEST_CASE(a_node_whose_keys_were_garbled_while_no_leader_ran_keeps_its_address) {
  // The fault campaign's finding: a hand edit made node-c's Node- key garbage while no leader
  // ran; the next leader must keep node-c's address (its Interface- key), not give it the lowest
  // free one (.1, freed by node-a).
  start();
  add(make_node("node-a", "198.51.100.1", "10.244.1.0/24"));
  add(make_node("node-b", "198.51.100.2", "10.244.2.0/24"));
  add(make_node("node-c", "198.51.100.3", "10.244.3.0/24"));
  synced(3);
  remove("node-a");
  auto c_overlay = data()["Interface-198.51.100.3"];
  BOOST_TEST_REQUIRE(c_overlay == "192.168.254.3");
  stop();
  auto cur = port->current();
  BOOST_TEST_REQUIRE(
      static_cast<bool>(port->patch(cur->resource_version, {{"Node-198.51.100.3", "garbage"}})));
  start();
  add(make_node("node-b", "198.51.100.2", "10.244.2.0/24"));
  add(make_node("node-c", "198.51.100.3", "10.244.3.0/24"));
  synced(2);
  BOOST_TEST(data()["Interface-198.51.100.3"] == c_overlay);
  BOOST_TEST(data()["Node-198.51.100.3"] == "198.51.100.3"); // repaired
}

BOOST_AUTO_TEST_CASE(at_a_cold_start_without_a_published_owner_the_first_by_name_wins) {
  // The contrast to the case above: nothing published, so the name order decides.
  start();
  add(make_node("node-b", "198.51.100.2", "10.244.1.0/24"));
  add(make_node("node-a", "198.51.100.1", "10.244.1.0/24"));
  synced(2);
  auto p = published();
  BOOST_TEST(p.size() == 1u);
  BOOST_TEST(p["node-a"] == "10.244.1.0/24");
  BOOST_TEST(refusals("node-b").size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
