// Node model: real Node JSON (k3s/flannel, Calico, a large kubeadm node) and tables of shapes
// (IPv6-only, dual-stack, CNI annotations, missing or malformed fields, hard errors).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "kube/node.hpp"
#include "test/kube/node_test_support.hpp"

using namespace kcr;
using kcr::kube::parse_node;
using kcr::test::has_problem;
using kcr::test::join;

namespace {

std::string read_data(const std::string& file) {
  const char* dir = std::getenv("KCR_SOURCE_DIR");
#ifdef KCR_TEST_SOURCE_DIR
  if (dir == nullptr)
    dir = KCR_TEST_SOURCE_DIR;
#endif
  BOOST_TEST_REQUIRE(dir != nullptr, "KCR_SOURCE_DIR is not set (run the test through ctest)");
  auto path = std::string{dir} + "/test/kube/data/" + file;
  std::ifstream in{path};
  BOOST_TEST_REQUIRE(in.good(), "cannot open " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A Node with the given spec and status bodies (and extra annotations), NodeList-item style.
std::string node_json(std::string_view spec, std::string_view status,
                      std::string_view annotations = "{}") {
  return R"({"metadata":{"name":"n1","uid":"u-1","resourceVersion":"7","annotations":)" +
         std::string{annotations} + R"(},"spec":)" + std::string{spec} + R"(,"status":)" +
         std::string{status} + "}";
}

} // namespace

BOOST_AUTO_TEST_SUITE(node)

BOOST_AUTO_TEST_CASE(real_k3s_flannel_node) {
  auto r = parse_node(read_data("k3s-node.json"));
  BOOST_TEST_REQUIRE(r.node.has_value(), r.error);
  const auto& n = *r.node;
  BOOST_TEST(n.name == "lima-rancher-desktop");
  BOOST_TEST(n.uid == "bd6917c7-8f92-4214-b08f-bbec4213a93e");
  BOOST_TEST(n.resource_version == "4866");
  BOOST_TEST(n.underlay_ip->to_string() == "192.168.5.15");
  BOOST_TEST(n.underlay_source == "InternalIP");
  BOOST_TEST(join(n.pod_cidrs) == "10.42.0.0/24");
  BOOST_TEST(n.pod_cidr_source == "spec.podCIDRs");
  BOOST_TEST(n.ready);
  BOOST_TEST(!n.unschedulable);
  BOOST_TEST(n.ready_for_entry());
  BOOST_TEST(n.internal_ips.size() == 2u);
  BOOST_TEST(n.labels.at("node-role.kubernetes.io/control-plane") == "true");
  BOOST_TEST(n.annotations.at("flannel.alpha.coreos.com/backend-type") == "vxlan");
  BOOST_TEST(n.problems.empty(), join(n.problems));
}

BOOST_AUTO_TEST_CASE(real_calico_node) {
  auto r = parse_node(read_data("calico-node.json"));
  BOOST_TEST_REQUIRE(r.node.has_value(), r.error);
  const auto& n = *r.node;
  BOOST_TEST(n.underlay_ip->to_string() == "192.168.191.153");
  BOOST_TEST(n.underlay_source == "InternalIP");
  BOOST_TEST(join(n.pod_cidrs) == "10.244.1.0/24");
  BOOST_TEST(n.ready);
  BOOST_TEST(n.annotations.at("projectcalico.org/IPv4IPIPTunnelAddr") == "172.16.194.64");
  BOOST_TEST(n.problems.empty(), join(n.problems));
}

BOOST_AUTO_TEST_CASE(large_node) {
  auto text = read_data("large-node.json");
  // The API client tests reuse this file to split events across chunks: keep it large.
  auto compact = boost::json::serialize(boost::json::parse(text));
  BOOST_TEST(compact.size() > 6000u);
  auto r = parse_node(text);
  BOOST_TEST_REQUIRE(r.node.has_value(), r.error);
  const auto& n = *r.node;
  BOOST_TEST(n.name == "cp-1.prod-eu-west.example.internal");
  BOOST_TEST(n.underlay_ip->to_string() == "10.20.1.11");
  BOOST_TEST(n.external_ips.size() == 1u);
  BOOST_TEST(join(n.pod_cidrs) == "10.244.0.0/24");
  BOOST_TEST(n.labels.size() == 15u);
  BOOST_TEST(n.ready);
  BOOST_TEST_REQUIRE(n.taints.size() == 2u);
  BOOST_TEST(
      (n.taints[0] == kube::taint{"node-role.kubernetes.io/control-plane", "", "NoSchedule"}));
  BOOST_TEST((n.taints[1] == kube::taint{"example.com/dedicated", "ingress", "PreferNoSchedule"}));
  BOOST_TEST(n.problems.empty(), join(n.problems));
}

BOOST_AUTO_TEST_CASE(shapes) {
  struct row {
    const char* what;
    std::string json;
    const char* underlay; // "" = none
    const char* underlay_source;
    const char* cidrs; // comma-separated networks
    const char* cidr_source;
    bool ready_for_entry;
    const char* problem; // substring of some problem; "" = no problems at all
  };
  const row rows[] = {
      {"an address that is not an object is a problem; the next one still counts",
       node_json(R"({"podCIDR":"10.244.3.0/24"})",
                 R"({"addresses":[5,{"type":"InternalIP","address":"192.0.2.11"}]})"),
       "192.0.2.11", "InternalIP", "10.244.3.0/24", "spec.podCIDR", true,
       "status.addresses[0] is not an object: 5"},
      {"a taint that is not an object is a problem",
       node_json(R"({"podCIDR":"10.244.3.0/24","taints":["x"]})",
                 R"({"addresses":[{"type":"InternalIP","address":"192.0.2.11"}]})"),
       "192.0.2.11", "InternalIP", "10.244.3.0/24", "spec.podCIDR", true,
       "spec.taints[0] is not an object: \"x\""},
      {"IPv6-only",
       node_json(R"({"podCIDRs":["fd00:10:244:1::/64"]})",
                 R"({"addresses":[{"type":"InternalIP","address":"fd00::10"},
                                  {"type":"Hostname","address":"n1"}]})"),
       "fd00::10", "InternalIP (IPv6)", "fd00:10:244:1::/64", "spec.podCIDRs", true, ""},
      {"dual-stack, IPv6 listed first",
       node_json(R"({"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24","fd00:10:244:1::/64"]})",
                 R"({"addresses":[{"type":"InternalIP","address":"fd00::10"},
                     {"type":"InternalIP","address":"192.0.2.10"}]})"),
       "192.0.2.10", "InternalIP", "10.244.1.0/24,fd00:10:244:1::/64", "spec.podCIDRs", true, ""},
      {"ExternalIP only",
       node_json(R"({"podCIDR":"10.244.2.0/24"})",
                 R"({"addresses":[{"type":"ExternalIP","address":"203.0.113.7"},
                                        {"type":"Hostname","address":"n1"}]})"),
       "203.0.113.7", "ExternalIP", "10.244.2.0/24", "spec.podCIDR", true, ""},
      {"IPv4 ExternalIP beats IPv6 InternalIP",
       node_json(R"({"podCIDR":"10.244.2.0/24"})",
                 R"({"addresses":[{"type":"InternalIP","address":"fd00::10"},
                     {"type":"ExternalIP","address":"203.0.113.7"}]})"),
       "203.0.113.7", "ExternalIP", "10.244.2.0/24", "spec.podCIDR", true, ""},
      {"no addresses", node_json(R"({"podCIDR":"10.244.3.0/24"})", R"({})"), "", "",
       "10.244.3.0/24", "spec.podCIDR", false, "no usable address"},
      {"flannel public-ip fallback",
       node_json(R"({"podCIDR":"10.244.3.0/24"})", R"({"addresses":[]})",
                 R"({"flannel.alpha.coreos.com/public-ip":"198.51.100.4"})"),
       "198.51.100.4", "annotation flannel.alpha.coreos.com/public-ip", "10.244.3.0/24",
       "spec.podCIDR", true, ""},
      {"Calico IPv4Address fallback strips the prefix",
       node_json(R"({"podCIDR":"10.244.3.0/24"})", R"({})",
                 R"({"projectcalico.org/IPv4Address":"192.168.191.153/24",
                     "projectcalico.org/IPv4IPIPTunnelAddr":"172.16.194.64"})"),
       "192.168.191.153", "annotation projectcalico.org/IPv4Address", "10.244.3.0/24",
       "spec.podCIDR", true, ""},
      {"malformed Calico annotation",
       node_json(R"({"podCIDR":"10.244.3.0/24"})", R"({})",
                 R"({"projectcalico.org/IPv4Address":"192.168.191/24"})"),
       "", "", "10.244.3.0/24", "spec.podCIDR", false,
       R"(metadata.annotations["projectcalico.org/IPv4Address"]: "192.168.191/24")"},
      {"bad podCIDR",
       node_json(R"({"podCIDR":"10.244.300.0/24"})",
                 R"({"addresses":[{"type":"InternalIP","address":"192.0.2.10"}]})"),
       "192.0.2.10", "InternalIP", "", "", false,
       R"(spec.podCIDR: "10.244.300.0/24" is not a CIDR)"},
      {"bad entry in podCIDRs, good podCIDR",
       node_json(R"({"podCIDR":"10.244.4.0/24","podCIDRs":["10.244.4.0/33"]})",
                 R"({"addresses":[{"type":"InternalIP","address":"192.0.2.10"}]})"),
       "192.0.2.10", "InternalIP", "10.244.4.0/24", "spec.podCIDR", true,
       R"(spec.podCIDRs[0]: "10.244.4.0/33" is not a CIDR)"},
      {"podCIDR with host bits is normalised",
       node_json(R"({"podCIDR":"10.244.5.9/24"})",
                 R"({"addresses":[{"type":"InternalIP","address":"192.0.2.10"}]})"),
       "192.0.2.10", "InternalIP", "10.244.5.0/24", "spec.podCIDR", true,
       R"(spec.podCIDR: "10.244.5.9/24" has host bits set; using 10.244.5.0/24)"},
      {"malformed address is skipped and named",
       node_json(R"({"podCIDR":"10.244.6.0/24"})",
                 R"({"addresses":[{"type":"InternalIP","address":"192.0.2.300"},
                     {"type":"InternalIP","address":"192.0.2.11"}]})"),
       "192.0.2.11", "InternalIP", "10.244.6.0/24", "spec.podCIDR", true,
       R"(status.addresses[0] (InternalIP): "192.0.2.300" is not an IP address)"},
      {"no pod CIDR anywhere (Calico without podCIDR)",
       node_json(R"({})", R"({"addresses":[{"type":"InternalIP","address":"192.0.2.10"}]})",
                 R"({"projectcalico.org/IPv4Address":"192.0.2.10/24"})"),
       "192.0.2.10", "InternalIP", "", "", false, "no pod CIDR"},
      {"Cilium annotations",
       node_json(R"({})", R"({"addresses":[{"type":"InternalIP","address":"192.0.2.12"}]})",
                 R"({"network.cilium.io/ipv4-pod-cidr":"10.0.1.0/24",
                     "network.cilium.io/ipv6-pod-cidr":"fd00:0:0:1::/96",
                     "network.cilium.io/ipv4-cilium-host":"10.0.1.91"})"),
       "192.0.2.12", "InternalIP", "10.0.1.0/24,fd00:0:0:1::/96", "annotation network.cilium.io",
       true, ""},
      {"OVN node-subnets as an array",
       node_json(R"({})", R"({"addresses":[{"type":"InternalIP","address":"192.0.2.13"}]})",
                 R"({"k8s.ovn.org/node-subnets":"{\"default\":[\"10.244.0.0/24\"]}"})"),
       "192.0.2.13", "InternalIP", "10.244.0.0/24", "annotation k8s.ovn.org/node-subnets", true,
       ""},
      {"OVN node-subnets as a string",
       node_json(R"({})", R"({"addresses":[{"type":"InternalIP","address":"192.0.2.13"}]})",
                 R"({"k8s.ovn.org/node-subnets":"{\"default\":\"10.244.7.0/24\"}"})"),
       "192.0.2.13", "InternalIP", "10.244.7.0/24", "annotation k8s.ovn.org/node-subnets", true,
       ""},
      {"OVN node-subnets garbage",
       node_json(R"({})", R"({"addresses":[{"type":"InternalIP","address":"192.0.2.13"}]})",
                 R"({"k8s.ovn.org/node-subnets":"10.244.7.0/24"})"),
       "192.0.2.13", "InternalIP", "", "", false,
       R"(metadata.annotations["k8s.ovn.org/node-subnets"]: "10.244.7.0/24" is not)"},
      {"wrong JSON types are problems, not crashes",
       node_json(R"({"podCIDRs":"10.244.1.0/24","podCIDR":"10.244.1.0/24","taints":{}})",
                 R"({"addresses":{"type":"InternalIP"}})"),
       "", "", "10.244.1.0/24", "spec.podCIDR", false, "spec.podCIDRs is not an array"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      auto result = parse_node(r.json);
      BOOST_TEST_REQUIRE(result.node.has_value(), result.error);
      const auto& n = *result.node;
      BOOST_TEST((n.underlay_ip ? n.underlay_ip->to_string() : "") == r.underlay);
      BOOST_TEST(n.underlay_source == r.underlay_source);
      BOOST_TEST(join(n.pod_cidrs) == r.cidrs);
      BOOST_TEST(n.pod_cidr_source == r.cidr_source);
      BOOST_TEST(n.ready_for_entry() == r.ready_for_entry);
      if (std::string_view{r.problem}.empty())
        BOOST_TEST(n.problems.empty(), join(n.problems));
      else
        BOOST_TEST(has_problem(n, r.problem), "want \"" << r.problem << "\" in:\n"
                                                        << join(n.problems));
    }
  }
}

