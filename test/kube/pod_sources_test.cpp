// Pod range sources per CNI (kube/pod_sources.hpp): source names, BlockAffinities, CiliumNodes,
// parse_node per source, and the objects' ranges applied to a node.
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "kube/node.hpp"
#include "kube/pod_sources.hpp"
#include "test/kube/node_test_support.hpp"

using namespace kcr;
using kcr::test::has_problem;
using kcr::test::join;
using kube::pod_cidr_source;

namespace {

std::vector<net::cidr> cidrs(const std::vector<std::string>& texts) {
  std::vector<net::cidr> out;
  for (const auto& t : texts) {
    auto c = net::cidr::parse(t);
    BOOST_TEST_REQUIRE(c.has_value(), t);
    out.push_back(*c);
  }
  return out;
}

boost::json::object object(std::string_view text) {
  return boost::json::parse(text).as_object();
}

// A Node carrying every place a pod range can be: spec.podCIDRs (IPv6 listed first), the Cilium
// IPv4 annotation and the OVN annotation, with different ranges in each.
const char* const node_everywhere = R"({
  "kind": "Node", "apiVersion": "v1",
  "metadata": {"name": "n1", "uid": "u-1", "annotations": {
    "network.cilium.io/ipv4-pod-cidr": "10.0.5.0/24",
    "k8s.ovn.org/node-subnets": "{\"default\":\"10.128.2.0/23\"}"}},
  "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["fd00:1::/64", "10.244.1.0/24"]},
  "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}]}
})";

const char* const node_bare = R"({
  "metadata": {"name": "n2", "uid": "u-2"},
  "spec": {},
  "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.11"}]}
})";

kube::node_info parsed(const char* json, pod_cidr_source s) {
  auto r = kube::parse_node(std::string_view{json}, s);
  BOOST_TEST_REQUIRE(r.node.has_value(), r.error);
  return *r.node;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pod_sources)

BOOST_AUTO_TEST_CASE(source_names_round_trip) {
  for (auto s : {pod_cidr_source::automatic, pod_cidr_source::node, pod_cidr_source::calico_ipam,
                 pod_cidr_source::cilium, pod_cidr_source::ovn}) {
    auto text = std::string{kube::to_string(s)};
    auto back = kube::parse_pod_cidr_source(text);
    BOOST_TEST_REQUIRE(back.has_value(), text);
    BOOST_TEST((*back == s), text);
  }
  BOOST_TEST(kube::to_string(pod_cidr_source::calico_ipam) == "calico-ipam");
  BOOST_TEST(kube::to_string(pod_cidr_source::automatic) == "auto");
  for (auto bad : {"", "calico", "calico_ipam", "Cilium", "node ", "automatic", "flannel"})
    BOOST_TEST(!kube::parse_pod_cidr_source(bad).has_value(), "\"" << bad << "\"");
}

BOOST_AUTO_TEST_CASE(range_resources) {
  auto calico = kube::range_resource_for(pod_cidr_source::calico_ipam);
  BOOST_TEST_REQUIRE(calico.has_value());
  BOOST_TEST(calico->qualified() == "blockaffinities.crd.projectcalico.org");
  BOOST_TEST(calico->path() == "/apis/crd.projectcalico.org/v1/blockaffinities");
  auto cilium = kube::range_resource_for(pod_cidr_source::cilium);
  BOOST_TEST_REQUIRE(cilium.has_value());
  BOOST_TEST(cilium->path() == "/apis/cilium.io/v2/ciliumnodes");
  for (auto s : {pod_cidr_source::automatic, pod_cidr_source::node, pod_cidr_source::ovn})
    BOOST_TEST(!kube::range_resource_for(s).has_value(), kube::to_string(s));
}

