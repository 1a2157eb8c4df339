// node_watcher and configmap_watcher: what reaches the allocator, publisher and node annotator
// for lists, watch events, relists, heartbeat-only updates, annotations, problems and duplicates.
#include <boost/test/unit_test.hpp>

#include "actors/configmap_watcher.hpp"
#include "actors/node_watcher.hpp"
#include "control_recorders.hpp"
#include "fixture.hpp"

using namespace kcr;
using namespace kcr::actors;

namespace {

net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

// A Node that can have an entry.
kube::node_info make_node(const std::string& name, const char* address, const char* pod_cidr,
                          const std::string& rv = "1") {
  kube::node_info n;
  n.name = name;
  n.uid = "uid-" + name;
  n.resource_version = rv;
  n.internal_ips = {ip(address)};
  n.underlay_ip = ip(address);
  n.underlay_source = "InternalIP";
  n.pod_cidrs = {*net::cidr::parse(pod_cidr)};
  n.pod_cidr_source = "spec.podCIDRs";
  n.ready = true;
  return n;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += x + " ";
  return s;
}

struct node_watcher_fixture : test::actor_fixture {
  std::shared_ptr<test::inbox> alloc_in = std::make_shared<test::inbox>();
  std::shared_ptr<test::inbox> ann_in = std::make_shared<test::inbox>();
  std::shared_ptr<std::vector<node_event>> events = std::make_shared<std::vector<node_event>>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  node_watcher_actor watcher;

  node_watcher_fixture() {
    auto alloc = track(sys->spawn(test::recording_allocator, alloc_in));
    auto ann = track(sys->spawn(test::recording_annotator, ann_in));
    auto rec = track(sys->spawn(test::recording_events, events));
    watcher = track(sys->spawn(node_watcher, alloc, ann, rec, tel));
    run();
  }
  template <class T>
  void feed(T msg) {
    caf::anon_send(watcher, std::move(msg));
    run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(node_watcher_suite, node_watcher_fixture)

BOOST_AUTO_TEST_CASE(list_watch_relist) {
  BOOST_TEST(!tel->health.readyz().ok); // "nodes listed" is required before the first list
  feed(nodes_listed{{make_node("n1", "10.0.0.1", "10.244.1.0/24"),
                     make_node("n2", "10.0.0.2", "10.244.2.0/24"),
                     make_node("n3", "10.0.0.3", "10.244.3.0/24")}});
  BOOST_TEST(alloc_in->order ==
                 (std::vector<std::string>{"upsert:n1", "upsert:n2", "upsert:n3", "synced:3"}),
             join(alloc_in->order));
  BOOST_TEST(tel->health.readyz().ok, tel->health.readyz().text);
  alloc_in->clear();

  // Heartbeat only: new resourceVersion and conditions, same entry inputs.
  auto beat = make_node("n2", "10.0.0.2", "10.244.2.0/24", "2");
  beat.ready = false;
  feed(node_changed{beat});
  BOOST_TEST(alloc_in->order.empty(), join(alloc_in->order));

  // An IP change matters.
  feed(node_changed{make_node("n2", "10.0.0.22", "10.244.2.0/24", "3")});
  BOOST_TEST_REQUIRE(alloc_in->upserts.size() == 1u);
  BOOST_TEST((alloc_in->upserts[0].node.underlay_ip == ip("10.0.0.22")));
  // So does a new Node from the watch.
  feed(node_changed{make_node("n4", "10.0.0.4", "10.244.4.0/24")});
  BOOST_TEST(alloc_in->upserts.size() == 2u);
  alloc_in->clear();

  feed(node_removed{"n4"});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"delete:n4"}), join(alloc_in->order));
  alloc_in->clear();

  // Relist after a watch gap: n3 vanished, n1 changed its pod CIDR, n2 unchanged.
  feed(nodes_listed{{make_node("n1", "10.0.0.1", "10.244.9.0/24", "7"),
                     make_node("n2", "10.0.0.22", "10.244.2.0/24", "8")}});
  BOOST_TEST(alloc_in->order == (std::vector<std::string>{"upsert:n1", "delete:n3", "synced:2"}),
             join(alloc_in->order));
}

