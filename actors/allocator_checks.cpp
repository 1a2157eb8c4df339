// The allocator's checks before a Node gets an entry: usable addresses and ranges, no
// underlay IP published by another Node, pod ranges that may be published (net/pod_ranges rules
// plus what only the allocator knows: other Nodes' addresses and published ranges); a node that
// fails one waits, said once (log, Event, the nodes_waiting and pod_ranges_refused metrics).
// See allocator.hpp.
#include <spdlog/spdlog.h>

#include "actors/allocator.hpp"
#include "actors/text.hpp"

namespace kcr::actors {

namespace {

const char* not_ready_kind(const kube::entry_inputs& n) {
  return n.underlay_ip ? "no-pod-range" : "no-address";
}

std::string why_not_ready(const kube::entry_inputs& n) {
  if (!n.problems.empty())
    return join(n.problems);
  if (!n.underlay_ip)
    return "Node " + n.name + " has no usable InternalIP/ExternalIP address";
  return "Node " + n.name + " has no pod CIDR (spec.podCIDRs, spec.podCIDR or a CNI annotation)";
}

} // namespace

std::optional<std::string> allocator_state::held_back(const std::string& name,
                                                      const kube::entry_inputs& node,
                                                      allocator_outbox& out) {
  if (!node.ready_for_entry()) {
    // Keep an address it already holds (stable across the gap); give it none until it is usable.
    set_waiting(name, not_ready_kind(node), why_not_ready(node), false, out);
    note_refusal(name, nullptr);
    return why_not_ready(node);
  }
  // Two Nodes reporting one underlay IP would share the Node-<ip> keys: the first one keeps it.
  if (auto owner = by_node_ip.find(*node.underlay_ip);
      owner != by_node_ip.end() && owner->second != name) {
    note_refusal(name, nullptr); // its ranges are not judged while it waits for this
    set_waiting(name, "duplicate-ip",
                "Node " + name + " reports underlay IP " + node.underlay_ip->to_string() +
                    ", which Node " + owner->second + " already publishes",
                true, out);
    return "duplicate underlay IP";
  }
  auto refusal = refuse_ranges(name, node);
  note_refusal(name, refusal ? &*refusal : nullptr);
  if (refusal) {
    set_waiting(name, "pod-range-refused",
                "pod range " + refusal->range.to_string() + " of Node " + name +
                    " refused: " + refusal->why.detail + "; the node's entry waits",
                true, out, "PodRangeRefused");
    return "pod range refused";
  }
  return std::nullopt;
}

void allocator_state::set_waiting(const std::string& name, const char* kind,
                                  const std::string& reason, bool warn, allocator_outbox& out,
                                  const char* event_reason) {
  auto& current = waiting[name];
  current.kind = kind;
  if (current.text == reason)
    return; // logged once, not per sync
  current.text = reason;
  spdlog::warn("allocator: entry of Node {} waits: {}", name, reason);
  if (warn) {
    auto n = nodes.find(name);
    out.events.push_back(
        {name, n == nodes.end() ? "" : n->second.uid, true,
         current.kind == "pool-exhausted" ? "OverlayNetworkExhausted" : event_reason, reason});
  }
}

std::optional<allocator_state::range_refused>
allocator_state::refuse_ranges(const std::string& name, const kube::entry_inputs& node) const {
  const net::range_rules rules{settings.pod_networks, settings.overlay_network};
  for (const auto& range : node.pod_cidrs) {
    auto refuse = [&](std::string reason, std::string detail) {
      return range_refused{range, {std::move(reason), std::move(detail)}};
    };
    if (auto why = net::check_range(range, rules))
      return range_refused{range, *why};
    // Node addresses are sorted: the first at or after the range's start is the only candidate.
    if (auto it = node_ips.lower_bound(range.network().address());
        it != node_ips.end() && range.contains(it->first))
      return refuse("node-ip", "contains the underlay address " + it->first.to_string() +
                                   " of Node " + it->second);
    if (range.contains(settings.remote_vtep))
      return refuse("device-ip",
                    "contains the device's address " + settings.remote_vtep.to_string());
    if (auto c = range_owners.find_conflict(range, name))
      return refuse("overlap", "overlaps " + c->range.to_string() + ", which Node " + c->owner +
                                   " already publishes");
  }
  return std::nullopt;
}

void allocator_state::note_refusal(const std::string& name, const range_refused* r) {
  auto it = refused.find(name);
  std::string label = r ? r->range.to_string() + " " + r->why.reason : "";
  if (it != refused.end() && it->second == label)
    return;
  if (tel && it != refused.end())
    tel->metrics.pod_range_cleared(name);
  if (!r) {
    if (it != refused.end())
      refused.erase(it);
    return;
  }
  refused[name] = label;
  if (tel)
    tel->metrics.pod_range_refused(name, r->range.to_string(), r->why.reason);
}

void allocator_state::track_node_ip(const std::string& name, const kube::entry_inputs* node) {
  if (auto old = nodes.find(name); old != nodes.end() && old->second.underlay_ip) {
    auto [first, last] = node_ips.equal_range(*old->second.underlay_ip);
    for (auto it = first; it != last; ++it)
      if (it->second == name) {
        node_ips.erase(it);
        break;
      }
  }
  if (node && node->underlay_ip)
    node_ips.emplace(*node->underlay_ip, name);
}

} // namespace kcr::actors
