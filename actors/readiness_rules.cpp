// Node readiness rules (see readiness_rules.hpp).
#include "actors/readiness_rules.hpp"

namespace kcr::actors {

std::optional<tunnel_condition> desired_condition(const readiness_inputs& in) {
  if (!in.entry_overlay_ip)
    return tunnel_condition{false, "EntryNotPublished",
                            in.entry_problem.empty() ? "the node has no published overlay entry"
                                                     : in.entry_problem};
  if (in.route_only)
    return tunnel_condition{true, "RouteOnly",
                            "route-only mode: the device routes the node's pod ranges via its IP "
                            "(published entry " +
                                *in.entry_overlay_ip + ")"};
  // A report about another address is about an older entry: the converge for this one follows.
  if (!in.last || in.last->overlay_ip != *in.entry_overlay_ip)
    return std::nullopt;
  const auto& o = *in.last;
  if (!o.ok)
    return tunnel_condition{false, "TunnelFailed", "tunnel " + o.interface + ": " + o.error};
  if (!o.rp_filter_fix.empty())
    return tunnel_condition{false, "RpFilterStrict",
                            "tunnel " + o.interface +
                                " is up but a strict rp_filter drops the device's packets; on "
                                "the node run: " +
                                o.rp_filter_fix};
  // No counters or times in the text: it changes only when the truth does.
  return tunnel_condition{true, "TunnelConverged",
                          "tunnel " + o.interface + " carries the published overlay address " +
                              o.overlay_ip};
}

std::vector<std::size_t> taint_indices(const std::vector<kube::taint>& taints,
                                       const std::string& key) {
  std::vector<std::size_t> out;
  for (std::size_t i = taints.size(); i-- > 0;)
    if (taints[i].key == key)
      out.push_back(i);
  return out;
}

bool should_remove_taint(bool enabled, const std::optional<tunnel_condition>& written,
                         const std::vector<kube::taint>& taints) {
  return enabled && written && written->ready &&
         !taint_indices(taints, readiness_taint_key).empty();
}

} // namespace kcr::actors
