// node_entry + controller_settings -> net::tunnel_spec (pure).
#include "actors/tunnel_spec_builder.hpp"

namespace kcr::actors {

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
    // The MAC the publisher announced (Mac- key): what the device sends to.
    spec.mac = entry.effective_mac();
    if (settings.remote_vtep_mac)
      spec.endpoint_neighbour =
          net::static_neighbour{settings.endpoint_ip, *settings.remote_vtep_mac};
  }
  return spec;
}

} // namespace kcr::actors
