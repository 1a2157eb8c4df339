// The converge steps for what hangs off the link: its addresses, the VXLAN FDB default entries
// and the permanent neighbour; and reading them from the kernel.
#include <algorithm>
#include <linux/neighbour.h>
#include <sys/socket.h>

#include "net/netlink_steps.hpp"

namespace kcr::net::steps {

namespace {

bool ipv6_link_local(const cidr& c) {
  return c.address().is_v6() && c.address().bytes()[0] == 0xfe &&
         (c.address().bytes()[1] & 0xc0) == 0x80;
}

template <class T>
bool contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Adds the addresses, FDB default destinations and permanent neighbours to `s`.
step_error fill_details(nl_sock* sk, tunnel_state& s) {
  auto addrs = nl::dump_addresses(sk);
  if (!addrs)
    return addrs.error();
  for (const auto& a : addrs.value())
    if (a.ifindex == s.ifindex)
      s.addresses.push_back(a.address);
  if (s.kind != "vxlan")
    return std::nullopt;
  auto fdb = nl::dump_neighbours(sk, AF_BRIDGE);
  if (!fdb)
    return fdb.error();
  for (const auto& e : fdb.value())
    if (e.ifindex == s.ifindex && e.lladdr && e.lladdr->is_zero() && e.dst)
      s.fdb_default_dsts.push_back(*e.dst);
  auto arp = nl::dump_neighbours(sk, AF_INET);
  if (!arp)
    return arp.error();
  for (const auto& e : arp.value())
    if (e.ifindex == s.ifindex && (e.state & NUD_PERMANENT) && e.dst && e.lladdr)
      s.permanent_neighbours.push_back({*e.dst, *e.lladdr});
  return std::nullopt;
}

} // namespace

tunnel_result<tunnel_state> observe(nl_sock* sk, rtnl_link* link) {
  tunnel_state s = link_state(link);
  if (auto err = fill_details(sk, s))
    return *err;
  return s;
}

// Removals before the addition: a new address added beside an old one of the same network
// would be its secondary, and deleting the primary deletes its secondaries (promote_secondaries
// is off by default).
step_error converge_addresses(context& cx, const tunnel_state& cur, const cidr& overlay) {
  const std::string& name = cx.rep.interface;
  for (const auto& a : cur.addresses) {
    if (a == overlay || ipv6_link_local(a))
      continue;
    if (int err = cx.w.address(false, cur.ifindex, a); err < 0)
      return nl::error_from(err, "removing address " + a.to_string() + " from " + name);
    cx.change("removed address " + a.to_string());
  }
  if (contains(cur.addresses, overlay))
    return std::nullopt;
  if (int err = cx.w.address(true, cur.ifindex, overlay); err < 0)
    return nl::error_from(err, "adding address " + overlay.to_string() + " to " + name);
  cx.change("added address " + overlay.to_string());
  return std::nullopt;
}

// One all-zero FDB entry per device VTEP: the kernel sends flooded and unknown-unicast frames to
// each. All-zero entries pointing elsewhere would duplicate traffic to stale VTEPs. Additions
// before removals, so flooded frames always have somewhere to go.
step_error converge_fdb(context& cx, const tunnel_state& cur, const tunnel_spec& spec) {
  if (spec.type != overlay_type::vxlan)
    return std::nullopt;
  const std::string& name = cx.rep.interface;
  const auto want = remotes(spec);
  for (const auto& remote : want) {
    if (contains(cur.fdb_default_dsts, remote))
      continue;
    if (int err = cx.w.fdb(true, cur.ifindex, remote); err < 0)
      return nl::error_from(err,
                            "adding FDB default entry dst " + remote.to_string() + " on " + name);
    cx.change("added FDB 00:00:00:00:00:00 dst " + remote.to_string());
  }
  for (const auto& dst : cur.fdb_default_dsts) {
    if (contains(want, dst))
      continue;
    if (int err = cx.w.fdb(false, cur.ifindex, dst); err < 0)
      return nl::error_from(err, "removing FDB entry dst " + dst.to_string() + " on " + name);
    cx.change("removed FDB 00:00:00:00:00:00 dst " + dst.to_string());
  }
  return std::nullopt;
}

step_error converge_neighbour(context& cx, const tunnel_state& cur, const tunnel_spec& spec) {
  const auto& sn = spec.endpoint_neighbour;
  if (spec.type != overlay_type::vxlan || !sn || contains(cur.permanent_neighbours, *sn))
    return std::nullopt;
  if (int err = cx.w.neighbour(cur.ifindex, *sn); err < 0)
    return nl::error_from(err,
                          "adding neighbour " + sn->ip.to_string() + " on " + cx.rep.interface);
  cx.change("neighbour " + sn->ip.to_string() + " lladdr " + sn->mac.to_string() + " permanent");
  return std::nullopt;
}

} // namespace kcr::net::steps
