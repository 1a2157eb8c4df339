// The per-node tunnel actor: one per node, holding the node's desired entry (from the allocator),
// its published entry (from the ConfigMap) and its state. The LOCAL node's actor also converges
// the kernel's tunnel interface through net::tunnel_manager, always from the published entry.
//
// Lifecycle: Run arms the periodic sync (local node only); OnUpdate (a changed published entry, a
// link change) schedules one coalesced converge; Sync converges and re-arms itself; failures go to
// one backoff (retryable errors only). Cleanup: nothing. The interface it converges stays up when
// the actor or the process stops (the data plane never depends on the control plane); only
// --cleanup-config removes it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "actors/interfaces.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"
#include "kube/configmap_codec.hpp"
#include "net/tunnel_manager.hpp"

namespace kcr::actors {

enum class tunnel_status {
  pending,   ///< the allocator assigned (or withdrew) an entry that is not published yet
  published, ///< the entry is in the ConfigMap (final state of a remote node on the leader)
  converged, ///< local node: the kernel interface matches the published entry
  failed,    ///< local node: the last converge failed (see last_error)
};

std::string_view to_string(tunnel_status s);

/// What a tunnel actor is given at spawn.
struct tunnel_config {
  std::string node;
  std::shared_ptr<const controller_settings> settings;
  /// Non-null: this actor is the local node's and converges the kernel through it.
  std::shared_ptr<net::tunnel_manager> manager;
  std::shared_ptr<telemetry> tel; // may be null
  event_recorder_actor events;    // may be null
};

struct tunnel_state {
  static inline const char* name = "tunnel";

  tunnel_actor::pointer self = nullptr;
  tunnel_config cfg;
  bool is_local = false;

  std::optional<kube::node_entry> desired;  // from the allocator (leader only)
  std::string withdrawn_reason;             // why the allocator has no entry, if it has none
  std::optional<kube::node_entry> observed; // last published entry (kept when it disappears)
  bool observed_present = false;            // the latest snapshot still carried it
  tunnel_status status = tunnel_status::pending;
  std::string last_error;                // current error, "" once converged
  std::set<std::string> logged_warnings; // converge warnings already logged (once each)
  std::string logged_error; // last error logged / evented (log once per distinct message)
  bool retryable_error = false;

  std::chrono::milliseconds next_backoff{0};
  bool retry_armed = false;     // a retry_atom is in flight
  bool converge_queued = false; // a converge_atom is in flight (coalescing)

  // Counters for status_atom (diagnostics and tests).
  size_t converges = 0; // attempts
  size_t failures = 0;
  size_t observed_msgs = 0; // entry_observed received

  void init(tunnel_actor::pointer ptr, tunnel_config config);

  void on_assigned(const kube::node_entry& entry);
  void on_withdrawn(const entry_withdrawn& msg);
  void on_published();
  void on_observed(const entry_observed& msg);
  void on_link_changed(const link_changed& msg);
  void on_sync();
  void on_retry();

  /// OnUpdate: schedules one converge (local node only); repeated calls before it runs coalesce.
  void request_converge();
  /// Sync: converges the kernel to the published entry (local node only).
  void converge();

  std::string interface_name() const;
  /// "node-a local converged 192.168.254.1 (3 converges, 0 failed, 1 observed, last error: -)".
  std::string status_line() const;

private:
  void converged_ok(const net::converge_report& report, std::chrono::duration<double> took);
  void converge_failed(const net::tunnel_error& err, std::chrono::duration<double> took);
};

tunnel_actor::behavior_type tunnel(tunnel_actor::stateful_pointer<tunnel_state> self,
                                   tunnel_config cfg);

} // namespace kcr::actors
