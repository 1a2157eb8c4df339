// Pod range sources: see pod_sources.hpp.
#include "kube/pod_sources.hpp"

#include <boost/json.hpp>

#include "net/pod_ranges.hpp"

namespace kcr::kube {

namespace json = boost::json;

namespace {

constexpr std::pair<pod_cidr_source, std::string_view> names[] = {
    {pod_cidr_source::automatic, "auto"},
    {pod_cidr_source::node, "node"},
    {pod_cidr_source::calico_ipam, "calico-ipam"},
    {pod_cidr_source::cilium, "cilium"},
    {pod_cidr_source::ovn, "ovn"}};

const json::value* at(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::object* cur = &o;
  const json::value* v = nullptr;
  for (auto key : path) {
    if (cur == nullptr)
      return nullptr;
    v = cur->if_contains(key);
    if (v == nullptr)
      return nullptr;
    cur = v->if_object();
  }
  return v;
}

std::string string_at(const json::object& o, std::initializer_list<std::string_view> path) {
  auto v = at(o, path);
  return v != nullptr && v->is_string() ? std::string{v->get_string()} : std::string{};
}

range_object_result failed(std::string what, const std::string& name, std::string problem) {
  return {std::nullopt, what + " " + (name.empty() ? "(no name)" : name) + ": " + problem};
}

} // namespace

std::string_view to_string(pod_cidr_source s) {
  for (const auto& [value, name] : names)
    if (value == s)
      return name;
  return "?";
}

std::optional<pod_cidr_source> parse_pod_cidr_source(std::string_view text) {
  for (const auto& [value, name] : names)
    if (name == text)
      return value;
  return std::nullopt;
}

range_object_result parse_block_affinity(const json::object& obj) {
  auto name = string_at(obj, {"metadata", "name"});
  range_object o{name, string_at(obj, {"spec", "node"}), {}};
  if (name.empty())
    return failed("BlockAffinity", name, "metadata.name is missing");
  if (o.node.empty())
    return failed("BlockAffinity", name, "spec.node is missing");
  auto text = string_at(obj, {"spec", "cidr"});
  auto block = net::cidr::parse(text);
  if (!block)
    return failed("BlockAffinity", name, "spec.cidr \"" + text + "\" is not a CIDR");
  // Only a confirmed affinity means the node's pods use the block; "pending" is not yet
  // claimed, "pendingDeletion" is being released. `deleted` is a string in this CRD.
  if (string_at(obj, {"spec", "state"}) == "confirmed" &&
      string_at(obj, {"spec", "deleted"}) != "true")
    o.ranges.push_back(block->network());
  return {std::move(o), {}};
}

range_object_result parse_cilium_node(const json::object& obj) {
  auto name = string_at(obj, {"metadata", "name"});
  if (name.empty())
    return failed("CiliumNode", name, "metadata.name is missing");
  range_object o{name, name, {}}; // a CiliumNode is named after its Node
  auto list = at(obj, {"spec", "ipam", "podCIDRs"});
  if (list == nullptr || list->is_null())
    return {std::move(o), {}};
  if (!list->is_array())
    return failed("CiliumNode", name, "spec.ipam.podCIDRs is not a list");
  for (const auto& v : list->get_array()) {
    auto c = v.is_string() ? net::cidr::parse(v.get_string()) : std::nullopt;
    if (!c)
      return failed("CiliumNode", name,
                    "spec.ipam.podCIDRs has " + json::serialize(v) + ", not a CIDR");
    o.ranges.push_back(c->network());
  }
  return {std::move(o), {}};
}

std::optional<range_resource> range_resource_for(pod_cidr_source s) {
  if (s == pod_cidr_source::calico_ipam)
    return range_resource{"crd.projectcalico.org", "v1", "blockaffinities"};
  if (s == pod_cidr_source::cilium)
    return range_resource{"cilium.io", "v2", "ciliumnodes"};
  return std::nullopt;
}

void apply_object_ranges(node_info& n, pod_cidr_source s, const std::vector<net::cidr>& ranges) {
  if (s == pod_cidr_source::calico_ipam) {
    n.pod_cidrs = net::normalize(ranges);
    n.pod_cidr_source = n.pod_cidrs.empty() ? "" : "BlockAffinity";
    if (n.pod_cidrs.empty())
      n.problems.push_back("no pod CIDR: no confirmed Calico IPAM block for this node (no "
                           "BlockAffinity with spec.node=" +
                           n.name + " and spec.state confirmed)");
    return;
  }
  if (s != pod_cidr_source::cilium)
    return;
  if (!ranges.empty()) {
    n.pod_cidrs = net::normalize(ranges);
    n.pod_cidr_source = "CiliumNode spec.ipam.podCIDRs";
  }
  if (n.pod_cidrs.empty())
    n.problems.push_back("no pod CIDR: no CiliumNode " + n.name +
                         " with spec.ipam.podCIDRs, no network.cilium.io annotation and no "
                         "spec.podCIDRs");
}

} // namespace kcr::kube