BOOST_AUTO_TEST_CASE(hard_errors) {
  struct row {
    const char* json;
    const char* error;
  };
  for (auto r : {
           row{"{\"metadata\": {\"name\": \"n1\"", "Node JSON: not valid JSON"},
           row{"", "Node JSON: not valid JSON"},
           row{"[1,2]", "Node JSON: expected an object, got [1,2]"},
           row{R"({"kind":"Node","apiVersion":"v1","spec":{}})", "Node JSON: metadata is missing"},
           row{R"({"metadata":{"uid":"u"}})", "Node JSON: metadata.name is missing"},
           row{R"({"metadata":{"name":""}})", "Node JSON: metadata.name is empty"},
           row{R"({"metadata":{"name":42}})", "Node JSON: metadata.name is not a string: 42"},
           row{R"({"kind":"Pod","metadata":{"name":"p"}})",
               R"(Node JSON: kind is "Pod", expected "Node")"},
       }) {
    BOOST_TEST_CONTEXT(r.json) {
      auto result = parse_node(std::string_view{r.json});
      BOOST_TEST(!result);
      BOOST_TEST(!result.node.has_value());
      BOOST_TEST(result.error.starts_with(r.error), result.error);
    }
  }
}

BOOST_AUTO_TEST_CASE(list_item_and_object_forms_agree) {
  // NodeList items carry no kind/apiVersion; a GET or watch event does. Both parse the same.
  auto item = node_json(R"({"podCIDR":"10.244.1.0/24","unschedulable":true,
                            "taints":[{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"}]})",
                        R"({"addresses":[{"type":"InternalIP","address":"192.0.2.10"}],
                            "conditions":[{"type":"Ready","status":"False"}]})");
  auto full = R"({"kind":"Node","apiVersion":"v1",)" + item.substr(1);
  auto a = parse_node(item);
  auto b = parse_node(boost::json::parse(full));
  BOOST_TEST_REQUIRE(a.node.has_value(), a.error);
  BOOST_TEST_REQUIRE(b.node.has_value(), b.error);
  BOOST_TEST(a.node->unschedulable);
  BOOST_TEST(!a.node->ready);
  BOOST_TEST(a.node->taints.size() == 1u);
  BOOST_TEST(a.node->ready_for_entry()); // readiness does not hold back the tunnel entry
  BOOST_TEST(kube::same_entry_inputs(*a.node, *b.node));
  BOOST_TEST((a.node->taints == b.node->taints));
}

BOOST_AUTO_TEST_CASE(same_entry_inputs_ignores_heartbeats) {
  auto base = *parse_node(read_data("k3s-node.json")).node;
  auto heartbeat = base;
  heartbeat.resource_version = "4999";
  heartbeat.ready = false;
  heartbeat.annotations["node.alpha.kubernetes.io/ttl"] = "0";
  BOOST_TEST(kube::same_entry_inputs(base, heartbeat));

  auto moved = base;
  moved.underlay_ip = net::ip_address::parse("192.168.5.16");
  BOOST_TEST(!kube::same_entry_inputs(base, moved));
  auto recreated = base;
  recreated.uid = "another-uid";
  BOOST_TEST(!kube::same_entry_inputs(base, recreated));
  auto recidred = base;
  recidred.pod_cidrs.push_back(*net::cidr::parse("fd00:10:42::/64"));
  BOOST_TEST(!kube::same_entry_inputs(base, recidred));
}

BOOST_AUTO_TEST_CASE(entry_inputs_copy_what_decides_the_entry) {
  auto r = parse_node(node_json(R"({"podCIDRs":["10.244.1.5/24","fd00:1::/64"]})",
                                R"({"addresses":[{"type":"ExternalIP","address":"203.0.113.4"}],
                                    "conditions":[{"type":"Ready","status":"True"}]})",
                                R"({"team":"a"})"));
  BOOST_TEST_REQUIRE(r.node.has_value(), r.error);
  const auto& n = *r.node;
  kube::entry_inputs in{n};
  BOOST_TEST(in.name == "n1");
  BOOST_TEST(in.uid == "u-1");
  BOOST_TEST(in.underlay_ip->to_string() == "203.0.113.4");
  BOOST_TEST(in.underlay_source == "ExternalIP");
  BOOST_TEST(join(in.pod_cidrs) == "10.244.1.0/24,fd00:1::/64");
  BOOST_TEST(in.pod_cidr_source == "spec.podCIDRs");
  BOOST_TEST(in.problems == n.problems);
  BOOST_TEST(has_problem(n, "host bits"), join(n.problems));
  BOOST_TEST(in.ready_for_entry());

  kube::entry_inputs empty{kube::node_info{}};
  BOOST_TEST(!empty.ready_for_entry());
  BOOST_TEST(empty.underlay_source.empty());
}

