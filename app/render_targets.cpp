// The render targets: each turns the usable node entries into device objects (render_objects.hpp)
// in apply order, with the commands that create and remove them.
#include "app/render_objects.hpp"

namespace kcr::app::render_detail {

std::string netmask(int prefix) {
  uint32_t bits = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return net::ip_address::v4(bits).to_string();
}

// "10.244.1.0_24": CIDRs in object names, where '/' is not allowed.
std::string cidr_name(const net::cidr& c) {
  return c.network().address().to_string() + "_" + std::to_string(c.prefix());
}

// Route-only (Type NONE): one route per pod CIDR via its node's IP, nothing else (the device
// reaches the nodes over its own network).
std::vector<object> route_only_objects(const std::vector<kube::node_entry>& entries,
                                       const render_options& o,
                                       std::vector<std::string>& warnings) {
  object_list list{warnings};
  const std::string t = "tmsh ";
  for (const auto& e : entries) {
    std::string who = "node " + e.node_ip.to_string();
    auto via = e.node_ip.to_string();
    for (const auto& c : e.pod_cidrs) {
      object route{"route " + c.to_string(), {}, {}, {}, false};
      switch (o.target) {
      case render_target::linux_host: {
        auto dev = o.underlay_dev.empty() ? std::string{} : " dev " + o.underlay_dev;
        route.add = {"ip route replace " + c.to_string() + " via " + via + dev};
        route.del = {"ip route del " + c.to_string() + " via " + via + dev};
        break;
      }
      case render_target::netscaler: {
        // IPv4: add route <network> <netmask> <gateway>; IPv6: add route6 <prefix> <gateway>.
        auto args = c.address().is_v4()
                        ? c.address().to_string() + " " + netmask(c.prefix()) + " " + via
                        : c.to_string() + " " + via;
        auto cmd = c.address().is_v4() ? std::string{"route "} : std::string{"route6 "};
        route.add = {"add " + cmd + args};
        route.del = {"rm " + cmd + args};
        break;
      }
      case render_target::bigip:
        route.add = {t + "create net route kcr-" + cidr_name(c) + " network " + c.to_string() +
                     " gw " + via};
        route.del = {t + "delete net route kcr-" + cidr_name(c)};
        break;
      }
      list.add(std::move(route), who);
    }
  }
  return list.take();
}

// ---------------------------------------------------------------- linux (iproute2)

std::vector<object> linux_objects(const std::vector<kube::node_entry>& entries, const params& p,
                                  const render_options& o, std::vector<std::string>& warnings) {
  const std::string& dev = o.device_interface;
  const std::string on_dev = " dev " + dev;
  object_list list{warnings};
  bool vxlan = p.type == net::overlay_type::vxlan;

  std::string link_add = "ip link add " + dev;
  // Before `type`: iproute2 reads every word after `type vxlan` as a VXLAN argument and rejects
  // `address` there.
  if (vxlan && o.device_mac)
    link_add += " address " + o.device_mac->to_string();
  if (vxlan)
    link_add += " type vxlan id " + std::to_string(p.vni) + " dstport " + std::to_string(p.port) +
                " local " + p.local.to_string() + " nolearning";
  else
    link_add += " type ipip local " + p.local.to_string(); // no remote: point to multipoint
  if (!o.underlay_dev.empty())
    link_add += " dev " + o.underlay_dev;
  list.add({"link", {}, {link_add, "ip link set " + dev + " up"}, {"ip link del " + dev}, false});
  auto address = p.endpoint.to_string() + "/" + std::to_string(p.prefix);
  list.add({"address",
            {"link"},
            {"ip addr add " + address + on_dev},
            {"ip addr del " + address + on_dev},
            true});

  for (const auto& e : entries) {
    std::string who = "node " + e.node_ip.to_string();
    auto node_ip = e.node_ip.to_string();
    auto overlay = e.overlay_ip.to_string();
    // VXLAN routes via the node's overlay IP, resolved by a static neighbour to the node's tunnel
    // MAC, which the FDB maps to the node's VTEP. IPIP routes encapsulate to the next hop itself.
    auto gateway = vxlan ? overlay : node_ip;
    if (vxlan) {
      auto mac = e.effective_mac().to_string();
      list.add({"fdb " + mac,
                {"link"},
                {"bridge fdb append " + mac + on_dev + " dst " + node_ip},
                {"bridge fdb del " + mac + on_dev + " dst " + node_ip},
                true},
               who);
      list.add({"neigh " + overlay,
                {"link"},
                {"ip neigh replace " + overlay + " lladdr " + mac + on_dev + " nud permanent"},
                {"ip neigh del " + overlay + on_dev},
                true},
               who);
    }
    for (const auto& c : e.pod_cidrs)
      list.add({"route " + c.to_string(),
                {"link"},
                {"ip route replace " + c.to_string() + " via " + gateway + on_dev + " onlink"},
                {"ip route del " + c.to_string() + " via " + gateway + on_dev},
                true},
               who);
  }
  return list.take();
}

// ---------------------------------------------------------------- Citrix ADC / NetScaler CLI

namespace {

// The VXLAN bound to the device's VTEP (VXLAN only) and the SNIP on the overlay.
void add_netscaler_device(object_list& list, const params& p) {
  auto vni = std::to_string(p.vni);
  auto local = p.local.to_string();
  if (p.type == net::overlay_type::vxlan) {
    list.add({"vxlan",
              {},
              {"add vxlan " + vni + " -port " + std::to_string(p.port)},
              {"rm vxlan " + vni}});
    list.add({"vxlan source",
              {"vxlan"},
              {"bind vxlan " + vni + " -SrcIP " + local},
              {"unbind vxlan " + vni + " -SrcIP " + local}});
  }
  auto snip = p.endpoint.to_string();
  list.add({"snip",
            {},
            {"add ns ip " + snip + " " + netmask(p.prefix) + " -vServer DISABLED"},
            {"rm ns ip " + snip}});
}

// VXLAN: the node's MAC behind its VTEP, its overlay IP's ARP entry, a route per pod CIDR.
void add_netscaler_vxlan_node(object_list& list, const kube::node_entry& e, const params& p) {
  std::string who = "node " + e.node_ip.to_string();
  auto overlay = e.overlay_ip.to_string();
  auto mac = e.effective_mac().to_string();
  auto on_vtep = " -vxlan " + std::to_string(p.vni) + " -vtep " + e.node_ip.to_string();
  list.add({"bridgetable " + mac,
            {"vxlan"},
            {"add bridgetable -mac " + mac + on_vtep},
            {"rm bridgetable -mac " + mac + on_vtep}},
           who);
  list.add({"arp " + overlay,
            {"vxlan"},
            {"add arp -IPAddress " + overlay + " -mac " + mac + on_vtep},
            {"rm arp " + overlay}},
           who);
  for (const auto& c : e.pod_cidrs) {
    auto route = c.address().to_string() + " " + netmask(c.prefix()) + " " + overlay;
    list.add({"route " + c.to_string(), {"snip"}, {"add route " + route}, {"rm route " + route}},
             who);
  }
}

// IPIP: one tunnel per node; a policy-based route sends each pod CIDR into its node's tunnel
// (plain routes cannot name an IP tunnel). PBRs take effect with `apply ns pbrs`.
void add_netscaler_ipip_node(object_list& list, const kube::node_entry& e, const params& p) {
  std::string who = "node " + e.node_ip.to_string();
  auto node_ip = e.node_ip.to_string();
  auto tunnel = "kcr-" + node_ip;
  list.add({"iptunnel " + tunnel,
            {"snip"},
            {"add iptunnel " + tunnel + " " + node_ip + " 255.255.255.255 " + p.local.to_string()},
            {"rm iptunnel " + tunnel}},
           who);
  for (const auto& c : e.pod_cidrs) {
    auto name = "kcr-" + cidr_name(c);
    auto range = c.address().to_string() + "-" + net::ip_address::v4(c.v4_last()).to_string();
    list.add({"route " + c.to_string(),
              {"iptunnel " + tunnel},
              {"add ns pbr " + name + " ALLOW -destIP = " + range + " -ipTunnel " + tunnel},
              {"rm ns pbr " + name}},
             who);
  }
}

} // namespace

std::vector<object> netscaler_objects(const std::vector<kube::node_entry>& entries, const params& p,
                                      std::vector<std::string>& warnings) {
  object_list list{warnings};
  add_netscaler_device(list, p);
  for (const auto& e : entries) {
    if (p.type == net::overlay_type::vxlan)
      add_netscaler_vxlan_node(list, e, p);
    else
      add_netscaler_ipip_node(list, e, p);
  }
  return list.take();
}

// ---------------------------------------------------------------- F5 BIG-IP tmsh

namespace {

const std::string tmsh = "tmsh ";

// VXLAN: the profile, the tunnel from the device's VTEP and the self IP on the overlay.
void add_bigip_vxlan_device(object_list& list, const params& p) {
  const std::string& t = tmsh;
  list.add({"profile",
            {},
            {t + "create net tunnels vxlan kcr-vxlan-profile port " + std::to_string(p.port) +
             " flooding-type none"},
            {t + "delete net tunnels vxlan kcr-vxlan-profile"}});
  list.add({"tunnel",
            {"profile"},
            {t + "create net tunnels tunnel kcr-tunnel key " + std::to_string(p.vni) +
             " profile kcr-vxlan-profile local-address " + p.local.to_string()},
            {t + "delete net tunnels tunnel kcr-tunnel"}});
  auto address = p.endpoint.to_string() + "/" + std::to_string(p.prefix);
  list.add(
      {"self",
       {"tunnel"},
       {t + "create net self kcr-self address " + address + " vlan kcr-tunnel allow-service none"},
       {t + "delete net self kcr-self"}});
}

// How a node's pod routes leave the device: their parent object and the route's via part.
struct bigip_route_via {
  std::string parent;
  std::string via;
};

// VXLAN: the node's MAC behind its VTEP and its overlay IP's ARP entry; routes via the overlay IP.
bigip_route_via add_bigip_vxlan_node(object_list& list, const kube::node_entry& e) {
  const std::string& t = tmsh;
  std::string who = "node " + e.node_ip.to_string();
  auto overlay = e.overlay_ip.to_string();
  auto mac = e.effective_mac().to_string();
  list.add({"fdb " + mac,
            {"tunnel"},
            {t + "modify net fdb tunnel kcr-tunnel records add { " + mac + " { endpoint " +
             e.node_ip.to_string() + " } }"},
            {t + "modify net fdb tunnel kcr-tunnel records delete { " + mac + " }"}},
           who);
  list.add(
      {"arp " + overlay,
       {"tunnel"},
       {t + "create net arp kcr-" + overlay + " ip-address " + overlay + " mac-address " + mac},
       {t + "delete net arp kcr-" + overlay}},
      who);
  return {"self", " gw " + overlay};
}

// IPIP: a point-to-point tunnel per node; routes name it as their interface.
bigip_route_via add_bigip_ipip_node(object_list& list, const kube::node_entry& e, const params& p) {
  auto node_ip = e.node_ip.to_string();
  auto tunnel = "kcr-ipip-" + node_ip;
  bigip_route_via r{"tunnel " + tunnel, " interface " + tunnel};
  list.add({r.parent,
            {},
            {tmsh + "create net tunnels tunnel " + tunnel + " profile ipip local-address " +
             p.local.to_string() + " remote-address " + node_ip},
            {tmsh + "delete net tunnels tunnel " + tunnel}},
           "node " + node_ip);
  return r;
}

} // namespace

std::vector<object> bigip_objects(const std::vector<kube::node_entry>& entries, const params& p,
                                  std::vector<std::string>& warnings) {
  object_list list{warnings};
  bool vxlan = p.type == net::overlay_type::vxlan;
  if (vxlan)
    add_bigip_vxlan_device(list, p);
  for (const auto& e : entries) {
    auto r = vxlan ? add_bigip_vxlan_node(list, e) : add_bigip_ipip_node(list, e, p);
    for (const auto& c : e.pod_cidrs) {
      auto name = "kcr-" + cidr_name(c);
      list.add({"route " + c.to_string(),
                {r.parent},
                {tmsh + "create net route " + name + " network " + c.to_string() + r.via},
                {tmsh + "delete net route " + name}},
               "node " + e.node_ip.to_string());
    }
  }
  return list.take();
}

} // namespace kcr::app::render_detail
