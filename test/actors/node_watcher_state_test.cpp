// node_watcher_state without any actor: each input's outbox (what the behaviour would send), as a
// table of steps. The actor-level tests (watchers, pod_ranges, pipeline) cover the sending.
#include <functional>

#include <boost/test/unit_test.hpp>

#include "actors/node_watcher.hpp"
#include "test/kube/node_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;

namespace {

kube::node_info node(const std::string& name, const char* address, const std::string& rv = "1",
                     std::vector<std::string> problems = {}) {
  kube::node_info n;
  n.name = name;
  n.uid = "uid-" + name;
  n.resource_version = rv;
  n.internal_ips = {*net::ip_address::parse(address)};
  n.underlay_ip = n.internal_ips[0];
  n.underlay_source = "InternalIP";
  n.pod_cidrs = {*net::cidr::parse("10.244.1.0/24")};
  n.pod_cidr_source = "podCIDRs";
  n.ready = true;
  n.problems = std::move(problems);
  return n;
}

kube::node_info with_annotation(kube::node_info n, const std::string& value) {
  n.annotations[std::string(overlay_ip_annotation)] = value;
  return n;
}

/// A Node as calico-ipam parses it: no pod range of its own.
kube::node_info calico_node(const std::string& name, const char* address) {
  auto n = node(name, address);
  n.pod_cidrs.clear();
  n.pod_cidr_source.clear();
  return n;
}

std::string render(const node_watcher_outbox::allocator_message& m);

/// The outbox as one line: allocator messages, then annotator ones, then Events, each in order.
std::string render(const node_watcher_outbox& out) {
  std::string s;
  auto add = [&s](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  for (const auto& m : out.to_allocator)
    add(render(m));
  for (const auto& m : out.to_annotator)
    add(!m.exists ? "gone:" + m.node : "seen:" + m.node + "=" + m.value.value_or("(none)"));
  for (const auto& e : out.events)
    add("event:" + e.node + ":" + e.reason);
  return s;
}

std::string render(const node_watcher_outbox::allocator_message& m) {
  struct visitor {
    std::string operator()(const node_upserted& x) const {
      return "upsert:" + x.node.name + "@" + x.node.underlay_ip->to_string() + "[" +
             test::join(x.node.pod_cidrs) + "]";
    }
    std::string operator()(const node_deleted& x) const { return "deleted:" + x.name; }
    std::string operator()(const nodes_synced& x) const {
      return "synced:" + std::to_string(x.count);
    }
  };
  return std::visit(visitor{}, m);
}

using input = std::function<node_watcher_outbox(node_watcher_state&)>;
struct step {
  input in;
  std::string sent; // render() of the outbox
};
struct scenario {
  const char* name;
  std::vector<step> steps;
};

input listed(std::vector<kube::node_info> all) {
  return [all](node_watcher_state& st) { return st.listed_all(all); };
}
input changed(kube::node_info n) {
  return [n](node_watcher_state& st) { return st.changed(n); };
}
input removed(std::string name) {
  return [name](node_watcher_state& st) { return st.removed(name); };
}
input chose(kube::pod_cidr_source s) {
  return [s](node_watcher_state& st) { return st.chose(s); };
}
input objects(std::vector<kube::range_object> all) {
  return [all](node_watcher_state& st) { return st.objects_all(all); };
}
input object_changed(kube::range_object o) {
  return [o](node_watcher_state& st) { return st.object_changed(o); };
}
input object_removed(std::string name) {
  return [name](node_watcher_state& st) { return st.object_removed(name); };
}

kube::range_object block(const std::string& name, const std::string& node, const char* range) {
  return {name, node, {*net::cidr::parse(range)}};
}

const char* n1_up = "upsert:n1@198.51.100.1[10.244.1.0/24]";
const char* n2_up = "upsert:n2@198.51.100.2[10.244.1.0/24]";

const std::vector<scenario> scenarios = {
    {"a heartbeat-only update sends nothing",
     {{listed({node("n1", "198.51.100.1")}), std::string(n1_up) + " synced:1 seen:n1=(none)"},
      {changed(node("n1", "198.51.100.1", "2")), ""}}},
    {"an IP change is one node_upserted",
     {{listed({node("n1", "198.51.100.1")}), std::string(n1_up) + " synced:1 seen:n1=(none)"},
      {changed(node("n1", "198.51.100.9", "2")), "upsert:n1@198.51.100.9[10.244.1.0/24]"}}},
    {"a relist without a node: node_deleted, then nodes_synced",
     {{listed({node("n1", "198.51.100.1"), node("n2", "198.51.100.2")}),
       std::string(n1_up) + " " + n2_up + " synced:2 seen:n1=(none) seen:n2=(none)"},
      {listed({node("n1", "198.51.100.1", "2")}), "deleted:n2 synced:1 gone:n2"}}},
    {"a removed node is deleted even when unknown", {{removed("n9"), "deleted:n9 gone:n9"}}},
    {"the annotator hears of a new or changed overlay annotation only",
     {{changed(with_annotation(node("n1", "198.51.100.1"), "10.0.0.1")),
       std::string(n1_up) + " seen:n1=10.0.0.1"},
      {changed(with_annotation(node("n1", "198.51.100.1", "2"), "10.0.0.1")), ""},
      {changed(with_annotation(node("n1", "198.51.100.1", "3"), "10.0.0.2")), "seen:n1=10.0.0.2"}}},
    {"a problem set is reported once",
     {{changed(node("n1", "198.51.100.1", "1", {"b", "a"})),
       std::string(n1_up) + " seen:n1=(none) event:n1:NodeOverlayInputWarning"},
      {changed(node("n1", "198.51.100.1", "2", {"a", "b"})), ""},
      {changed(node("n1", "198.51.100.1", "3", {"a"})), "event:n1:NodeOverlayInputWarning"},
      {changed(node("n1", "198.51.100.1", "4")), ""},
      {changed(node("n1", "198.51.100.1", "5", {"a"})), "event:n1:NodeOverlayInputWarning"}}},
    {"a node without a pod range waits: NodeNotReadyForOverlay",
     {{changed(calico_node("n1", "198.51.100.1")), "upsert:n1@198.51.100.1[] seen:n1=(none)"},
      {changed([] {
         auto n = calico_node("n1", "198.51.100.1");
         n.resource_version = "2";
         n.problems = {"spec.podCIDRs: none"};
         return n;
       }()),
       "event:n1:NodeNotReadyForOverlay"}}},
    {"calico: nodes_synced waits for the objects list",
     {{chose(kube::pod_cidr_source::calico_ipam), ""},
      {listed({calico_node("n1", "198.51.100.1")}), "upsert:n1@198.51.100.1[] seen:n1=(none)"},
      {objects({block("n1-a", "n1", "10.244.7.0/26")}),
       "upsert:n1@198.51.100.1[10.244.7.0/26] synced:1"},
      {object_changed(block("n1-a", "n1", "10.244.7.0/26")), ""},
      {object_changed(block("n1-b", "n1", "10.244.7.64/26")),
       "upsert:n1@198.51.100.1[10.244.7.0/26,10.244.7.64/26]"},
      {object_removed("n1-a"), "upsert:n1@198.51.100.1[10.244.7.64/26]"},
      {object_removed("n1-b"), "upsert:n1@198.51.100.1[] event:n1:NodeNotReadyForOverlay"},
      {object_removed("unknown"), ""}}},
    {"calico: objects listed before the nodes",
     {{chose(kube::pod_cidr_source::calico_ipam), ""},
      {objects({block("n1-a", "n1", "10.244.7.0/26")}), ""},
      {listed({calico_node("n1", "198.51.100.1")}),
       "upsert:n1@198.51.100.1[10.244.7.0/26] synced:1 seen:n1=(none)"}}},
};

} // namespace

BOOST_AUTO_TEST_CASE(node_watcher_state_outboxes) {
  for (const auto& sc : scenarios) {
    BOOST_TEST_CONTEXT(sc.name) {
      node_watcher_state st; // no telemetry, no actor
      for (size_t i = 0; i < sc.steps.size(); ++i) {
        BOOST_TEST_CONTEXT("step " << i) {
          auto out = sc.steps[i].in(st);
          BOOST_TEST(render(out) == sc.steps[i].sent);
          BOOST_TEST(out.empty() == sc.steps[i].sent.empty());
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(node_watcher_keeps_only_what_it_reads) {
  auto n = with_annotation(node("n1", "198.51.100.1", "1", {"a"}), "10.0.0.1");
  n.labels["team"] = "a";
  n.annotations["node.alpha.kubernetes.io/ttl"] = "0";
  n.external_ips = {*net::ip_address::parse("203.0.113.1")};
  n.taints = {{"k", "v", "NoSchedule"}};
  node_watcher_state st;
  st.changed(n);
  BOOST_TEST_REQUIRE(st.nodes.count("n1") == 1u);
  const auto& kept = st.nodes.at("n1");
  BOOST_TEST(kept.labels.empty());
  BOOST_TEST(kept.annotations.size() == 1u);
  BOOST_TEST(kept.annotations.at(overlay_ip_annotation) == "10.0.0.1");
  BOOST_TEST(kept.internal_ips.empty());
  BOOST_TEST(kept.external_ips.empty());
  BOOST_TEST(kept.taints.empty());
  BOOST_TEST(kube::same_entry_inputs(kept, n)); // what decides the entry is all there
  BOOST_TEST(kept.problems == n.problems);
  BOOST_TEST(kept.resource_version == "1");
  // The same Node again, a label changed: nothing to send (it compares with what was kept).
  n.labels["team"] = "b";
  n.resource_version = "2";
  BOOST_TEST(render(st.changed(n)) == "");
}