BOOST_AUTO_TEST_CASE(entry_inputs_equal_unless_the_entry_changes) {
  const auto base = *parse_node(read_data("k3s-node.json")).node;
  struct row {
    const char* change;
    void (*apply)(kube::node_info&);
    bool same;
  };
  for (const auto& r : {
           row{"resourceVersion", [](kube::node_info& n) { n.resource_version = "4999"; }, true},
           row{"Ready", [](kube::node_info& n) { n.ready = !n.ready; }, true},
           row{"unschedulable", [](kube::node_info& n) { n.unschedulable = true; }, true},
           row{"a taint",
               [](kube::node_info& n) {
                 n.taints.push_back({"k", "v", "NoSchedule"});
               },
               true},
           row{"a label", [](kube::node_info& n) { n.labels["team"] = "b"; }, true},
           row{"an annotation", [](kube::node_info& n) { n.annotations["x"] = "y"; }, true},
           row{"another address",
               [](kube::node_info& n) {
                 n.external_ips.push_back(*net::ip_address::parse("203.0.113.9"));
               },
               true},
           row{"a problem only", [](kube::node_info& n) { n.problems.push_back("warned"); }, true},
           row{"the underlay source only",
               [](kube::node_info& n) { n.underlay_source = "ExternalIP"; }, true},
           row{"the pod CIDR source only",
               [](kube::node_info& n) { n.pod_cidr_source = "spec.podCIDR"; }, true},
           row{"name", [](kube::node_info& n) { n.name = "other"; }, false},
           row{"uid", [](kube::node_info& n) { n.uid = "another-uid"; }, false},
           row{"underlay IP",
               [](kube::node_info& n) { n.underlay_ip = net::ip_address::parse("192.0.2.99"); },
               false},
           row{"no underlay IP", [](kube::node_info& n) { n.underlay_ip.reset(); }, false},
           row{"pod CIDRs", [](kube::node_info& n) { n.pod_cidrs.clear(); }, false},
       }) {
    BOOST_TEST_CONTEXT(r.change) {
      auto changed = base;
      r.apply(changed);
      BOOST_TEST(kube::same_entry_inputs(kube::entry_inputs{base}, kube::entry_inputs{changed}) ==
                 r.same);
      BOOST_TEST(kube::same_entry_inputs(base, changed) == r.same); // one definition
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
