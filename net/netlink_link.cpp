// Building the RTM_NEWLINK request for a VXLAN or IPIP tunnel and reading a
// kernel link's tunnel attributes back; the rule for when a link must be
// recreated instead of changed in place.
#include <arpa/inet.h>
#include <linux/if.h>

#include <netlink/route/link.h>
#include <netlink/route/link/ipip.h>
#include <netlink/route/link/vxlan.h>

#include "net/netlink_tunnel.hpp"

namespace kcr::net {

link_request make_link_request(const tunnel_spec& spec, int lower_ifindex, uint32_t lower_mtu) {
  link_request r;
  r.type = spec.type;
  r.name = interface_name(spec);
  r.local = spec.local;
  r.remote = spec.remote;
  r.lower_ifindex = lower_ifindex;
  r.mtu = tunnel_mtu(spec, lower_mtu);
  if (spec.type == overlay_type::vxlan) {
    r.vni = spec.vni;
    r.port = spec.port;
    r.mac = interface_mac(spec);
  } else {
    r.ttl = spec.ttl;
  }
  return r;
}

nl::link_ptr build_link(const link_request& req) {
  const bool vxlan = req.type == overlay_type::vxlan;
  nl::link_ptr link{vxlan ? rtnl_link_vxlan_alloc() : rtnl_link_ipip_alloc()};
  if (!link)
    return link;
  rtnl_link* l = link.get();
  rtnl_link_set_name(l, req.name.c_str());
  // The ownership mark: only interfaces carrying it are ever changed or deleted.
  rtnl_link_set_ifalias(l, std::string(ownership_alias).c_str());
  rtnl_link_set_mtu(l, req.mtu);
  if (vxlan) {
    rtnl_link_vxlan_set_id(l, req.vni);
    rtnl_link_vxlan_set_port(l, req.port);
    rtnl_link_vxlan_set_local(l, nl::to_nl(req.local).get());
    // Lower device of a VXLAN is IFLA_VXLAN_LINK, not IFLA_LINK.
    rtnl_link_vxlan_set_link(l, uint32_t(req.lower_ifindex));
    // The only remote is the FDB default entry; learning would only add
    // dynamic entries nobody asked for.
    rtnl_link_vxlan_set_learning(l, 0);
    if (req.mac)
      rtnl_link_set_addr(l, nl::to_nl(*req.mac).get());
  } else {
    rtnl_link_ipip_set_local(l, htonl(req.local.v4_value()));
    rtnl_link_ipip_set_remote(l, htonl(req.remote.v4_value()));
    rtnl_link_ipip_set_link(l, uint32_t(req.lower_ifindex));
    rtnl_link_ipip_set_ttl(l, req.ttl);
    // Path MTU discovery on, as `ip tunnel` does by default.
    rtnl_link_ipip_set_pmtudisc(l, 1);
  }
  return link;
}

tunnel_state link_state(rtnl_link* l) {
  tunnel_state s;
  if (const char* n = rtnl_link_get_name(l))
    s.name = n;
  s.ifindex = rtnl_link_get_ifindex(l);
  if (const char* k = rtnl_link_get_type(l))
    s.kind = k;
  if (const char* a = rtnl_link_get_ifalias(l))
    s.alias = a;
  s.ours = s.alias == ownership_alias;
  s.up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
  s.mtu = rtnl_link_get_mtu(l);
  s.mac = nl::mac_from(rtnl_link_get_addr(l));
  if (s.kind == "vxlan" && rtnl_link_is_vxlan(l)) {
    uint32_t v = 0;
    if (rtnl_link_vxlan_get_id(l, &v) == 0)
      s.vni = v;
    if (rtnl_link_vxlan_get_port(l, &v) == 0)
      s.port = uint16_t(v);
    if (rtnl_link_vxlan_get_link(l, &v) == 0)
      s.lower_ifindex = int(v);
    nl_addr* local = nullptr;
    if (rtnl_link_vxlan_get_local(l, &local) == 0) {
      nl::addr_ptr owned{local};
      s.local = nl::ip_from(local);
    }
  } else if (s.kind == "ipip" && rtnl_link_is_ipip(l)) {
    s.local = ip_address::v4(ntohl(rtnl_link_ipip_get_local(l)));
    s.remote = ip_address::v4(ntohl(rtnl_link_ipip_get_remote(l)));
    s.lower_ifindex = int(rtnl_link_ipip_get_link(l));
    s.ttl = rtnl_link_ipip_get_ttl(l);
  }
  return s;
}

std::optional<std::string> recreate_reason(const tunnel_state& cur, const link_request& want) {
  const std::string kind(flag_name(want.type));
  if (cur.kind != kind)
    return "type " + (cur.kind.empty() ? std::string("unknown") : cur.kind) + " -> " + kind;
  auto ip_text = [](const std::optional<ip_address>& ip) {
    return ip ? ip->to_string() : std::string("none");
  };
  if (!cur.local || *cur.local != want.local)
    return "local " + ip_text(cur.local) + " -> " + want.local.to_string();
  if (cur.lower_ifindex != want.lower_ifindex)
    return "lower device #" + std::to_string(cur.lower_ifindex) + " -> #" +
           std::to_string(want.lower_ifindex);
  if (want.type == overlay_type::vxlan) {
    if (cur.vni != want.vni)
      return "VNI " + std::to_string(cur.vni) + " -> " + std::to_string(want.vni);
    if (cur.port != want.port)
      return "port " + std::to_string(cur.port) + " -> " + std::to_string(want.port);
  } else {
    if (!cur.remote || *cur.remote != want.remote)
      return "remote " + ip_text(cur.remote) + " -> " + want.remote.to_string();
    if (cur.ttl != want.ttl)
      return "ttl " + std::to_string(cur.ttl) + " -> " + std::to_string(want.ttl);
  }
  return std::nullopt;
}

} // namespace kcr::net