BOOST_AUTO_TEST_CASE(overlay_annotations_reach_the_annotator_when_they_change) {
  auto with = [](kube::node_info n, const std::string& value) {
    n.annotations[overlay_ip_annotation] = value;
    return n;
  };
  feed(nodes_listed{{make_node("n1", "10.0.0.1", "10.244.1.0/24"),
                     with(make_node("n2", "10.0.0.2", "10.244.2.0/24"), "192.168.254.2")}});
  BOOST_TEST(ann_in->order ==
                 (std::vector<std::string>{"annotation:n1=(none)", "annotation:n2=192.168.254.2"}),
             join(ann_in->order));
  ann_in->clear();
  // Heartbeats and entry-input changes with the same annotation: nothing for the annotator.
  feed(node_changed{make_node("n1", "10.0.0.1", "10.244.1.0/24", "2")});
  feed(node_changed{with(make_node("n2", "10.0.0.9", "10.244.2.0/24", "3"), "192.168.254.2")});
  BOOST_TEST(ann_in->order.empty(), join(ann_in->order));
  // The publisher's patch shows up, with the Node's resourceVersion; a hand edit too.
  feed(node_changed{with(make_node("n1", "10.0.0.1", "10.244.1.0/24", "4"), "192.168.254.1")});
  feed(node_changed{with(make_node("n2", "10.0.0.9", "10.244.2.0/24", "5"), "10.9.9.9")});
  BOOST_TEST(ann_in->order == (std::vector<std::string>{"annotation:n1=192.168.254.1",
                                                        "annotation:n2=10.9.9.9"}),
             join(ann_in->order));
  BOOST_TEST(ann_in->annotations[0].resource_version == "4");
  ann_in->clear();
  // Gone by DELETED and by a relist that no longer has it.
  feed(node_removed{"n1"});
  feed(nodes_listed{{make_node("n3", "10.0.0.3", "10.244.3.0/24")}});
  BOOST_TEST(ann_in->order ==
                 (std::vector<std::string>{"annotation:n1=(gone)", "annotation:n3=(none)",
                                           "annotation:n2=(gone)"}),
             join(ann_in->order));
}

