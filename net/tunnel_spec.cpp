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

namespace {

using errors = std::vector<std::string>;

void check_names(const tunnel_spec& spec, errors& out) {
  const std::string name = interface_name(spec);
  if (!valid_interface_name(name))
    out.push_back("interface name '" + name +
                  "': expected 1..15 characters without '/', ':' or whitespace");
  if (!spec.lower_device.empty() && !valid_interface_name(spec.lower_device))
    out.push_back("lower device '" + spec.lower_device + "': not a valid interface name");
}

void check_vxlan_id(const tunnel_spec& spec, errors& out) {
  if (spec.type != overlay_type::vxlan)
    return;
  if (spec.vni < 1 || spec.vni > 16777215)
    out.push_back("VNI " + std::to_string(spec.vni) + ": expected 1..16777215");
  if (spec.port == 0)
    out.push_back("VXLAN port 0: expected 1..65535");
}

// The node's underlay IP and the device's (first) endpoint.
void check_endpoints(const tunnel_spec& spec, errors& out) {
  const auto& local = spec.local;
  const auto& remote = spec.remote;
  if (unset(local))
    out.push_back("local underlay IP: not set");
  if (unset(remote))
    out.push_back("remote endpoint IP: not set");
  if (!unset(local) && !unset(remote) && local.is_v4() != remote.is_v4())
    out.push_back("local " + local.to_string() + " and remote " + remote.to_string() +
                  ": expected the same address family");
  if (spec.type != overlay_type::vxlan && (local.is_v6() || remote.is_v6()))
    out.push_back("IPIP endpoints must be IPv4");
  if (!unset(local) && local == remote)
    out.push_back("remote endpoint " + remote.to_string() + " equals the local IP");
}

// Further device VTEPs: VXLAN only, each like the first.
void check_extra_remotes(const tunnel_spec& spec, errors& out) {
  if (spec.type != overlay_type::vxlan) {
    if (!spec.extra_remotes.empty())
      out.push_back("IPIP has one remote endpoint; got " +
                    std::to_string(spec.extra_remotes.size() + 1) + " device addresses");
    return;
  }
  for (const auto& r : spec.extra_remotes) {
    if (unset(r))
      out.push_back("further remote VTEP: not set");
    else if (r.is_v4() != spec.remote.is_v4())
      out.push_back("remote VTEP " + r.to_string() + " and " + spec.remote.to_string() +
                    ": expected the same address family");
    else if (r == spec.local)
      out.push_back("remote VTEP " + r.to_string() + " equals the local IP");
  }
}

void check_overlay(const cidr& ov, errors& out) {
  if (!ov.address().is_v4() || unset(ov.address()))
    out.push_back("overlay address '" + ov.to_string() + "': expected an IPv4 address/prefix");
  else if (ov.prefix() < 1 || ov.prefix() > 32)
    out.push_back("overlay prefix /" + std::to_string(ov.prefix()) + ": expected 1..32");
  else if (ov.prefix() < 31 &&
           (ov.address() == ov.at(0) || ov.address().v4_value() == ov.v4_last()))
    out.push_back("overlay address " + ov.to_string() +
                  ": is the network or broadcast address of its prefix");
}

// The interface's own MAC and MTU.
void check_link_layer(const tunnel_spec& spec, errors& out) {
  if (spec.mac) {
    if (spec.type != overlay_type::vxlan)
      out.push_back("MAC " + spec.mac->to_string() + ": only a VXLAN interface has a MAC");
    else if (!unicast_mac(*spec.mac))
      out.push_back("MAC " + spec.mac->to_string() + ": expected a non-zero unicast address");
  }
  if (spec.mtu && (*spec.mtu < 68 || *spec.mtu > 65535))
    out.push_back("MTU " + std::to_string(*spec.mtu) + ": expected 68..65535");
}

void check_endpoint_neighbour(const tunnel_spec& spec, errors& out) {
  if (!spec.endpoint_neighbour)
    return;
  const auto& n = *spec.endpoint_neighbour;
  const cidr& ov = spec.overlay;
  if (spec.type != overlay_type::vxlan)
    out.push_back("endpoint neighbour: only for VXLAN (IPIP has no link-layer addresses)");
  if (!n.ip.is_v4() || (ov.address().is_v4() && !ov.contains(n.ip)))
    out.push_back("endpoint neighbour IP " + n.ip.to_string() +
                  ": expected inside the overlay network " + ov.network().to_string());
  else if (n.ip == ov.address())
    out.push_back("endpoint neighbour IP " + n.ip.to_string() + ": equals the node's overlay IP");
  if (!unicast_mac(n.mac))
    out.push_back("endpoint neighbour MAC " + n.mac.to_string() +
                  ": expected a non-zero unicast address");
}

} // namespace

// One check per concern, in a fixed order, so the message lists its problems the same way each
// time.
std::vector<std::string> validate(const tunnel_spec& spec) {
  if (spec.type == overlay_type::none)
    return {"overlay type none (route-only) has no tunnel interface to create"};
  errors out;
  check_names(spec, out);
  check_vxlan_id(spec, out);
  check_endpoints(spec, out);
  check_extra_remotes(spec, out);
  check_overlay(spec.overlay, out);
  check_link_layer(spec, out);
  check_endpoint_neighbour(spec, out);
  return out;
}

} // namespace kcr::net
