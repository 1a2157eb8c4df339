// kube/node: parse_node on any text, for every --pod-cidr-source, never crashes and keeps its
// contract: exactly one of node / error; an error starts with "Node JSON: "; pod CIDRs are
// networks; an underlay IP comes with the rule that chose it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube/node.hpp"

namespace {

void check(const kcr::kube::node_parse_result& r) {
  if (r.node.has_value() == !r.error.empty())
    std::abort();
  if (!r.node) {
    if (!std::string_view{r.error}.starts_with("Node JSON: "))
      std::abort();
    return;
  }
  const auto& n = *r.node;
  if (n.name.empty())
    std::abort();
  if (n.underlay_ip.has_value() == n.underlay_source.empty())
    std::abort();
  if (n.pod_cidrs.empty() != n.pod_cidr_source.empty())
    std::abort();
  for (const auto& c : n.pod_cidrs)
    if (!c.is_network())
      std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  using kcr::kube::pod_cidr_source;
  for (auto source : {pod_cidr_source::automatic, pod_cidr_source::node,
                      pod_cidr_source::calico_ipam, pod_cidr_source::cilium, pod_cidr_source::ovn})
    check(kcr::kube::parse_node(text, source));
  return 0;
}
