// Device configuration from the published ConfigMap (see render.hpp).
//
// Each target describes the device configuration as a list of objects in apply order, each with
// an identity, the commands that create it, the commands that remove it and the objects it
// depends on. A full render prints every object's creation; a diff compares two such lists by
// identity, so the per-target code never has to reason about changes.
#include "app/render.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace kcr::app {

namespace {

struct object {
  std::string id;                   // what it is on the device, e.g. "route 10.244.1.0/24"
  std::vector<std::string> parents; // removing/recreating a parent does the same to this
  std::vector<std::string> add;
  std::vector<std::string> del;
  /// Removing a parent removes this too (Linux: deleting the link takes its routes, neighbours
  /// and FDB entries along), so no commands of its own are needed then.
  bool gone_with_parent = false;
};

// Everything a target needs, resolved from the state and the options.
struct params {
  net::overlay_type type = net::overlay_type::vxlan;
  net::ip_address endpoint;
  int prefix = 24;
  net::ip_address local; // unset in route-only mode without a RemoteVTEP or --local-ip
  uint32_t vni = 1;
  uint16_t port = 4789;
};

std::string netmask(int prefix) {
  uint32_t bits = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return net::ip_address::v4(bits).to_string();
}

// "10.244.1.0_24": CIDRs in object names, where '/' is not allowed.
std::string cidr_name(const net::cidr& c) {
  return c.network().address().to_string() + "_" + std::to_string(c.prefix());
}

void check_interface_name(const char* flag, const std::string& name) {
  bool bad = name.empty() || name.size() > 15 ||
             name.find_first_of("/: \t\n") != std::string::npos || name == "." || name == "..";
  if (bad)
    throw render_error(std::string{flag} + " \"" + name +
                       "\": expected an interface name of 1 to 15 characters without '/', ':' "
                       "or spaces");
}

// This device's VTEP: --local-ip, else the ConfigMap's only RemoteVTEP. With several devices
// (RemoteVTEPs) each renders its own side, so it must say which one it is.
std::optional<net::ip_address> device_vtep(const kube::published_state& s,
                                           const render_options& o) {
  std::string list;
  for (const auto& ip : s.remote_vteps)
    list += (list.empty() ? "" : ", ") + ip.to_string();
  if (o.local_ip) {
    if (!s.remote_vteps.empty() && std::find(s.remote_vteps.begin(), s.remote_vteps.end(),
                                             *o.local_ip) == s.remote_vteps.end())
      throw render_error("--local-ip " + o.local_ip->to_string() +
                         " is not one of the ConfigMap's RemoteVTEPs (" + list +
                         "): the nodes send to those only");
    return o.local_ip;
  }
  if (s.remote_vteps.size() > 1)
    throw render_error("the ConfigMap lists several device VTEPs (RemoteVTEPs " + list +
                       "): give --local-ip with this device's");
  return s.remote_vtep;
}

params resolve(const kube::published_state& s, const render_options& o) {
  params p;
  p.type = s.type.value_or(net::overlay_type::vxlan);
  if (!s.endpoint_ip)
    throw render_error("the ConfigMap has no EndpointIP: expected the device's overlay IP");
  p.endpoint = *s.endpoint_ip;
  if (!p.endpoint.is_v4())
    throw render_error("EndpointIP " + p.endpoint.to_string() +
                       ": expected an IPv4 address (the overlay is IPv4)");
  if (s.network)
    p.prefix = s.network->prefix();
  auto local = device_vtep(s, o);
  if (!local) {
    if (p.type == net::overlay_type::none)
      return p; // route-only: routes via node IPs need no device address
    throw render_error("no device underlay IP: the ConfigMap has no RemoteVTEP; give --local-ip");
  }
  p.local = *local;
  if (p.type == net::overlay_type::ipip && !p.local.is_v4())
    throw render_error("device underlay IP " + p.local.to_string() +
                       ": expected an IPv4 address (IPIP carries IPv4 only)");
  p.vni = o.vni.value_or(s.vni.value_or(1));
  p.port = o.port.value_or(s.port.value_or(4789));
  if (o.target == render_target::linux_host) {
    check_interface_name("--device-interface", o.device_interface);
    if (!o.underlay_dev.empty())
      check_interface_name("--underlay-dev", o.underlay_dev);
  }
  return p;
}

// Collects objects in order, skipping (with a warning) a second object of the same identity,
// e.g. one pod CIDR published for two nodes: the first node keeps it.
class object_list {
public:
  explicit object_list(std::vector<std::string>& warnings) : warnings_(warnings) {}

