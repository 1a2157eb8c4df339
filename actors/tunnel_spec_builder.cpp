// node_entry + controller_settings -> net::tunnel_spec (pure).
#include "actors/tunnel_spec_builder.hpp"

#include "actors/messages.hpp"

namespace kcr::actors {

own_entry_result own_entry(const kube::node_info& node, const controller_settings& settings) {
  own_entry_result r;
  auto it = node.annotations.find(overlay_ip_annotation);
  if (it == node.annotations.end()) {
    r.problem = "Node " + node.name + " has no annotation " + overlay_ip_annotation +
                " yet (the publisher writes it once the node is published)";
    return r;
  }
  const auto& text = it->second;
  auto bad = [&](const std::string& why) {
    r.invalid = true;
    r.problem =
        "Node " + node.name + " annotation " + overlay_ip_annotation + "=\"" + text + "\" " + why;
    return r;
  };
  auto ip = net::ip_address::parse(text);
  if (!ip || !ip->is_v4())
    return bad("is not an IPv4 address");
  const auto& net = settings.overlay_network;
  if (!net.contains(*ip))
    return bad("is outside the overlay network " + net.to_string() + " (--overlay-network)");
  if (net.prefix() <= 30 && (ip->v4_value() == net.v4_first() || ip->v4_value() == net.v4_last()))
    return bad("is the network or broadcast address of " + net.network().to_string());
  if (*ip == settings.endpoint_ip)
    return bad("is the EndpointIP (the device's address)");
  if (!node.underlay_ip) {
    r.problem = "Node " + node.name + " has no usable InternalIP/ExternalIP address";
    return r;
  }
  r.entry =
      kube::node_entry{node.name, node.uid, *node.underlay_ip, *ip, std::nullopt, node.pod_cidrs};
  return r;
}

net::tunnel_spec build_tunnel_spec(const kube::node_entry& entry,
                                   const controller_settings& settings) {
  net::tunnel_spec spec;
  spec.type = settings.overlay_type;
  // Named explicitly (not left empty) so that logs and the spec compare show the real name.
  spec.name = settings.tunnel_interface.empty()
                  ? std::string(net::default_interface_name(settings.overlay_type))
                  : settings.tunnel_interface;
  spec.local = entry.node_ip;
  spec.remote = settings.remote_vtep;
  spec.overlay = net::cidr(entry.overlay_ip, settings.overlay_network.prefix());
  if (settings.tunnel_mtu > 0)
    spec.mtu = static_cast<uint32_t>(settings.tunnel_mtu);
  if (settings.overlay_type == net::overlay_type::vxlan) {
    // VNI, port and link-layer addresses mean nothing to IPIP; leaving them at their defaults
    // keeps an IPIP spec free of fields validate() would have to explain away.
    spec.vni = settings.vni;
    spec.port = settings.vxlan_port;
    for (const auto& vtep : settings.remote_vteps)
      if (vtep != spec.remote)
        spec.extra_remotes.push_back(vtep);
    // The MAC the publisher announced (Mac- key): what the device sends to.
    spec.mac = entry.effective_mac();
    if (settings.remote_vtep_mac)
      spec.endpoint_neighbour =
          net::static_neighbour{settings.endpoint_ip, *settings.remote_vtep_mac};
  }
  return spec;
}

} // namespace kcr::actors
