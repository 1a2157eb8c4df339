// Turns a node's published ConfigMap entry and the controller settings into the tunnel interface
// the node must have (net::tunnel_spec). Pure: no CAF, no I/O.
#pragma once

#include "actors/settings.hpp"
#include "kube/configmap_codec.hpp"
#include "net/tunnel_spec.hpp"

namespace kcr::actors {

/// The node's tunnel: the overlay type, interface name (settings.tunnel_interface or the type's
/// default), local = entry.node_ip, remote = settings.remote_vtep, overlay = entry.overlay_ip with
/// the overlay network's prefix, MTU when settings.tunnel_mtu > 0. VXLAN only: VNI, port, MAC
/// (entry.effective_mac()) and the EndpointIP's static neighbour when settings.remote_vtep_mac is
/// set. The result is not validated here: net::validate() / the tunnel manager report problems.
net::tunnel_spec build_tunnel_spec(const kube::node_entry& entry,
                                   const controller_settings& settings);

} // namespace kcr::actors
