// What each actor answers to status_atom: its state as data, for diagnostics, liveness and tests.
// Each actor's state computes its struct (a pure function of the state); the behaviour only
// returns it. to_string() renders one line for logs and diagnostics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

namespace kcr::actors {

/// Where the local tunnel stands.
enum class tunnel_phase {
  waiting,   ///< no entry yet (the Node carries no valid overlay annotation yet)
  converged, ///< the kernel interface matches the entry
  failed,    ///< the last converge failed (see last_error)
};

std::string to_string(tunnel_phase p);

/// allocator: "allocator leading synced seen-configmap ready nodes=3 entries=3 waiting=0 free=250".
struct allocator_status {
  bool leading = false;
  bool synced = false;         // the initial Node list is complete
  bool seen_configmap = false; // a snapshot (the restore source) arrived
  bool ready = false;          // the pool exists: entries are being allocated
  size_t nodes = 0;
  size_t entries = 0;
  size_t waiting = 0; // nodes without an entry (see the waiting metric for why)
  uint64_t free = 0;  // free overlay addresses; meaningful only when ready
  bool operator==(const allocator_status&) const = default;
};

/// publisher: "publisher leading desired=3 rv=42 writes=2 conflicts=0 failures=0 unpublished=0".
struct publisher_status {
  bool leading = false;
  bool have_desired = false; // a complete desired set of this leadership arrived
  size_t desired = 0;
  std::string resource_version; // of the ConfigMap as last observed; "" = none
  int writes = 0;
  int conflicts = 0;
  int failures = 0;
  bool waiting_for_budget = false; // the next write waits for the byte budget
  size_t unpublished = 0;          // nodes whose entry changed since the last successful write
  bool operator==(const publisher_status&) const = default;
};

/// node_annotator: "node_annotator leading active desired=3 confirmed=3 nodes=3 pending=0
/// patches=3 failures=0".
struct node_annotator_status {
  bool leading = false;
  bool active = false; // leading with a desired set and a snapshot: patches are made
  size_t desired = 0;
  size_t confirmed = 0;
  size_t nodes = 0;
  size_t pending = 0;
  size_t patches = 0;
  size_t failures = 0;
  bool operator==(const node_annotator_status&) const = default;
};

/// The local tunnel (tunnel actor; the supervisor and node_readiness pass the question on):
/// "node-a converged 192.168.254.1 (1 converges, 0 failed, 1 observed, last error: -)".
struct tunnel_status {
  std::string node;
  /// false: the supervisor has no tunnel actor yet and answers itself ("no tunnel actor for
  /// node-a: <problem>"); the fields below are then empty.
  bool running = true;
  std::string problem; // the supervisor's, when !running: why there is no entry
  tunnel_phase phase = tunnel_phase::waiting;
  std::string overlay_ip; // of the last entry observed; "" = none yet
  bool announced = false; // the latest observation still carried that entry
  size_t converges = 0;   // attempts
  size_t failures = 0;
  size_t observed = 0;    // entry_observed received
  std::string last_error; // "" once converged
  bool operator==(const tunnel_status&) const = default;
};

/// tunnel_supervisor's own counters: "tunnel_supervisor: node node-a, 1 entry_observed sent,
/// 0 respawned, 0 annotations refused".
struct supervisor_status {
  std::string node;
  size_t observed_sent = 0;
  size_t respawns = 0;
  size_t refused = 0; // invalid annotations seen (distinct values)
  bool operator==(const supervisor_status&) const = default;
};

/// node_readiness: "node-a ChorusTunnelReady=True TunnelConverged (2 writes, taint removed 1,
/// 0 failed)".
struct readiness_status {
  std::string node;
  bool written = false; // the condition was written (ready and reason are what was written)
  bool ready = false;
  std::string reason;
  size_t condition_writes = 0;
  size_t taint_removals = 0;
  size_t failures = 0;
  bool operator==(const readiness_status&) const = default;
};

std::string to_string(const allocator_status& s);
std::string to_string(const publisher_status& s);
std::string to_string(const node_annotator_status& s);
std::string to_string(const tunnel_status& s);
std::string to_string(const supervisor_status& s);
std::string to_string(const readiness_status& s);

// --- inspect (CAF 0.17) --------------------------------------------------------------------------

template <class I>
typename I::result_type inspect(I& f, allocator_status& x) {
  return f(caf::meta::type_name("allocator_status"), x.leading, x.synced, x.seen_configmap, x.ready,
           x.nodes, x.entries, x.waiting, x.free);
}
template <class I>
typename I::result_type inspect(I& f, publisher_status& x) {
  return f(caf::meta::type_name("publisher_status"), x.leading, x.have_desired, x.desired,
           x.resource_version, x.writes, x.conflicts, x.failures, x.waiting_for_budget,
           x.unpublished);
}
template <class I>
typename I::result_type inspect(I& f, node_annotator_status& x) {
  return f(caf::meta::type_name("node_annotator_status"), x.leading, x.active, x.desired,
           x.confirmed, x.nodes, x.pending, x.patches, x.failures);
}
template <class I>
typename I::result_type inspect(I& f, tunnel_status& x) {
  return f(caf::meta::type_name("tunnel_status"), x.node, x.running, x.problem, x.phase,
           x.overlay_ip, x.announced, x.converges, x.failures, x.observed, x.last_error);
}
template <class I>
typename I::result_type inspect(I& f, supervisor_status& x) {
  return f(caf::meta::type_name("supervisor_status"), x.node, x.observed_sent, x.respawns,
           x.refused);
}
template <class I>
typename I::result_type inspect(I& f, readiness_status& x) {
  return f(caf::meta::type_name("readiness_status"), x.node, x.written, x.ready, x.reason,
           x.condition_writes, x.taint_removals, x.failures);
}

} // namespace kcr::actors
