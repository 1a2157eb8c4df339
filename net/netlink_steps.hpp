// The steps of netlink_tunnel_manager::converge, one per kernel object: the link (create or
// recreate), its attributes, the addresses, the FDB default entries, the permanent neighbour and
// rp_filter. Each compares the kernel as found with the spec, writes only what differs (through
// the counted nl::writer) and notes each change in the converge_report. Internal to kcr_netlink
// (included by its tests).
#pragma once

#include <optional>
#include <string>

#include "net/netlink_tunnel.hpp"
#include "net/netlink_writer.hpp"

namespace kcr::net::steps {

/// What every step works with: the socket, the counted writer and the report it adds to.
struct context {
  nl_sock* sk;
  nl::writer& w;
  converge_report& rep;
  /// Notes a change as "<interface>: <text>".
  void change(std::string text) { rep.changes.push_back(rep.interface + ": " + std::move(text)); }
};

/// A step's outcome: nullopt when it succeeded (with or without writes).
using step_error = std::optional<tunnel_error>;

/// The link the tunnel runs over.
struct lower_device {
  int ifindex = 0;
  std::string name;
  uint32_t mtu = 0;
};

/// spec.lower_device, or the link holding spec.local (never the default route's device).
tunnel_result<lower_device> resolve_lower(nl_sock* sk, const tunnel_spec& spec);

/// The error for an interface with our name but without our alias mark.
tunnel_error foreign(const tunnel_state& s);

/// Step 1, the link: refuses a foreign one, deletes ours when a creation-time attribute differs
/// (recreate_reason), creates it when absent. Returns the link as the kernel has it now.
tunnel_result<nl::link_ptr> converge_link(context& cx, const link_request& want,
                                          const std::string& lower_name);

/// The link's state with its addresses, FDB default destinations and permanent neighbours.
/// converge reads it once, before any in-place write, and every later step compares with it.
tunnel_result<tunnel_state> observe(nl_sock* sk, rtnl_link* link);

/// Step 2, the link attributes changeable in place (alias mark, up, MTU, MAC): one request.
step_error converge_attributes(context& cx, rtnl_link* link, const tunnel_state& cur,
                               const link_request& want);
/// Step 3, the addresses: exactly the overlay address (IPv6 link-local ones are the kernel's).
step_error converge_addresses(context& cx, const tunnel_state& cur, const cidr& overlay);
/// Step 4, VXLAN only: one all-zero FDB entry per device VTEP, none elsewhere.
step_error converge_fdb(context& cx, const tunnel_state& cur, const tunnel_spec& spec);
/// Step 5, VXLAN only: the permanent neighbour for the device's EndpointIP, when specified.
step_error converge_neighbour(context& cx, const tunnel_state& cur, const tunnel_spec& spec);
/// Step 6, rp_filter: loose (2) on the interface, a sysctl under `proc_sys` (no netlink write).
step_error converge_rp_filter(const std::string& proc_sys, converge_report& rep);

} // namespace kcr::net::steps
