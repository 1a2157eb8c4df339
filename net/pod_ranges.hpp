// The checks a pod range passes before the external device is told to route it to a node.
// Pure logic: no I/O.
//
// A Node's pod ranges come from objects a node itself may edit (a kubelet can change its own
// Node's annotations), and the device routes whatever it is given: 0.0.0.0/0 from one node
// would pull all of the device's traffic into that node's tunnel. So a range is published only
// when
//   - it lies inside one of the cluster's pod networks (--pod-network), or, when none is
//     given, is no wider than max_width_v4 / max_width_v6 (a node's share of a pod network is
//     a /24 or a /26 block with every CNI we know; a /16 is already a whole cluster's);
//   - it does not overlap the overlay network (the tunnel addresses themselves);
//   - it contains no node's underlay address and not the device's (that traffic must not
//     enter a tunnel);
//   - it overlaps no range another node already publishes (the first owner keeps it, as with
//     duplicate underlay IPs).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/ip.hpp"

namespace kcr::net {

/// The widest range accepted when no pod network is configured.
inline constexpr int max_width_v4 = 16;
inline constexpr int max_width_v6 = 48;

/// True when the two prefixes share an address (one contains the other's network address).
bool overlaps(const cidr& a, const cidr& b);

/// Networks of `ranges` (host bits cleared), sorted (IPv4 first), without duplicates and without
/// ranges inside another one of the list.
std::vector<cidr> normalize(std::vector<cidr> ranges);

/// What a range is checked against that does not depend on other nodes' ranges.
struct range_rules {
  std::vector<cidr> pod_networks; // empty: the width limit applies instead
  cidr overlay_network;
};

/// Why a range may not be published.
struct range_refusal {
  std::string reason; // short, for a metric label: outside-pod-network, too-wide, overlay,
                      // node-ip, device-ip, overlap
  std::string detail; // a phrase completing "refused: ..."
};

/// Why `range` may not be published, or nothing.
std::optional<range_refusal> check_range(const cidr& range, const range_rules& rules);

/// Which node publishes which range. Ranges held here never overlap each other, which is what
/// makes the overlap lookup a logarithmic one.
class range_owners {
public:
  struct conflict {
    cidr range; // the range already held
    std::string owner;
  };
  /// A held range overlapping `range` that belongs to a node other than `node`.
  std::optional<conflict> find_conflict(const cidr& range, const std::string& node) const;
  /// Records every range of `node` (replacing what it held). Call only after find_conflict
  /// found nothing for each of them.
  void assign(const std::string& node, const std::vector<cidr>& ranges);
  void release(const std::string& node);

private:
  std::map<cidr, std::string> owner_;                // by network, disjoint
  std::map<std::string, std::vector<cidr>> by_node_; // what each node holds
};

} // namespace kcr::net
