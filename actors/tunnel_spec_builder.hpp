// Turns a node's own Node (its overlay annotation and addresses) into its entry, and an entry plus
// the controller settings into the tunnel interface the node must have (net::tunnel_spec).
// Pure: no CAF, no I/O.
#pragma once

#include <optional>
#include <string>

#include "actors/settings.hpp"
#include "kube/configmap_codec.hpp"
#include "kube/node.hpp"
#include "net/tunnel_spec.hpp"

namespace kcr::actors {

/// The local entry an agent derives from its own Node, or why there is none.
struct own_entry_result {
  std::optional<kube::node_entry> entry;
  std::string problem;  // set when there is no entry; one line naming the Node and the value
  bool invalid = false; // the annotation is wrong (a Warning), not merely missing (a wait)
};

/// name, uid and pod CIDRs from the Node; node IP = its underlay IP (the rule of kube/node.hpp,
/// the same the publisher uses for the Node- key); overlay IP = the annotation
/// `overlay_ip_annotation` (actors/messages.hpp), which must be an IPv4 address inside
/// settings.overlay_network and neither its network nor broadcast address nor the EndpointIP.
/// The MAC stays derived from the overlay IP.
own_entry_result own_entry(const kube::node_info& node, const controller_settings& settings);

/// The node's tunnel: the overlay type, interface name (settings.tunnel_interface or the type's
/// default), local = entry.node_ip, remote = settings.remote_vtep, overlay = entry.overlay_ip with
/// the overlay network's prefix, MTU when settings.tunnel_mtu > 0. VXLAN only: VNI, port, MAC
/// (entry.effective_mac()) and the EndpointIP's static neighbour when settings.remote_vtep_mac is
/// set; every further settings.remote_vteps entry as spec.extra_remotes (one FDB entry each).
/// The result is not validated here: net::validate() / the tunnel manager report problems.
net::tunnel_spec build_tunnel_spec(const kube::node_entry& entry,
                                   const controller_settings& settings);

} // namespace kcr::actors
