// Device configuration from the published ConfigMap (see render.hpp).
//
// Each target describes the device configuration as a list of objects in apply order, each with
// an identity, the commands that create it, the commands that remove it and the objects it
// depends on. A full render prints every object's creation; a diff compares two such lists by
// identity, so the per-target code never has to reason about changes. The targets' builders are
// in render_targets.cpp; here: what the state and options resolve to, and the diff.
#include "app/render.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "app/render_objects.hpp"

namespace kcr::app {

using namespace render_detail;

namespace {

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
