// Pod range checks: see pod_ranges.hpp.
#include "net/pod_ranges.hpp"

#include <algorithm>
#include <iterator>

namespace kcr::net {

bool overlaps(const cidr& a, const cidr& b) {
  return a.contains(b.network().address()) || b.contains(a.network().address());
}

std::optional<range_refusal> check_range(const cidr& range, const range_rules& rules) {
  auto r = range.network();
  if (!rules.pod_networks.empty()) {
    bool inside = false;
    for (const auto& net : rules.pod_networks)
      inside = inside || (net.contains(r.address()) && net.prefix() <= r.prefix());
    if (!inside) {
      std::string nets;
      for (const auto& net : rules.pod_networks)
        nets += (nets.empty() ? "" : ", ") + net.to_string();
      return range_refusal{"outside-pod-network", "outside the pod network (" + nets + ")"};
    }
  } else {
    int widest = r.address().is_v4() ? max_width_v4 : max_width_v6;
    if (r.prefix() < widest)
      return range_refusal{"too-wide", "wider than /" + std::to_string(widest) +
                                           " (set --pod-network to allow wider ranges inside it)"};
  }
  if (overlaps(r, rules.overlay_network))
    return range_refusal{"overlay", "overlaps the overlay network " +
                                        rules.overlay_network.network().to_string()};
  return std::nullopt;
}

std::optional<range_owners::conflict> range_owners::find_conflict(const cidr& range,
                                                                  const std::string& node) const {
  auto r = range.network();
  // Held ranges are disjoint: an overlapping one either starts inside `r` (from the first at or
  // after its network address on) or contains that address (then it is the one just before).
  auto it = owner_.lower_bound(cidr{r.address(), 0});
  for (auto next = it; next != owner_.end() && r.contains(next->first.address()); ++next)
    if (next->second != node)
      return conflict{next->first, next->second};
  if (it != owner_.begin()) {
    auto before = std::prev(it);
    if (before->second != node && before->first.contains(r.address()))
      return conflict{before->first, before->second};
  }
  return std::nullopt;
}

std::vector<cidr> normalize(std::vector<cidr> ranges) {
  for (auto& r : ranges)
    r = r.network();
  std::sort(ranges.begin(), ranges.end());
  std::vector<cidr> out;
  for (const auto& r : ranges)
    if (out.empty() || !out.back().contains(r.address()))
      out.push_back(r); // sorted: a range inside another comes right after the one holding it
  return out;
}

void range_owners::assign(const std::string& node, const std::vector<cidr>& ranges) {
  release(node);
  auto& held = by_node_[node];
  for (const auto& range : ranges) {
    auto r = range.network();
    if (owner_.emplace(r, node).second)
      held.push_back(r);
  }
}

void range_owners::release(const std::string& node) {
  auto it = by_node_.find(node);
  if (it == by_node_.end())
    return;
  for (const auto& r : it->second)
    owner_.erase(r);
  by_node_.erase(it);
}

} // namespace kcr::net
