// The Kubernetes Node as kube-chorus-router sees it: the few fields that decide a node's ConfigMap
// entry (underlay IP, pod CIDRs, uid), parsed from API JSON. Pure logic: no I/O, no logging.
//
// Underlay IP rule (first match wins; `underlay_source` is the quoted name of the rule):
//   1. first IPv4 InternalIP in status.addresses               "InternalIP"
//   2. first IPv4 ExternalIP                                   "ExternalIP"
//   3. first IPv6 InternalIP                                   "InternalIP (IPv6)"
//   4. first IPv6 ExternalIP                                   "ExternalIP (IPv6)"
//   5. flannel annotation (plain IP)                           "annotation " + flannel key
//   6. Calico annotation (its "/24" prefix stripped)           "annotation " + Calico key
// (flannel key: flannel.alpha.coreos.com/public-ip; Calico key: projectcalico.org/IPv4Address)
// IPv4 before IPv6 because the external device usually reaches nodes over IPv4; InternalIP before
// ExternalIP because the device normally sits on the node network. The annotations only matter
// for nodes whose kubelet reports no address.
//
// Pod CIDR rule (first source that yields at least one usable CIDR; `pod_cidr_source` names it):
//   1. spec.podCIDRs, all entries (IPv4 and IPv6) in API order "spec.podCIDRs"
//   2. spec.podCIDR                                            "spec.podCIDR"
//   3. Cilium network.cilium.io/ipv4-pod-cidr and
//      network.cilium.io/ipv6-pod-cidr annotations             "annotation network.cilium.io"
//   4. OVN k8s.ovn.org/node-subnets annotation, "default"
//      network as a string or array of strings   "annotation k8s.ovn.org/node-subnets"
// That is the `node` source of --pod-cidr-source; the others (kube/pod_sources.hpp) read only
// their own place: `ovn` rule 4, `cilium` rule 3 then 1-2 (its CiliumNode objects come on top),
// `calico-ipam` nothing (its BlockAffinity objects give the ranges). Every CIDR is normalised to
// its network (10.244.1.5/24 becomes 10.244.1.0/24, with a problem recorded); the list is sorted
// (IPv4 first) without duplicates (net::normalize).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "net/ip.hpp"

namespace kcr::kube {

/// Where pod ranges come from (--pod-cidr-source); see kube/pod_sources.hpp.
enum class pod_cidr_source { automatic, node, calico_ipam, cilium, ovn };

struct taint {
  std::string key;
  std::string value;
  std::string effect; // NoSchedule, PreferNoSchedule, NoExecute
  bool operator==(const taint&) const = default;
};

struct node_info {
  std::string name;
  std::string uid;
  std::string resource_version;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;

  /// Every well-formed InternalIP / ExternalIP from status.addresses, in API order.
  std::vector<net::ip_address> internal_ips;
  std::vector<net::ip_address> external_ips;

  /// The address the external device uses to reach this node (see the rule above).
  std::optional<net::ip_address> underlay_ip;
  std::string underlay_source; // empty when underlay_ip is empty

  /// Pod CIDRs as networks (no host bits), see the rule above.
  std::vector<net::cidr> pod_cidrs;
  std::string pod_cidr_source; // empty when pod_cidrs is empty

  bool ready = false;         // condition Ready is "True"
  bool unschedulable = false; // spec.unschedulable
  std::vector<taint> taints;

  /// Soft problems: each a one-line message naming the field and, where there is one, the bad
  /// value. Some only warn (a malformed second address, a CIDR with host bits); whether the entry
  /// must wait is ready_for_entry().
  std::vector<std::string> problems;

  /// True when the node can have a ConfigMap entry: it has an underlay IP and at least one pod
  /// CIDR. Otherwise the entry waits until an update supplies them.
  bool ready_for_entry() const { return underlay_ip.has_value() && !pod_cidrs.empty(); }
};

/// The slice of a Node its ConfigMap entry is decided from: what the allocator holds per Node
/// (the node watcher holds the Node itself). Built from a node_info (implicitly, so a parsed or
/// hand-made Node stands wherever its slice is expected).
struct entry_inputs {
  std::string name;
  std::string uid;
  std::optional<net::ip_address> underlay_ip;
  std::string underlay_source; // empty when underlay_ip is empty
  std::vector<net::cidr> pod_cidrs;
  std::string pod_cidr_source; // empty when pod_cidrs is empty
  /// The Node's soft problems: they say why a node that is not ready_for_entry() waits.
  std::vector<std::string> problems;

  entry_inputs() = default;
  entry_inputs(const node_info& n); // NOLINT(google-explicit-constructor): the slice of a Node

  /// As node_info::ready_for_entry().
  bool ready_for_entry() const { return underlay_ip.has_value() && !pod_cidrs.empty(); }
};

/// True when the two publish the same ConfigMap entry (name, uid, underlay IP, pod CIDRs): a false
/// answer is the only reason to touch the allocation. The sources and problems only explain the
/// inputs, so a change of them alone compares equal, as do heartbeat-only updates of a Node
/// (conditions, resourceVersion, annotations).
bool same_entry_inputs(const entry_inputs& a, const entry_inputs& b);
/// The same for two Nodes: their slices compared.
bool same_entry_inputs(const node_info& a, const node_info& b);

/// Result of parsing one Node. Exactly one of the two is set: `node` when the object is usable
/// (it may still carry soft problems), else `error`, a one-line message starting with
/// "Node JSON: " that names the offending field. Hard errors: not JSON, not an object, `kind`
/// present and not "Node", `metadata.name` missing, not a string or empty.
struct node_parse_result {
  std::optional<node_info> node;
  std::string error;
  explicit operator bool() const { return node.has_value(); }
};

/// Parses a Node object: a single GET or a watch event's `object` (with kind/apiVersion), or a
/// NodeList item (without them). `source` says where pod CIDRs are read (automatic = node).
node_parse_result parse_node(const boost::json::value& json,
                             pod_cidr_source source = pod_cidr_source::node);
/// Same, from JSON text.
node_parse_result parse_node(std::string_view json, pod_cidr_source source = pod_cidr_source::node);

} // namespace kcr::kube
