// Tunnel spec defaults, validation and the MTU rule (pure logic).
#include "net/tunnel_spec.hpp"

#include <algorithm>

namespace kcr::net {

namespace {

bool unset(const ip_address& ip) {
  return ip == ip_address{};
}

bool unicast_mac(const mac_address& m) {
  return !m.is_zero() && (m.bytes()[0] & 0x01) == 0;
}

} // namespace

std::string_view default_interface_name(overlay_type t) {
  if (t == overlay_type::none)
    return {};
  return t == overlay_type::vxlan ? default_vxlan_name : default_ipip_name;
}

std::vector<ip_address> remotes(const tunnel_spec& spec) {
  std::vector<ip_address> out{spec.remote};
  for (const auto& r : spec.extra_remotes)
    if (std::find(out.begin(), out.end(), r) == out.end())
      out.push_back(r);
  return out;
}

std::string interface_name(const tunnel_spec& spec) {
  return spec.name.empty() ? std::string(default_interface_name(spec.type)) : spec.name;
}

std::optional<mac_address> interface_mac(const tunnel_spec& spec) {
  if (spec.type != overlay_type::vxlan)
    return std::nullopt;
  if (spec.mac)
    return spec.mac;
  return mac_address::from_overlay_ip(spec.overlay.address());
}

uint32_t encapsulation_overhead(overlay_type t, bool ipv6_underlay) {
  // VXLAN: outer IP (20/40) + UDP 8 + VXLAN 8 + inner Ethernet 14.
  // IPIP: one outer IPv4 header.
  if (t == overlay_type::vxlan)
    return ipv6_underlay ? 70 : 50;
  return t == overlay_type::ipip ? 20 : 0;
}

uint32_t tunnel_mtu(const tunnel_spec& spec, uint32_t lower_mtu) {
  if (spec.mtu)
    return *spec.mtu;
  const uint32_t overhead = encapsulation_overhead(spec.type, spec.local.is_v6());
  // Never below the IPv4 minimum, even on an absurd lower device.
  return lower_mtu > overhead + 68 ? lower_mtu - overhead : 68;
}

bool valid_interface_name(std::string_view name) {
  if (name.empty() || name.size() > max_interface_name || name == "." || name == "..")
    return false;
  for (char c : name)
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0')
      return false;
  return true;
}

std::vector<std::string> validate(const tunnel_spec& spec) {
  std::vector<std::string> errors;
  if (spec.type == overlay_type::none)
    return {"overlay type none (route-only) has no tunnel interface to create"};
  const bool vxlan = spec.type == overlay_type::vxlan;
  const std::string name = interface_name(spec);
  if (!valid_interface_name(name))
    errors.push_back("interface name '" + name +
                     "': expected 1..15 characters without '/', ':' or whitespace");
  if (!spec.lower_device.empty() && !valid_interface_name(spec.lower_device))
    errors.push_back("lower device '" + spec.lower_device + "': not a valid interface name");
  if (vxlan) {
    if (spec.vni < 1 || spec.vni > 16777215)
      errors.push_back("VNI " + std::to_string(spec.vni) + ": expected 1..16777215");
    if (spec.port == 0)
      errors.push_back("VXLAN port 0: expected 1..65535");
  }
  if (unset(spec.local))
    errors.push_back("local underlay IP: not set");
  if (unset(spec.remote))
    errors.push_back("remote endpoint IP: not set");
  if (!unset(spec.local) && !unset(spec.remote) && spec.local.is_v4() != spec.remote.is_v4())
    errors.push_back("local " + spec.local.to_string() + " and remote " + spec.remote.to_string() +
                     ": expected the same address family");
  if (!vxlan && (spec.local.is_v6() || spec.remote.is_v6()))
    errors.push_back("IPIP endpoints must be IPv4");
  if (!unset(spec.local) && spec.local == spec.remote)
    errors.push_back("remote endpoint " + spec.remote.to_string() + " equals the local IP");
  if (!vxlan && !spec.extra_remotes.empty())
    errors.push_back("IPIP has one remote endpoint; got " +
                     std::to_string(spec.extra_remotes.size() + 1) + " device addresses");
  for (const auto& r : vxlan ? spec.extra_remotes : std::vector<ip_address>{}) {
    if (unset(r))
      errors.push_back("further remote VTEP: not set");
    else if (r.is_v4() != spec.remote.is_v4())
      errors.push_back("remote VTEP " + r.to_string() + " and " + spec.remote.to_string() +
                       ": expected the same address family");
    else if (r == spec.local)
      errors.push_back("remote VTEP " + r.to_string() + " equals the local IP");
  }

  const cidr& ov = spec.overlay;
  if (!ov.address().is_v4() || unset(ov.address()))
    errors.push_back("overlay address '" + ov.to_string() + "': expected an IPv4 address/prefix");
  else if (ov.prefix() < 1 || ov.prefix() > 32)
    errors.push_back("overlay prefix /" + std::to_string(ov.prefix()) + ": expected 1..32");
  else if (ov.prefix() < 31 &&
           (ov.address() == ov.at(0) || ov.address().v4_value() == ov.v4_last()))
    errors.push_back("overlay address " + ov.to_string() +
                     ": is the network or broadcast address of its prefix");

  if (spec.mac) {
    if (!vxlan)
      errors.push_back("MAC " + spec.mac->to_string() + ": only a VXLAN interface has a MAC");
    else if (!unicast_mac(*spec.mac))
      errors.push_back("MAC " + spec.mac->to_string() + ": expected a non-zero unicast address");
  }
  if (spec.mtu && (*spec.mtu < 68 || *spec.mtu > 65535))
    errors.push_back("MTU " + std::to_string(*spec.mtu) + ": expected 68..65535");
  if (spec.endpoint_neighbour) {
    const auto& n = *spec.endpoint_neighbour;
    if (!vxlan)
      errors.push_back("endpoint neighbour: only for VXLAN (IPIP has no link-layer addresses)");
    if (!n.ip.is_v4() || (ov.address().is_v4() && !ov.contains(n.ip)))
      errors.push_back("endpoint neighbour IP " + n.ip.to_string() +
                       ": expected inside the overlay network " + ov.network().to_string());
    else if (n.ip == ov.address())
      errors.push_back("endpoint neighbour IP " + n.ip.to_string() +
                       ": equals the node's overlay IP");
    if (!unicast_mac(n.mac))
      errors.push_back("endpoint neighbour MAC " + n.mac.to_string() +
                       ": expected a non-zero unicast address");
  }
  return errors;
}

} // namespace kcr::net
