// kube-chorus-router as a library: create or delete this node's tunnel from environment
// variables, the way the original system's Create() and Delete() did.
//
//   TYPE            vxlan (default) or ipip
//   NETWORK         the overlay network, e.g. 192.168.254.0/24 (required: gives the prefix)
//   OVERLAY_IP      this node's overlay address, e.g. 192.168.254.1 (required for create)
//   LOCAL_VTEPIP    this node's underlay IP, the tunnel source (required for create)
//   REMOTE_VTEPIP   the device's underlay VTEP / tunnel endpoint (required for create)
//   VNID            VXLAN network identifier (default 1), VXLAN_PORT (default 4789)
//   TUNNEL_MTU      0 or unset: lower device MTU - 50 (VXLAN) / - 20 (IPIP)
//   INTERFACE_NAME  default routervxlan0 / routertun0
//   ENDPOINT_IP, REMOTE_VTEP_MAC   optional: a permanent neighbour for the device (VXLAN)
//
// Both calls are idempotent and need CAP_NET_ADMIN. remove() only deletes an interface this
// project created (marked with the alias "kube-chorus-router").
#pragma once

#include <string>
#include <vector>

namespace kcr {

struct result {
  bool ok = false;
  std::string message;              // what happened, or the error naming the input
  std::vector<std::string> changes; // what was changed in the kernel
};

/// Makes the tunnel described by the environment exist exactly (Create()).
result create();

/// Deletes the tunnel named by INTERFACE_NAME / TYPE if it is ours (Delete()).
result remove();

} // namespace kcr
