// The one place that sends modifying rtnetlink requests for the tunnel
// manager (links, addresses, FDB entries, neighbours). Each request is
// counted, so that converge() can prove it made no writes when nothing
// drifted. Internal to kcr_netlink.
#pragma once

#include <linux/neighbour.h>
#include <sys/socket.h>

#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>

#include "net/netlink_socket.hpp"
#include "net/tunnel_spec.hpp"

namespace kcr::net::nl {

// Performs and counts every modifying netlink request.
class writer {
public:
  writer(nl_sock* sk, int& count) : sk_(sk), count_(count) {}

  int add_link(rtnl_link* l) {
    ++count_;
    return rtnl_link_add(sk_, l, NLM_F_CREATE | NLM_F_EXCL);
  }
  int change_link(rtnl_link* orig, rtnl_link* changes) {
    ++count_;
    return rtnl_link_change(sk_, orig, changes, 0);
  }
  int delete_link(rtnl_link* l) {
    ++count_;
    return rtnl_link_delete(sk_, l);
  }
  int address(bool add, int ifindex, const cidr& c) {
    nl::raddr_ptr a{rtnl_addr_alloc()};
    rtnl_addr_set_ifindex(a.get(), ifindex);
    rtnl_addr_set_local(a.get(), nl::to_nl(c).get());
    rtnl_addr_set_prefixlen(a.get(), c.prefix());
    ++count_;
    return add ? rtnl_addr_add(sk_, a.get(), 0) : rtnl_addr_delete(sk_, a.get(), 0);
  }
  // VXLAN FDB entry 00:00:00:00:00:00 dst `dst` (the default destination).
  int fdb(bool add, int ifindex, const ip_address& dst) {
    nl::neigh_ptr n{rtnl_neigh_alloc()};
    rtnl_neigh_set_ifindex(n.get(), ifindex);
    rtnl_neigh_set_lladdr(n.get(), nl::to_nl(mac_address{}).get());
    // set_dst also sets the family; AF_BRIDGE must come after it.
    rtnl_neigh_set_dst(n.get(), nl::to_nl(dst).get());
    rtnl_neigh_set_family(n.get(), AF_BRIDGE);
    rtnl_neigh_set_flags(n.get(), NTF_SELF);
    rtnl_neigh_set_state(n.get(), NUD_PERMANENT | NUD_NOARP);
    ++count_;
    return add ? rtnl_neigh_add(sk_, n.get(), NLM_F_CREATE | NLM_F_APPEND)
               : rtnl_neigh_delete(sk_, n.get(), 0);
  }
  int neighbour(int ifindex, const static_neighbour& sn) {
    nl::neigh_ptr n{rtnl_neigh_alloc()};
    rtnl_neigh_set_ifindex(n.get(), ifindex);
    rtnl_neigh_set_dst(n.get(), nl::to_nl(sn.ip).get());
    rtnl_neigh_set_lladdr(n.get(), nl::to_nl(sn.mac).get());
    rtnl_neigh_set_state(n.get(), NUD_PERMANENT);
    ++count_;
    return rtnl_neigh_add(sk_, n.get(), NLM_F_CREATE | NLM_F_REPLACE);
  }

private:
  nl_sock* sk_;
  int& count_;
};

} // namespace kcr::net::nl