BOOST_AUTO_TEST_CASE(block_affinity_table) {
  struct row {
    const char* what;
    std::string json;
    const char* error; // "" = an object; else a part of the error
    const char* ranges;
  };
  auto ba = [](const std::string& spec) {
    return R"({"apiVersion":"crd.projectcalico.org/v1","kind":"BlockAffinity",)"
           R"("metadata":{"name":"n1-10-244-1-0-26"},"spec":)" +
           spec + "}";
  };
  for (const auto& r : std::vector<row>{
           {"confirmed",
            ba(R"({"node":"n1","cidr":"10.244.1.0/26","state":"confirmed","deleted":"false"})"), "",
            "10.244.1.0/26"},
           {"confirmed, no deleted field",
            ba(R"({"node":"n1","cidr":"10.244.1.64/26","state":"confirmed"})"), "",
            "10.244.1.64/26"},
           {"confirmed IPv6", ba(R"({"node":"n1","cidr":"fd00:10::40/122","state":"confirmed"})"),
            "", "fd00:10::40/122"},
           {"pending", ba(R"({"node":"n1","cidr":"10.244.1.0/26","state":"pending"})"), "", ""},
           {"pendingDeletion",
            ba(R"({"node":"n1","cidr":"10.244.1.0/26","state":"pendingDeletion"})"), "", ""},
           {"no state", ba(R"({"node":"n1","cidr":"10.244.1.0/26"})"), "", ""},
           {"deleted true",
            ba(R"({"node":"n1","cidr":"10.244.1.0/26","state":"confirmed","deleted":"true"})"), "",
            ""},
           {"host bits", ba(R"({"node":"n1","cidr":"10.244.1.5/26","state":"confirmed"})"), "",
            "10.244.1.0/26"},
           {"missing node", ba(R"({"cidr":"10.244.1.0/26","state":"confirmed"})"),
            "BlockAffinity n1-10-244-1-0-26: spec.node is missing", ""},
           {"bad cidr", ba(R"({"node":"n1","cidr":"10.244.1.0/33","state":"confirmed"})"),
            "BlockAffinity n1-10-244-1-0-26: spec.cidr \"10.244.1.0/33\" is not a CIDR", ""},
           {"no cidr", ba(R"({"node":"n1","state":"confirmed"})"),
            "BlockAffinity n1-10-244-1-0-26: spec.cidr", ""},
           {"no name",
            R"({"metadata":{},"spec":{"node":"n1","cidr":"10.244.1.0/26","state":"confirmed"}})",
            "BlockAffinity (no name): metadata.name is missing", ""},
       }) {
    auto got = kube::parse_block_affinity(object(r.json));
    BOOST_TEST((got.object.has_value() != !got.error.empty()), r.what << ": exactly one is set");
    if (*r.error != '\0') {
      BOOST_TEST(!got.object.has_value(), r.what);
      BOOST_TEST(got.error.find(r.error) != std::string::npos,
                 r.what << ": error \"" << got.error << "\" lacks \"" << r.error << "\"");
      continue;
    }
    BOOST_TEST_REQUIRE(got.object.has_value(), r.what << ": " << got.error);
    BOOST_TEST(got.object->name == "n1-10-244-1-0-26", r.what);
    BOOST_TEST(got.object->node == "n1", r.what);
    BOOST_TEST(join(got.object->ranges) == r.ranges, r.what);
  }
}

