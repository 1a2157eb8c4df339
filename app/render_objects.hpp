// Internal to app/render*.cpp: the object model every render target describes the device
// configuration in (see render.cpp), and the per-target builders (render_targets.cpp).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "app/render.hpp"

namespace kcr::app::render_detail {

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

/// "255.255.255.0" for 24.
std::string netmask(int prefix);

// "10.244.1.0_24": CIDRs in object names, where '/' is not allowed.
std::string cidr_name(const net::cidr& c);

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

// One builder per target; `entries` are the usable ones (render.cpp), in ConfigMap order.
// Route-only (Type NONE): one route per pod CIDR via its node's IP, nothing else (the device
// reaches the nodes over its own network).
std::vector<object> route_only_objects(const std::vector<kube::node_entry>& entries,
                                       const render_options& o, std::vector<std::string>& warnings);
std::vector<object> linux_objects(const std::vector<kube::node_entry>& entries, const params& p,
                                  const render_options& o, std::vector<std::string>& warnings);
std::vector<object> netscaler_objects(const std::vector<kube::node_entry>& entries, const params& p,
                                      std::vector<std::string>& warnings);
std::vector<object> bigip_objects(const std::vector<kube::node_entry>& entries, const params& p,
                                  std::vector<std::string>& warnings);

} // namespace kcr::app::render_detail
