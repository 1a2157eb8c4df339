// One line per status struct (see status.hpp), worded as the status replies always were.
#include "actors/status.hpp"

#include "actors/readiness_rules.hpp"

namespace kcr::actors {

std::string to_string(tunnel_phase p) {
  switch (p) {
  case tunnel_phase::waiting:
    return "waiting";
  case tunnel_phase::converged:
    return "converged";
  case tunnel_phase::failed:
    return "failed";
  }
  return "unknown";
}

std::string to_string(const allocator_status& s) {
  std::string out =
      std::string{"allocator "} + (s.leading ? "leading" : "following") +
      (s.synced ? " synced" : " listing") + (s.seen_configmap ? " seen-configmap" : "") +
      (s.ready ? " ready" : " not-ready") + " nodes=" + std::to_string(s.nodes) +
      " entries=" + std::to_string(s.entries) + " waiting=" + std::to_string(s.waiting);
  if (s.ready)
    out += " free=" + std::to_string(s.free);
  return out;
}

std::string to_string(const publisher_status& s) {
  return std::string{"publisher "} + (s.leading ? "leading" : "following") +
         (s.have_desired ? " desired=" + std::to_string(s.desired) : " no-desired") +
         " rv=" + (s.resource_version.empty() ? "-" : s.resource_version) +
         " writes=" + std::to_string(s.writes) + " conflicts=" + std::to_string(s.conflicts) +
         " failures=" + std::to_string(s.failures) +
         (s.waiting_for_budget ? " waiting-for-budget" : "") +
         " unpublished=" + std::to_string(s.unpublished);
}

std::string to_string(const node_annotator_status& s) {
  return std::string{"node_annotator "} + (s.leading ? "leading" : "following") +
         (s.active ? " active" : " inactive") + " desired=" + std::to_string(s.desired) +
         " confirmed=" + std::to_string(s.confirmed) + " nodes=" + std::to_string(s.nodes) +
         " pending=" + std::to_string(s.pending) + " patches=" + std::to_string(s.patches) +
         " failures=" + std::to_string(s.failures);
}

std::string to_string(const tunnel_status& s) {
  if (!s.running)
    return "no tunnel actor for " + s.node + (s.problem.empty() ? std::string{} : ": " + s.problem);
  std::string out = s.node + " " + to_string(s.phase) + " " +
                    (s.overlay_ip.empty() ? std::string("-") : s.overlay_ip);
  out += " (" + std::to_string(s.converges) + " converges, " + std::to_string(s.failures) +
         " failed, " + std::to_string(s.observed) + " observed";
  if (!s.overlay_ip.empty() && !s.announced)
    out += ", no longer announced";
  out += ", last error: " + (s.last_error.empty() ? std::string("-") : s.last_error) + ")";
  return out;
}

std::string to_string(const supervisor_status& s) {
  return "tunnel_supervisor: node " + s.node + ", " + std::to_string(s.observed_sent) +
         " entry_observed sent, " + std::to_string(s.respawns) + " respawned, " +
         std::to_string(s.refused) + " annotations refused";
}

std::string to_string(const readiness_status& s) {
  std::string c =
      s.written ? std::string(s.ready ? "True " : "False ") + s.reason : std::string("unwritten");
  return s.node + " " + tunnel_condition_type + "=" + c + " (" +
         std::to_string(s.condition_writes) + " writes, taint removed " +
         std::to_string(s.taint_removals) + ", " + std::to_string(s.failures) + " failed)";
}

} // namespace kcr::actors