BOOST_AUTO_TEST_CASE(problems_posted_once_per_distinct_set) {
  auto bad = make_node("n1", "10.0.0.1", "10.244.1.0/24");
  bad.pod_cidrs.clear();
  bad.pod_cidr_source.clear();
  bad.problems = {"no pod CIDR: spec.podCIDRs and spec.podCIDR are empty"};
  feed(nodes_listed{{bad}});
  BOOST_TEST_REQUIRE(events->size() == 1u);
  BOOST_TEST((*events)[0].node == "n1");
  BOOST_TEST((*events)[0].uid == "uid-n1");
  BOOST_TEST((*events)[0].warning);
  BOOST_TEST((*events)[0].reason == reason_not_ready_for_overlay);
  BOOST_TEST((*events)[0].message == bad.problems[0]);
  // The allocator still hears about the node: it decides that the entry waits.
  BOOST_TEST(alloc_in->upserts.size() == 1u);

  // Updated twice with the same problems: no new event.
  bad.resource_version = "2";
  feed(node_changed{bad});
  bad.resource_version = "3";
  feed(node_changed{bad});
  BOOST_TEST(events->size() == 1u);

  // A different set is reported; a fixed node clears it, so a relapse is reported again.
  bad.problems.push_back("metadata.uid is missing");
  feed(node_changed{bad});
  BOOST_TEST(events->size() == 2u);
  feed(node_changed{make_node("n1", "10.0.0.1", "10.244.1.0/24", "5")});
  BOOST_TEST(events->size() == 2u);
  feed(node_changed{bad});
  BOOST_TEST(events->size() == 3u);

  // A soft problem on a node that can have an entry is a different reason.
  auto soft = make_node("n2", "10.0.0.2", "10.244.2.0/24");
  soft.problems = {"spec.podCIDRs[0]: \"10.244.2.5/24\" has host bits set; using 10.244.2.0/24"};
  feed(node_changed{soft});
  BOOST_TEST_REQUIRE(events->size() == 4u);
  BOOST_TEST((*events)[3].reason == reason_overlay_input_warning);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// The seed's ConfigMap (two nodes) in this project's format.
std::map<std::string, std::string> seed_data() {
  return {
      {"CNI-10.106.170.62", "10.244.1.1/24"},
      {"CNI-10.106.170.63", "10.244.6.1/24"},
      {"EndpointIP", "192.168.254.254"},
      {"Host-cb716e61-cab6-437e-a84a-d26a908260bc", "10.106.170.62"},
      {"Host-d666ca12-5b2e-4716-a243-ece13e780122", "10.106.170.63"},
      {"Interface-10.106.170.62", "192.168.254.1"},
      {"Interface-10.106.170.63", "192.168.254.2"},
      {"Mac-10.106.170.62", "0a:58:c0:a8:fe:01"},
      {"Mac-10.106.170.63", "0a:58:c0:a8:fe:02"},
      {"Node-10.106.170.62", "10.106.170.62"},
      {"Node-10.106.170.63", "10.106.170.63"},
      {"Type", "VXLAN"},
      {"someone-else", "keep me"},
  };
}

struct configmap_watcher_fixture : test::actor_fixture {
  std::shared_ptr<test::inbox> alloc_in = std::make_shared<test::inbox>();
  std::shared_ptr<test::inbox> pub_in = std::make_shared<test::inbox>();
  std::shared_ptr<test::inbox> ann_in = std::make_shared<test::inbox>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  configmap_watcher_actor watcher;

  configmap_watcher_fixture() {
    auto alloc = track(sys->spawn(test::recording_allocator, alloc_in));
    auto pub = track(sys->spawn(test::recording_publisher, pub_in));
    auto ann = track(sys->spawn(test::recording_annotator, ann_in));
    watcher = track(sys->spawn(configmap_watcher, alloc, pub, ann, tel));
    run();
  }
  void feed(configmap_observed cm) {
    caf::anon_send(watcher, std::move(cm));
    run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(configmap_watcher_suite, configmap_watcher_fixture)

BOOST_AUTO_TEST_CASE(decodes_and_fans_out) {
  feed(configmap_observed{true, "5", seed_data()});
  for (const auto& in : {alloc_in, pub_in, ann_in}) {
    BOOST_TEST_REQUIRE(in->snapshots.size() == 1u);
    const auto& s = in->snapshots[0];
    BOOST_TEST(s.exists);
    BOOST_TEST(s.resource_version == "5");
    BOOST_TEST((s.data() == seed_data())); // raw, foreign key included
    BOOST_TEST_REQUIRE(s.state().entries.size() == 2u);
    BOOST_TEST(s.state().entries[0].node_ip == ip("10.106.170.62"));
    BOOST_TEST(s.state().entries[0].overlay_ip == ip("192.168.254.1"));
    BOOST_TEST(s.state().entries[1].uid == "d666ca12-5b2e-4716-a243-ece13e780122");
    BOOST_TEST((s.state().endpoint_ip == ip("192.168.254.254")));
    BOOST_TEST(s.problems().empty(), join(s.problems()));
    BOOST_TEST(s.partial().empty());
  }

  // The same resourceVersion again (a relist): dropped.
  feed(configmap_observed{true, "5", seed_data()});
  BOOST_TEST(alloc_in->snapshots.size() == 1u);
  BOOST_TEST(pub_in->snapshots.size() == 1u);
  BOOST_TEST(ann_in->snapshots.size() == 1u);

  // Garbage in an own key: the entry is left out and the problem travels along.
  auto data = seed_data();
  data["Interface-10.106.170.63"] = "not-an-ip";
  feed(configmap_observed{true, "6", data});
  BOOST_TEST_REQUIRE(pub_in->snapshots.size() == 2u);
  const auto& s = pub_in->snapshots[1];
  BOOST_TEST(s.state().entries.size() == 1u);
  BOOST_TEST_REQUIRE(!s.problems().empty());
  BOOST_TEST(s.problems()[0].find("Interface-10.106.170.63") != std::string::npos, s.problems()[0]);
  BOOST_TEST(alloc_in->snapshots[1].problems() == s.problems());
  BOOST_TEST(ann_in->snapshots[1].problems() == s.problems());

  // Deleted.
  feed(configmap_observed{false, "7", {}});
  BOOST_TEST_REQUIRE(ann_in->snapshots.size() == 3u);
  BOOST_TEST(!ann_in->snapshots[2].exists);
  BOOST_TEST(ann_in->snapshots[2].state().entries.empty());
  BOOST_TEST(ann_in->snapshots[2].data().empty());
  BOOST_TEST(alloc_in->snapshots.size() == 3u);
}

BOOST_AUTO_TEST_CASE(missing_recipients_are_skipped) {
  // Tests and partial wirings pass null handles: the others still get the snapshot.
  auto only_ann = std::make_shared<test::inbox>();
  auto ann = track(sys->spawn(test::recording_annotator, only_ann));
  auto w = track(sys->spawn(configmap_watcher, allocator_actor{}, publisher_actor{}, ann, tel));
  caf::anon_send(w, configmap_observed{false, "", {}});
  run();
  BOOST_TEST(only_ann->snapshots.size() == 1u);
  BOOST_TEST(!only_ann->snapshots[0].exists);
}

BOOST_AUTO_TEST_SUITE_END()
