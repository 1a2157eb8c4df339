// The converge steps for the link itself: finding the lower device, creating or recreating the
// tunnel link, and the attributes changed in place (alias mark, up, MTU, MAC).
#include <linux/if.h>

#include <netlink/route/link.h>

#include "net/netlink_steps.hpp"

namespace kcr::net::steps {

namespace {

void lower_from_link(nl::link_ptr& link, lower_device& out) {
  out.ifindex = rtnl_link_get_ifindex(link.get());
  out.name = rtnl_link_get_name(link.get());
  out.mtu = rtnl_link_get_mtu(link.get());
}

tunnel_result<lower_device> lower_by_name(nl_sock* sk, const std::string& name) {
  lower_device out;
  auto link = nl::get_link(sk, name);
  if (!link)
    return link.error();
  if (!link.value())
    return tunnel_error{tunnel_errc::lower_device_not_found,
                        "lower device " + name + " does not exist"};
  lower_from_link(link.value(), out);
  return out;
}

tunnel_error create_error(int err, const link_request& req) {
  tunnel_error e = nl::error_from(err, "creating " + req.name);
  if (e.code == tunnel_errc::kernel_unsupported)
    e.message = req.type == overlay_type::ipip
                    ? "kernel lacks IPIP tunnel support (module ipip): " + e.message
                    : "kernel lacks VXLAN support (module vxlan): " + e.message;
  return e;
}

// Our link when it exists and can be adapted in place; null when absent or just deleted
// because an attribute fixed at creation differs.
tunnel_result<nl::link_ptr> existing_link(context& cx, const link_request& want) {
  auto link = nl::get_link(cx.sk, want.name);
  if (!link || !link.value())
    return link;
  tunnel_state cur = link_state(link.value().get());
  if (!cur.ours)
    return foreign(cur);
  if (auto why = recreate_reason(cur, want)) {
    if (int err = cx.w.delete_link(link.value().get()); err < 0)
      return nl::error_from(err, "deleting " + want.name + " to recreate it");
    cx.change("deleted to recreate (" + *why + ")");
    link.value().reset();
  }
  return link;
}

// Creates the link (down; converge_attributes brings it up) and reads it back.
tunnel_result<nl::link_ptr> create_link(context& cx, const link_request& want,
                                        const std::string& lower_name) {
  nl::link_ptr req = build_link(want);
  if (!req)
    return tunnel_error{tunnel_errc::netlink_error, "allocating a link object for " + want.name};
  if (int err = cx.w.add_link(req.get()); err < 0)
    return create_error(err, want);
  cx.rep.created = true;
  cx.change("created " + std::string(flag_name(want.type)) + " on " + lower_name + " local " +
            want.local.to_string() +
            (want.type == overlay_type::vxlan
                 ? " VNI " + std::to_string(want.vni) + " port " + std::to_string(want.port)
                 : " remote " + want.remote.to_string()));
  auto link = nl::get_link(cx.sk, want.name);
  if (link && !link.value())
    return tunnel_error{tunnel_errc::netlink_error, want.name + " vanished right after creation"};
  return link;
}

} // namespace

// The lower device is the link holding the node's underlay IP (not the default route's device:
// the underlay may be a secondary network).
tunnel_result<lower_device> resolve_lower(nl_sock* sk, const tunnel_spec& spec) {
  if (!spec.lower_device.empty())
    return lower_by_name(sk, spec.lower_device);
  auto addrs = nl::dump_addresses(sk);
  if (!addrs)
    return addrs.error();
  int ifindex = 0;
  for (const auto& a : addrs.value())
    if (a.address.address() == spec.local) {
      ifindex = a.ifindex;
      break;
    }
  if (ifindex == 0)
    return tunnel_error{tunnel_errc::lower_device_not_found,
                        "no interface holds the local underlay IP " + spec.local.to_string()};
  auto link = nl::get_link(sk, ifindex);
  if (!link)
    return link.error();
  if (!link.value())
    return tunnel_error{tunnel_errc::lower_device_not_found,
                        "the interface holding " + spec.local.to_string() + " disappeared"};
  lower_device out;
  lower_from_link(link.value(), out);
  return out;
}

tunnel_error foreign(const tunnel_state& s) {
  return {tunnel_errc::foreign_interface,
          "interface " + s.name + " exists but is not ours (IFLA_IFALIAS is '" + s.alias +
              "', not '" + std::string(ownership_alias) +
              "'): refusing to modify or delete it; remove or rename it by hand"};
}

tunnel_result<nl::link_ptr> converge_link(context& cx, const link_request& want,
                                          const std::string& lower_name) {
  auto link = existing_link(cx, want);
  if (!link || link.value())
    return link;
  return create_link(cx, want, lower_name);
}

// One RTM_NEWLINK change request for everything that differs.
step_error converge_attributes(context& cx, rtnl_link* link, const tunnel_state& cur,
                               const link_request& want) {
  nl::link_ptr changes{rtnl_link_alloc()};
  bool dirty = false;
  if (!cur.ours) {
    // Some kernels ignore IFLA_IFALIAS on creation: mark it right after.
    rtnl_link_set_ifalias(changes.get(), std::string(ownership_alias).c_str());
    dirty = true;
    if (!cx.rep.created)
      cx.change("alias set to " + std::string(ownership_alias));
  }
  if (!cur.up) {
    rtnl_link_set_flags(changes.get(), IFF_UP);
    dirty = true;
    cx.change("link set up");
  }
  if (cur.mtu != want.mtu) {
    rtnl_link_set_mtu(changes.get(), want.mtu);
    dirty = true;
    cx.change("mtu " + std::to_string(cur.mtu) + " -> " + std::to_string(want.mtu));
  }
  if (want.mac && cur.mac != want.mac) {
    rtnl_link_set_addr(changes.get(), nl::to_nl(*want.mac).get());
    dirty = true;
    cx.change("mac " + (cur.mac ? cur.mac->to_string() : std::string("none")) + " -> " +
              want.mac->to_string());
  }
  if (dirty)
    if (int err = cx.w.change_link(link, changes.get()); err < 0)
      return nl::error_from(err, "changing " + cx.rep.interface);
  return std::nullopt;
}

} // namespace kcr::net::steps
