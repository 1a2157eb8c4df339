// The node annotator with the real allocator and publisher on the test coordinator, a fake
// ConfigMap port and a fake node port: annotations follow the ConfigMap only once its watch
// confirms the write, only when different, repaired when hand-edited, restored by a new leader
// after a crash between the two writes, rate-limited, removed with a withdrawn entry.
#include <boost/test/unit_test.hpp>

#include "actors/allocator.hpp"
#include "actors/leader_elector.hpp"
#include "actors/node_annotator.hpp"
#include "actors/publisher.hpp"
#include "fake_node_port.hpp"
#include "fake_ports.hpp"
#include "fixture.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace std::chrono_literals;

namespace {

kube::node_info make_node(int i) {
  kube::node_info n;
  n.name = "node-" + std::to_string(100 + i);
  n.uid = "uid-" + n.name;
  n.underlay_ip = *net::ip_address::parse("10.1." + std::to_string(i / 250) + "." +
                                          std::to_string(i % 250 + 1));
  n.pod_cidrs = {*net::cidr::parse("10.244." + std::to_string(i % 250) + ".0/24")};
  n.ready = true;
  return n;
}

struct annotated : test::actor_fixture {
  controller_settings settings;
  std::shared_ptr<test::fake_configmap_port> cm = std::make_shared<test::fake_configmap_port>();
  std::shared_ptr<test::fake_node_port> nodes = std::make_shared<test::fake_node_port>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  publisher_actor pub;
  allocator_actor alloc;
  node_annotator_actor ann;
  uint64_t term = 0;
  std::map<std::string, kube::node_info> cluster; // the Nodes that exist

  annotated() {
    settings.node_name = "node-100";
    settings.overlay_network = *net::cidr::parse("192.168.254.0/23");
    settings.endpoint_ip = *net::ip_address::parse("192.168.255.254");
    settings.remote_vtep = *net::ip_address::parse("203.0.113.1");
    settings.detach_blocking_actors = false;
    settings.annotation_qps = 10000; // the rate limit has a test of its own
  }