  void add(object o, const std::string& who = {}) {
    if (!ids_.insert(o.id).second) {
      warnings_.push_back(who + ": " + o.id + " is already configured for another node: skipped");
      return;
    }
    objects_.push_back(std::move(o));
  }
  std::vector<object> take() { return std::move(objects_); }

private:
  std::vector<std::string>& warnings_;
  std::set<std::string> ids_;
  std::vector<object> objects_;
};

// Route-only: every pod CIDR of the node's own address family goes via the node IP (no overlay,
// so IPv6 works too); the overlay IPs are not used.
std::vector<kube::node_entry> route_only_entries(const kube::published_state& s,
                                                 std::vector<std::string>& warnings) {
  std::vector<kube::node_entry> out;
  for (auto e : s.entries) {
    std::vector<net::cidr> same_family;
    for (const auto& c : e.pod_cidrs) {
      if (c.address().is_v4() == e.node_ip.is_v4())
        same_family.push_back(c.network());
      else
        warnings.push_back("node " + e.node_ip.to_string() + ": pod CIDR " + c.to_string() +
                           " skipped: not the address family of the node IP");
    }
    e.pod_cidrs = std::move(same_family);
    out.push_back(std::move(e));
  }
  return out;
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

// The node entries the device can use, with the pod CIDRs it can route (IPv4 only: the
// overlay and IPIP carry IPv4; an IPv6 underlay works only with an IPv6 device VTEP).
std::vector<kube::node_entry> usable_entries(const kube::published_state& s, const params& p,
                                             std::vector<std::string>& warnings) {
  std::vector<kube::node_entry> out;
  std::set<net::ip_address> overlay_ips;
  if (p.type == net::overlay_type::none)
    return route_only_entries(s, warnings);
  for (auto e : s.entries) {
    std::string who = "node " + e.node_ip.to_string();
    // A second node with the same overlay IP would steal the first one's next hop.
    if (!overlay_ips.insert(e.overlay_ip).second) {
      warnings.push_back(who + ": overlay IP " + e.overlay_ip.to_string() +
                         " is already another node's: skipped");
      continue;
    }
    if (!e.overlay_ip.is_v4()) {
      warnings.push_back(who + ": overlay IP " + e.overlay_ip.to_string() +
                         " is not IPv4: skipped");
      continue;
    }
    if (e.node_ip.is_v4() != p.local.is_v4()) {
      warnings.push_back(who + ": its address family differs from the device underlay IP " +
                         p.local.to_string() + ": skipped");
      continue;
    }
    std::vector<net::cidr> v4;
    for (const auto& c : e.pod_cidrs) {
      if (c.address().is_v4())
        v4.push_back(c.network());
      else
        warnings.push_back(who + ": pod CIDR " + c.to_string() +
                           " skipped: the overlay routes IPv4 only");
    }
    e.pod_cidrs = std::move(v4);
    out.push_back(std::move(e));
  }
  return out;
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

std::vector<object> netscaler_objects(const std::vector<kube::node_entry>& entries, const params& p,
                                      std::vector<std::string>& warnings) {
  object_list list{warnings};
  auto vni = std::to_string(p.vni);
  auto local = p.local.to_string();
  bool vxlan = p.type == net::overlay_type::vxlan;
  if (vxlan) {
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

  for (const auto& e : entries) {
    std::string who = "node " + e.node_ip.to_string();
    auto node_ip = e.node_ip.to_string();
    auto overlay = e.overlay_ip.to_string();
    if (vxlan) {
      auto mac = e.effective_mac().to_string();
      auto on_vtep = " -vxlan " + vni + " -vtep " + node_ip;
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
        list.add(
            {"route " + c.to_string(), {"snip"}, {"add route " + route}, {"rm route " + route}},
            who);
      }
      continue;
    }
    // IPIP: one tunnel per node; a policy-based route sends each pod CIDR into its node's tunnel
    // (plain routes cannot name an IP tunnel). PBRs take effect with `apply ns pbrs`.
    auto tunnel = "kcr-" + node_ip;
    list.add({"iptunnel " + tunnel,
              {"snip"},
              {"add iptunnel " + tunnel + " " + node_ip + " 255.255.255.255 " + local},
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
  return list.take();
}

// ---------------------------------------------------------------- F5 BIG-IP tmsh

std::vector<object> bigip_objects(const std::vector<kube::node_entry>& entries, const params& p,
                                  std::vector<std::string>& warnings) {
  object_list list{warnings};
  const std::string t = "tmsh ";
  auto local = p.local.to_string();
  bool vxlan = p.type == net::overlay_type::vxlan;
  if (vxlan) {
    list.add({"profile",
              {},
              {t + "create net tunnels vxlan kcr-vxlan-profile port " + std::to_string(p.port) +
               " flooding-type none"},
              {t + "delete net tunnels vxlan kcr-vxlan-profile"}});
    list.add({"tunnel",
              {"profile"},
              {t + "create net tunnels tunnel kcr-tunnel key " + std::to_string(p.vni) +
               " profile kcr-vxlan-profile local-address " + local},
              {t + "delete net tunnels tunnel kcr-tunnel"}});
    auto address = p.endpoint.to_string() + "/" + std::to_string(p.prefix);
    list.add({"self",
              {"tunnel"},
              {t + "create net self kcr-self address " + address +
               " vlan kcr-tunnel allow-service none"},
              {t + "delete net self kcr-self"}});
  }
  for (const auto& e : entries) {
    std::string who = "node " + e.node_ip.to_string();
    auto node_ip = e.node_ip.to_string();
    auto overlay = e.overlay_ip.to_string();
    std::string route_via;
    std::string route_parent;
    if (vxlan) {
      auto mac = e.effective_mac().to_string();
      list.add({"fdb " + mac,
                {"tunnel"},
                {t + "modify net fdb tunnel kcr-tunnel records add { " + mac + " { endpoint " +
                 node_ip + " } }"},
                {t + "modify net fdb tunnel kcr-tunnel records delete { " + mac + " }"}},
               who);
      list.add(
          {"arp " + overlay,
           {"tunnel"},
           {t + "create net arp kcr-" + overlay + " ip-address " + overlay + " mac-address " + mac},
           {t + "delete net arp kcr-" + overlay}},
          who);
      route_via = " gw " + overlay;
      route_parent = "self";
    } else {
      // IPIP: a point-to-point tunnel per node; routes name it as their interface.
      auto tunnel = "kcr-ipip-" + node_ip;
      route_via = " interface " + tunnel;
      route_parent = "tunnel " + tunnel;
      list.add({route_parent,
                {},
                {t + "create net tunnels tunnel " + tunnel + " profile ipip local-address " +
                 local + " remote-address " + node_ip},
                {t + "delete net tunnels tunnel " + tunnel}},
               who);
    }
    for (const auto& c : e.pod_cidrs) {
      auto name = "kcr-" + cidr_name(c);
      list.add({"route " + c.to_string(),
                {route_parent},
                {t + "create net route " + name + " network " + c.to_string() + route_via},
                {t + "delete net route " + name}},
               who);
    }
  }
  return list.take();
}

std::vector<object> objects(const kube::published_state& s, const render_options& o,
                            std::vector<std::string>& warnings) {
  auto p = resolve(s, o);
  auto entries = usable_entries(s, p, warnings);
  if (p.type == net::overlay_type::none)
    return route_only_objects(entries, o, warnings);
  switch (o.target) {
  case render_target::linux_host:
    return linux_objects(entries, p, o, warnings);
  case render_target::netscaler:
    return netscaler_objects(entries, p, warnings);
  case render_target::bigip:
    return bigip_objects(entries, p, warnings);
  }
  return {};
}

// NetScaler applies added or removed PBRs only on `apply ns pbrs`.
void finish(render_target target, std::vector<std::string>& commands) {
  if (target != render_target::netscaler)
    return;
  bool pbr = std::any_of(commands.begin(), commands.end(), [](const std::string& c) {
    return c.starts_with("add ns pbr ") || c.starts_with("rm ns pbr ");
  });
  if (pbr)
    commands.push_back("apply ns pbrs");
}

bool any_parent_in(const object& o, const std::set<std::string>& ids) {
  return std::any_of(o.parents.begin(), o.parents.end(),
                     [&](const std::string& p) { return ids.count(p) != 0; });
}

} // namespace

std::string_view target_name(render_target t) {
  switch (t) {
  case render_target::linux_host:
    return "linux";
  case render_target::netscaler:
    return "netscaler";
  case render_target::bigip:
    return "bigip";
  }
  return "?";
}

std::optional<render_target> parse_render_target(std::string_view text) {
  for (auto t : {render_target::linux_host, render_target::netscaler, render_target::bigip})
    if (text == target_name(t))
      return t;
  return std::nullopt;
}

rendered render(const kube::published_state& state, const render_options& opts) {
  rendered r;
  for (auto& o : objects(state, opts, r.warnings))
    for (auto& c : o.add)
      r.commands.push_back(std::move(c));
  finish(opts.target, r.commands);
  return r;
}

rendered render_diff(const kube::published_state& old_state, const kube::published_state& new_state,
                     const render_options& opts) {
  std::vector<std::string> old_warnings;
  auto before = objects(old_state, opts, old_warnings);
  rendered r;
  auto after = objects(new_state, opts, r.warnings);

  std::map<std::string, const object*> after_by_id;
  for (const auto& o : after)
    after_by_id.emplace(o.id, &o);

  // Parents come before their children, so one pass in apply order sees every cascade.
  std::set<std::string> removed;
  for (const auto& o : before) {
    auto it = after_by_id.find(o.id);
    if (it == after_by_id.end() || it->second->add != o.add || any_parent_in(o, removed))
      removed.insert(o.id);
  }
  std::set<std::string> before_ids;
  for (const auto& o : before)
    before_ids.insert(o.id);

  for (auto it = before.rbegin(); it != before.rend(); ++it) {
    if (removed.count(it->id) == 0 || (it->gone_with_parent && any_parent_in(*it, removed)))
      continue;
    r.commands.insert(r.commands.end(), it->del.begin(), it->del.end());
  }
  std::set<std::string> added;
  for (const auto& o : after) {
    if (before_ids.count(o.id) != 0 && removed.count(o.id) == 0 && !any_parent_in(o, added))
      continue;
    added.insert(o.id);
    r.commands.insert(r.commands.end(), o.add.begin(), o.add.end());
  }
  finish(opts.target, r.commands);
  return r;
}

} // namespace kcr::app