BOOST_AUTO_TEST_CASE(cilium_node_table) {
  struct row {
    const char* what;
    const char* json;
    const char* error;
    const char* ranges;
  };
  for (auto r : {
           row{"list", R"({"metadata":{"name":"n1"},"spec":{"ipam":{"podCIDRs":
                 ["10.0.1.0/24","fd00:c::/96"]}}})",
               "", "10.0.1.0/24,fd00:c::/96"},
           row{"host bits", R"({"metadata":{"name":"n1"},"spec":{"ipam":{"podCIDRs":
                 ["10.0.1.9/24"]}}})",
               "", "10.0.1.0/24"},
           row{"missing ipam", R"({"metadata":{"name":"n1"},"spec":{}})", "", ""},
           row{"no spec", R"({"metadata":{"name":"n1"}})", "", ""},
           row{"null list", R"({"metadata":{"name":"n1"},"spec":{"ipam":{"podCIDRs":null}}})", "",
               ""},
           row{"empty list", R"({"metadata":{"name":"n1"},"spec":{"ipam":{"podCIDRs":[]}}})", "",
               ""},
           row{"not a list",
               R"({"metadata":{"name":"n1"},"spec":{"ipam":{"podCIDRs":"10.0.1.0/24"}}})",
               "CiliumNode n1: spec.ipam.podCIDRs is not a list", ""},
           row{"bad entry", R"({"metadata":{"name":"n1"},"spec":{"ipam":{"podCIDRs":
                 ["10.0.1.0/24","nope"]}}})",
               "CiliumNode n1: spec.ipam.podCIDRs has \"nope\", not a CIDR", ""},
           row{"number entry", R"({"metadata":{"name":"n1"},"spec":{"ipam":{"podCIDRs":[5]}}})",
               "CiliumNode n1: spec.ipam.podCIDRs has 5, not a CIDR", ""},
           row{"no name", R"({"metadata":{},"spec":{"ipam":{"podCIDRs":["10.0.1.0/24"]}}})",
               "CiliumNode (no name): metadata.name is missing", ""},
       }) {
    auto got = kube::parse_cilium_node(object(r.json));
    BOOST_TEST((got.object.has_value() != !got.error.empty()), r.what << ": exactly one is set");
    if (*r.error != '\0') {
      BOOST_TEST(!got.object.has_value(), r.what);
      BOOST_TEST(got.error == r.error, r.what);
      continue;
    }
    BOOST_TEST_REQUIRE(got.object.has_value(), r.what << ": " << got.error);
    BOOST_TEST(got.object->name == "n1", r.what);
    BOOST_TEST(got.object->node == "n1", r.what); // named after its Node
    BOOST_TEST(join(got.object->ranges) == r.ranges, r.what);
  }
}

BOOST_AUTO_TEST_CASE(parse_node_per_source) {
  struct row {
    pod_cidr_source source;
    const char* ranges;
    const char* from;
  };
  for (auto r : {
           // spec wins; its IPv6-first order comes out sorted, IPv4 first
           row{pod_cidr_source::node, "10.244.1.0/24,fd00:1::/64", "spec.podCIDRs"},
           row{pod_cidr_source::automatic, "10.244.1.0/24,fd00:1::/64", "spec.podCIDRs"},
           row{pod_cidr_source::ovn, "10.128.2.0/23", "annotation k8s.ovn.org/node-subnets"},
           row{pod_cidr_source::cilium, "10.0.5.0/24", "annotation network.cilium.io"},
           row{pod_cidr_source::calico_ipam, "", ""},
       }) {
    auto n = parsed(node_everywhere, r.source);
    auto what = kube::to_string(r.source);
    BOOST_TEST(join(n.pod_cidrs) == r.ranges, what);
    BOOST_TEST(n.pod_cidr_source == r.from, what);
    BOOST_TEST(n.problems.empty(), what << ": " << join(n.problems));
    BOOST_TEST(n.underlay_ip->to_string() == "192.0.2.10", what);
  }
}

BOOST_AUTO_TEST_CASE(parse_node_fallbacks_per_source) {
  // cilium without its annotation: spec (Cilium with Kubernetes IPAM).
  auto spec_only = R"({"metadata":{"name":"n3"},"spec":{"podCIDRs":["10.244.3.0/24"]}})";
  auto n = parsed(spec_only, pod_cidr_source::cilium);
  BOOST_TEST(join(n.pod_cidrs) == "10.244.3.0/24");
  BOOST_TEST(n.pod_cidr_source == "spec.podCIDRs");
  // ovn reads only its annotation: spec does not count, and the node says why it has none.
  n = parsed(spec_only, pod_cidr_source::ovn);
  BOOST_TEST(n.pod_cidrs.empty());
  BOOST_TEST(has_problem(n, "k8s.ovn.org/node-subnets"), join(n.problems));
  // node: nothing anywhere is a problem; calico-ipam: the Node is not where ranges come from.
  n = parsed(node_bare, pod_cidr_source::node);
  BOOST_TEST(has_problem(n, "no pod CIDR"), join(n.problems));
  n = parsed(node_bare, pod_cidr_source::calico_ipam);
  BOOST_TEST(n.problems.empty(), join(n.problems));
  // spec listing one range twice (once with host bits) and out of order: normalized.
  auto messy = R"({"metadata":{"name":"n4"},"spec":{"podCIDRs":
      ["fd00:4::/64","10.244.4.7/24","10.244.4.0/24"]}})";
  n = parsed(messy, pod_cidr_source::node);
  BOOST_TEST(join(n.pod_cidrs) == "10.244.4.0/24,fd00:4::/64");
  BOOST_TEST(has_problem(n, "host bits"), join(n.problems));
}

