// The desired tunnel interface of one node (VXLAN or IPIP), its validation and
// the MTU rule. Pure values: no netlink, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/ip.hpp"
#include "net/overlay_type.hpp"

namespace kcr::net {

/// The original system's interface names, kept so that operators find them.
inline constexpr std::string_view default_vxlan_name = "routervxlan0";
inline constexpr std::string_view default_ipip_name = "routertun0";
/// IFNAMSIZ - 1.
inline constexpr size_t max_interface_name = 15;
inline constexpr uint16_t default_vxlan_port = 4789;

/// A permanent ARP entry on the tunnel: the device's EndpointIP -> its MAC.
struct static_neighbour {
  ip_address ip;
  mac_address mac;
  bool operator==(const static_neighbour&) const = default;
};

/// Everything the node's tunnel interface must look like.
struct tunnel_spec {
  overlay_type type = overlay_type::vxlan;
  /// Empty: default_interface_name(type).
  std::string name;
  /// VXLAN only: 1..16777215 and the UDP destination port.
  uint32_t vni = 0;
  uint16_t port = default_vxlan_port;
  /// The node's underlay IP (tunnel source). 0.0.0.0 means unset (invalid).
  ip_address local;
  /// The device holding `local`. Empty: found by looking up which link has
  /// `local` as an address (never from the default route).
  std::string lower_device;
  /// Remote VTEP (VXLAN) / tunnel endpoint (IPIP): the external device.
  ip_address remote;
  /// VXLAN only: further device VTEPs (an HA pair, a second device). Each gets its own all-zero
  /// FDB entry, so flooded and unknown-unicast frames reach every device. IPIP has one remote.
  std::vector<ip_address> extra_remotes;
  /// The node's overlay IP with the overlay network's prefix, host bits kept
  /// (e.g. 192.168.254.1/24).
  cidr overlay;
  /// VXLAN only. Unset: mac_address::from_overlay_ip(overlay.address()).
  std::optional<mac_address> mac;
  /// Unset: automatic (lower device MTU minus the encapsulation overhead).
  std::optional<uint32_t> mtu;
  /// VXLAN only: the EndpointIP's MAC when the device's MAC is known.
  std::optional<static_neighbour> endpoint_neighbour;
  /// IPIP only: outer TTL; 0 inherits the inner packet's TTL.
  uint8_t ttl = 0;

  bool operator==(const tunnel_spec&) const = default;
};

/// "routervxlan0" / "routertun0"; none (no tunnel): "".
std::string_view default_interface_name(overlay_type t);
/// spec.name, or the default for spec.type when empty.
std::string interface_name(const tunnel_spec& spec);
/// Every device VTEP: spec.remote, then spec.extra_remotes (without repeats).
std::vector<ip_address> remotes(const tunnel_spec& spec);
/// VXLAN: spec.mac or the one derived from the overlay IP. IPIP: nullopt.
std::optional<mac_address> interface_mac(const tunnel_spec& spec);

/// Bytes of encapsulation: VXLAN 50 over IPv4 (70 over IPv6), IPIP 20, none 0.
uint32_t encapsulation_overhead(overlay_type t, bool ipv6_underlay = false);
/// The MTU the interface must have, given its lower device's MTU.
uint32_t tunnel_mtu(const tunnel_spec& spec, uint32_t lower_mtu);

/// True when `name` is a usable Linux interface name (1..15 chars, no '/',
/// no whitespace or ':' , not "." or "..").
bool valid_interface_name(std::string_view name);

/// Every problem with the spec, each naming the field and what was expected.
/// Empty when valid.
std::vector<std::string> validate(const tunnel_spec& spec);

} // namespace kcr::net
