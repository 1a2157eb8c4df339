// Where a node's pod ranges come from, per CNI (--pod-cidr-source), and the objects other than
// the Node that carry them. Pure logic: no I/O.
//
//   node         spec.podCIDRs (else spec.podCIDR), then the Cilium and OVN annotations as
//                fallbacks (kube/node.hpp): Flannel, Canal, kube-router, Cilium with Kubernetes
//                IPAM, and any cluster whose Nodes carry their range.
//   calico-ipam  every BlockAffinity (crd.projectcalico.org/v1) with spec.node = the node,
//                spec.state "confirmed" and spec.deleted not "true": Calico's own IPAM hands
//                each node /26 blocks (more as it fills up), and spec.podCIDR is not what its
//                pods use.
//   cilium       the CiliumNode of the same name (cilium.io/v2), spec.ipam.podCIDRs (cluster-
//                pool IPAM); else the network.cilium.io annotations; else spec.podCIDRs
//                (Cilium with Kubernetes IPAM).
//   ovn          the k8s.ovn.org/node-subnets annotation ("default" network).
//   auto         chosen once at start from what the cluster serves (app/pod_source_feeder).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "kube/node.hpp"
#include "net/ip.hpp"

namespace kcr::kube {

std::string_view to_string(pod_cidr_source s);
/// "auto", "node", "calico-ipam", "cilium", "ovn".
std::optional<pod_cidr_source> parse_pod_cidr_source(std::string_view text);

/// One object other than the Node that assigns pod ranges to a node: a Calico BlockAffinity
/// (one block) or a CiliumNode (its podCIDRs).
struct range_object {
  std::string name; // the object's name
  std::string node; // the Node it assigns ranges to
  /// Empty when it assigns nothing now (a pending or releasing block).
  std::vector<net::cidr> ranges;
  bool operator==(const range_object&) const = default;
};

/// Exactly one is set: `object`, or `error` (one line naming the object and the field).
struct range_object_result {
  std::optional<range_object> object;
  std::string error;
};

/// A BlockAffinity as listed or watched (crd.projectcalico.org/v1).
range_object_result parse_block_affinity(const boost::json::object& obj);
/// A CiliumNode as listed or watched (cilium.io/v2).
range_object_result parse_cilium_node(const boost::json::object& obj);

/// The API resource that carries ranges for `s`, or nothing when the Node alone does:
/// {group, version, plural}.
struct range_resource {
  std::string group;
  std::string version;
  std::string plural;
  std::string qualified() const { return plural + "." + group; } // "blockaffinities.crd..."
  std::string path() const { return "/apis/" + group + "/" + version + "/" + plural; }
};
std::optional<range_resource> range_resource_for(pod_cidr_source s);

/// Gives `n` (parsed with source `s`) the ranges that objects assign to it: for calico-ipam
/// they are the node's ranges, for cilium they replace the annotations' when there are any.
/// When the node ends up with none, a problem says which object is missing.
void apply_object_ranges(node_info& n, pod_cidr_source s, const std::vector<net::cidr>& ranges);

} // namespace kcr::kube