BOOST_AUTO_TEST_CASE(object_ranges_for_calico) {
  auto n = parsed(node_everywhere, pod_cidr_source::calico_ipam);
  kube::apply_object_ranges(n, pod_cidr_source::calico_ipam, {});
  BOOST_TEST(n.pod_cidrs.empty());
  BOOST_TEST(n.pod_cidr_source == "");
  BOOST_TEST(has_problem(n, "BlockAffinity with spec.node=n1"), join(n.problems));
  BOOST_TEST(!n.ready_for_entry());

  n = parsed(node_everywhere, pod_cidr_source::calico_ipam);
  kube::apply_object_ranges(n, pod_cidr_source::calico_ipam,
                            cidrs({"10.244.1.64/26", "10.244.1.0/26", "10.244.1.64/26"}));
  BOOST_TEST(join(n.pod_cidrs) == "10.244.1.0/26,10.244.1.64/26");
  BOOST_TEST(n.pod_cidr_source == "BlockAffinity");
  BOOST_TEST(n.problems.empty(), join(n.problems));
  BOOST_TEST(n.ready_for_entry());
}

BOOST_AUTO_TEST_CASE(object_ranges_for_cilium) {
  // The CiliumNode's ranges replace the annotation's.
  auto n = parsed(node_everywhere, pod_cidr_source::cilium);
  kube::apply_object_ranges(n, pod_cidr_source::cilium, cidrs({"fd00:9::/96", "10.0.9.0/24"}));
  BOOST_TEST(join(n.pod_cidrs) == "10.0.9.0/24,fd00:9::/96");
  BOOST_TEST(n.pod_cidr_source == "CiliumNode spec.ipam.podCIDRs");
  BOOST_TEST(n.problems.empty(), join(n.problems));
  // None: the annotation stays.
  n = parsed(node_everywhere, pod_cidr_source::cilium);
  kube::apply_object_ranges(n, pod_cidr_source::cilium, {});
  BOOST_TEST(join(n.pod_cidrs) == "10.0.5.0/24");
  BOOST_TEST(n.pod_cidr_source == "annotation network.cilium.io");
  BOOST_TEST(n.problems.empty(), join(n.problems));
  // None and nothing to fall back on: a problem naming the CiliumNode.
  n = parsed(node_bare, pod_cidr_source::cilium);
  kube::apply_object_ranges(n, pod_cidr_source::cilium, {});
  BOOST_TEST(n.pod_cidrs.empty());
  BOOST_TEST(has_problem(n, "CiliumNode n2"), join(n.problems));
}

BOOST_AUTO_TEST_CASE(object_ranges_ignored_by_node_sources) {
  for (auto s : {pod_cidr_source::node, pod_cidr_source::ovn}) {
    auto n = parsed(node_everywhere, s);
    auto before = join(n.pod_cidrs);
    kube::apply_object_ranges(n, s, cidrs({"10.9.9.0/24"}));
    BOOST_TEST(join(n.pod_cidrs) == before, kube::to_string(s));
    BOOST_TEST(n.problems.empty(), join(n.problems));
  }
}

BOOST_AUTO_TEST_SUITE_END()
