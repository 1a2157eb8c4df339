// Node readiness tied to the tunnel (issue 17): what an agent says about its node on the Node
// itself. Pure: no CAF, no I/O; the node_readiness actor (node_readiness.hpp) writes what these
// rules decide, and only when it differs from what it wrote last.
//
// The condition `ChorusTunnelReady` on the Node's status:
//   True  TunnelConverged    the tunnel interface matches the node's published entry (the overlay
//                            address the publisher annotated after the ConfigMap held it)
//   False EntryNotPublished  the Node carries no usable overlay annotation (yet)
//   False TunnelFailed       the last converge for that entry failed (the message says why)
//   False RpFilterStrict     the tunnel is up, but a strict rp_filter drops the device's packets
//   True  RouteOnly          --overlay-type none: no tunnel; the published entry is all it takes
// While the tunnel has not yet reported on the current entry (a new annotation, seconds at most)
// the rules have no opinion: what is written stays.
//
// The startup taint `kube-chorus-router.io/not-ready` (NoSchedule, set at registration by the
// kubelet's --register-with-taints) is removed once the condition was written True; never re-added.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "kube/node.hpp"

namespace kcr::actors {

inline constexpr const char* tunnel_condition_type = "ChorusTunnelReady";
inline constexpr const char* readiness_taint_key = "kube-chorus-router.io/not-ready";

/// One Node condition as the agent writes it (type tunnel_condition_type).
struct tunnel_condition {
  bool ready = false;
  std::string reason;
  std::string message;
  bool operator==(const tunnel_condition&) const = default;
};

/// What one converge of the local tunnel came to (reported by reporting_tunnel_manager).
struct converge_outcome {
  bool ok = false;
  std::string overlay_ip; // the address the converged spec carries
  std::string interface;
  std::string error;         // when !ok: "<code>: <message>"
  std::string rp_filter_fix; // when ok but rp_filter is strict: what to run on the node
  bool operator==(const converge_outcome&) const = default;
};

/// What the rules look at: the local Node's published entry and the tunnel's last report.
struct readiness_inputs {
  std::optional<std::string> entry_overlay_ip; // the usable overlay annotation, if any
  std::string entry_problem;                   // why there is none (one line)
  std::optional<converge_outcome> last;        // the tunnel's latest converge, if any
  bool route_only = false;                     // --overlay-type none: nothing to converge
};

/// The condition the Node should carry, or nullopt while the tunnel has not reported on the
/// current entry (keep what is written).
std::optional<tunnel_condition> desired_condition(const readiness_inputs& in);

/// Where the taints with `key` sit in `taints` (API order), highest index first: removing them in
/// that order keeps every other index valid.
std::vector<std::size_t> taint_indices(const std::vector<kube::taint>& taints,
                                       const std::string& key);

/// Whether the agent should remove its startup taint now: enabled, the condition it last wrote is
/// True, and the Node still carries the taint.
bool should_remove_taint(bool enabled, const std::optional<tunnel_condition>& written,
                         const std::vector<kube::taint>& taints);

} // namespace kcr::actors