  void start() {
    pub = track(sys->spawn(publisher, settings, tel, cm));
    ann = track(sys->spawn(node_annotator, settings, tel, nodes));
    alloc = track(sys->spawn(allocator, settings, tel, pub, ann, event_recorder_actor{}));
    run();
  }
  /// The process dies: no goodbye, no Lease release.
  void crash() {
    for (const auto& h : {caf::actor_cast<caf::actor>(alloc), caf::actor_cast<caf::actor>(pub),
                          caf::actor_cast<caf::actor>(ann)})
      caf::anon_send_exit(h, caf::exit_reason::kill);
    run();
  }
  void lead(bool leading = true) {
    if (leading)
      ++term;
    for (const auto& h :
         {caf::actor_cast<leadership_listener>(alloc), caf::actor_cast<leadership_listener>(pub),
          caf::actor_cast<leadership_listener>(ann)})
      caf::anon_send(h, leadership{leading, "test", term});
    run();
  }
  /// The ConfigMap watch delivers what is stored now (the configmap_watcher's fan-out).
  void watch_configmap() {
    auto c = cm->current();
    auto s =
        c ? published_snapshot::decode(true, c->resource_version, c->data) : published_snapshot{};
    caf::anon_send(alloc, s);
    caf::anon_send(pub, s);
    caf::anon_send(ann, s);
    run();
  }
  /// The Node watch delivers every Node as it is now (the node_watcher's annotation reports).
  void watch_nodes() {
    for (const auto& [name, _] : cluster)
      caf::anon_send(ann, nodes->seen(name));
    run();
  }
  /// A Node registers (or a relist shows it to a new leader).
  void add(const kube::node_info& n, bool register_it = true) {
    cluster[n.name] = n;
    if (register_it)
      nodes->add(n.name);
    caf::anon_send(alloc, node_upserted{n});
    caf::anon_send(ann, nodes->seen(n.name));
  }
  void synced() {
    caf::anon_send(alloc, nodes_synced{cluster.size()});
    run();
  }
  int configmap_writes() const { return cm->calls("create") + cm->calls("patch"); }
  /// Node name -> overlay IP as the ConfigMap publishes it.
  std::map<std::string, std::string> published() const {
    std::map<std::string, std::string> out;
    auto c = cm->current();
    if (c)
      for (const auto& e : kube::decode(c->data).state.entries)
        out[e.name] = e.overlay_ip.to_string();
    return out;
  }
  /// A leader with `n` Nodes published and annotated.
  void bring_up(int n) {
    start();
    lead();
    watch_configmap();
    for (int i = 0; i < n; ++i)
      add(make_node(i));
    synced();
    watch_configmap();
    watch_nodes();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(node_annotator_suite, annotated)

BOOST_AUTO_TEST_CASE(annotations_follow_the_configmap_write_once_its_watch_confirms_it) {
  start();
  lead();
  watch_configmap(); // no ConfigMap yet
  for (int i = 0; i < 3; ++i)
    add(make_node(i));
  synced();
  BOOST_TEST_REQUIRE(published().size() == 3u);
  // Written, but not yet seen by the watch: not confirmed, so no Node is touched.
  BOOST_TEST(nodes->patches().empty());
  watch_configmap();
  BOOST_TEST(nodes->patches().size() == 3u);
  BOOST_TEST((nodes->annotations() == published()));
  BOOST_TEST(nodes->annotations()["node-100"] == "192.168.254.1");
}

BOOST_AUTO_TEST_CASE(only_when_different_so_idle_and_restart_make_no_patches) {
  bring_up(5);
  BOOST_TEST_REQUIRE(nodes->patches().size() == 5u);
  for (int i = 0; i < 3; ++i) {
    advance(settings.config_sync_period); // allocator, publisher and annotator Syncs
    watch_configmap();
    watch_nodes();
  }
  BOOST_TEST(nodes->patches().size() == 5u);
  // A restarted leader finds every annotation right: no Node write at all.
  crash();
  nodes->reset_calls();
  start();
  lead();
  watch_configmap();
  for (const auto& [_, n] : std::map(cluster))
    add(n, false);
  synced();
  BOOST_TEST(nodes->calls("patch") == 0);
  BOOST_TEST((nodes->annotations() == published()));
}

BOOST_AUTO_TEST_CASE(a_hand_edited_or_removed_annotation_is_restored) {
  bring_up(3);
  const auto truth = published();
  caf::anon_send(ann, nodes->hand_edit("node-101", "192.168.254.77"));
  run();
  BOOST_TEST(nodes->value("node-101").value_or("-") == truth.at("node-101"));
  caf::anon_send(ann, nodes->hand_edit("node-102", std::nullopt));
  run();
  BOOST_TEST(nodes->value("node-102").value_or("-") == truth.at("node-102"));
  BOOST_TEST(nodes->patches().size() == 5u);
  // The watch event of the hand edit may trail our repair: an older resourceVersion is ignored.
  auto stale = nodes->seen("node-101");
  stale.value = "192.168.254.77";
  stale.resource_version = "1";
  caf::anon_send(ann, stale);
  run();
  BOOST_TEST(nodes->patches().size() == 5u);
}

BOOST_AUTO_TEST_CASE(a_hand_edited_configmap_is_repaired_and_never_mirrored) {
  bring_up(3);
  const auto truth = published();
  const auto before = nodes->patches().size();
  cm->edit_data([](auto& d) {
    d["Interface-10.1.0.1"] = "192.168.254.99";
    d["Mac-10.1.0.1"] = "0a:58:c0:a8:fe:63";
  });
  watch_configmap(); // the publisher repairs it in the same round
  watch_configmap(); // and the watch shows the repair
  BOOST_TEST((published() == truth));
  BOOST_TEST(nodes->patches().size() == before);
  BOOST_TEST((nodes->annotations() == truth));
}

BOOST_AUTO_TEST_CASE(a_new_leader_annotates_after_a_crash_between_the_two_writes) {
  start();
  lead();
  watch_configmap();
  for (int i = 0; i < 4; ++i)
    add(make_node(i));
  synced(); // the ConfigMap is written...
  const auto truth = published();
  BOOST_TEST_REQUIRE(truth.size() == 4u);
  crash(); // ...and the leader dies before its watch confirmed it: no annotation
  BOOST_TEST_REQUIRE(nodes->annotations().empty());
  const int writes = configmap_writes();

  start(); // the next leader: restores from the ConfigMap, re-annotates
  lead();
  watch_configmap();
  for (const auto& [_, n] : std::map(cluster))
    add(n, false);
  synced();
  BOOST_TEST(configmap_writes() == writes); // no allocation changed, nothing to write
  BOOST_TEST((published() == truth));
  BOOST_TEST((nodes->annotations() == truth));
}

BOOST_AUTO_TEST_CASE(a_withdrawn_entry_loses_its_annotation_after_the_configmap_does) {
  bring_up(3);
  auto n = cluster.at("node-101");
  n.pod_cidrs.clear(); // the entry must wait: withdrawn from the ConfigMap
  cluster[n.name] = n;
  caf::anon_send(alloc, node_upserted{n});
  run();
  BOOST_TEST_REQUIRE(published().count("node-101") == 0u);
  BOOST_TEST(nodes->value("node-101").has_value()); // not before the watch confirms it
  watch_configmap();
  BOOST_TEST(!nodes->value("node-101").has_value());
  BOOST_TEST_REQUIRE(!nodes->patches().empty());
  BOOST_TEST((nodes->patches().back() ==
              std::pair<std::string, std::optional<std::string>>{"node-101", std::nullopt}));
}

BOOST_AUTO_TEST_CASE(a_cold_start_is_rate_limited) {
  settings.annotation_qps = 100; // burst 100, then 100 per second
  start();
  lead();
  watch_configmap();
  for (int i = 0; i < 250; ++i)
    add(make_node(i));
  synced();
  watch_configmap();
  BOOST_TEST(published().size() == 250u); // the device's view goes out at once
  BOOST_TEST(nodes->patches().size() == 100u);
  advance(500ms);
  BOOST_TEST(nodes->patches().size() == 150u);
  advance(500ms);
  BOOST_TEST(nodes->patches().size() == 200u);
  advance(1s);
  BOOST_TEST(nodes->patches().size() == 250u);
  BOOST_TEST((nodes->annotations() == published()));
  advance(1s);
  BOOST_TEST(nodes->patches().size() == 250u);
}

BOOST_AUTO_TEST_CASE(a_failed_patch_backs_off_and_a_deleted_node_is_dropped) {
  start();
  lead();
  watch_configmap();
  for (int i = 0; i < 3; ++i)
    add(make_node(i));
  synced();
  nodes->fail_next(1, test::http_failure(500));
  nodes->remove("node-102"); // deleted before its patch: a 404
  watch_configmap();
  BOOST_TEST(nodes->annotations().empty());
  advance(settings.backoff_initial);
  BOOST_TEST(nodes->annotations().size() == 2u);
  BOOST_TEST(nodes->calls("patch") == 4); // the failure, the 404, two patches
}

BOOST_AUTO_TEST_CASE(a_follower_never_patches) {
  bring_up(2);
  lead(false);
  caf::anon_send(ann, nodes->hand_edit("node-100", "192.168.254.77"));
  run();
  advance(settings.config_sync_period);
  BOOST_TEST(nodes->value("node-100").value_or("-") == "192.168.254.77");
}

BOOST_AUTO_TEST_SUITE_END()
