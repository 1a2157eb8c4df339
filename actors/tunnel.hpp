// The local node's tunnel actor: holds the node's entry (derived by the tunnel supervisor from the
// node's own Node and its overlay annotation) and its state, and converges the kernel's tunnel
// interface to it through net::tunnel_manager. One per instance with --run-tunnel; the publisher
// keeps no per-node actors (its per-node state is the node annotator's map).
//
// Lifecycle: Run arms the periodic sync; OnUpdate (a changed entry, a link change) schedules one
// coalesced converge; Sync converges and re-arms itself; failures go to
// one backoff (retryable errors only). Cleanup: nothing. The interface it converges stays up when
// the actor or the process stops (the data plane never depends on the control plane); only
// --cleanup-config removes it.
//
// The state decides and returns a tunnel_step (Events, a converge to queue, timers as data); the
// behaviour alone sends it. The state's only side effects are the blocking calls to the manager
// (a port) and metrics through `tel`, so it can be driven directly
// (test/actors/tunnel_state_test.cpp).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/retry_backoff.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"
#include "kube/configmap_codec.hpp"
#include "net/tunnel_manager.hpp"

namespace kcr::actors {

/// What a tunnel actor is given at spawn.
struct tunnel_config {
  std::string node;
  std::shared_ptr<const controller_settings> settings;
  /// Converges the kernel (never null).
  std::shared_ptr<net::tunnel_manager> manager;
  std::shared_ptr<telemetry> tel; // may be null
  event_recorder_actor events;    // may be null
};

/// Event reasons the tunnel actor posts.
inline constexpr const char* reason_tunnel_failed = "TunnelFailed";
inline constexpr const char* reason_rp_filter_strict = "RpFilterStrict";

/// What the tunnel state wants done after an input; the behaviour's `perform` alone does it (as
/// the publisher's step): Events for the recorder, one converge_atom behind the messages already
/// queued, and the timers to arm with their delays.
struct tunnel_step {
  std::vector<node_event> events;                       // dropped when there is no recorder
  bool converge = false;                                // queue a converge_atom to itself
  std::optional<std::chrono::milliseconds> retry_after; // arm a retry_atom (the backoff's delay)
  std::optional<std::chrono::milliseconds> sync_after;  // arm the periodic sync_atom

  bool empty() const { return events.empty() && !converge && !retry_after && !sync_after; }
};

/// The tunnel actor's state and decisions; no CAF calls.
struct tunnel_state {
  static inline const char* name = "tunnel";

  tunnel_config cfg;

  std::optional<kube::node_entry> observed; // last entry (kept when it disappears)
  bool observed_present = false;            // the latest observation still carried it
  tunnel_phase phase = tunnel_phase::waiting;
  std::string last_error;                // current error, "" once converged
  std::set<std::string> logged_warnings; // converge warnings already logged (once each)
  std::string logged_error; // last error logged / evented (log once per distinct message)
  bool retryable_error = false;
  std::string rp_filter_reported; // the strict rp_filter detail last evented ("" = not strict)

  kube::backoff backoff;        // retryable failures (retry_backoff(settings))
  bool retry_armed = false;     // a retry_atom is in flight
  bool converge_queued = false; // a converge_atom is in flight (coalescing)

  // Counters for status_atom (diagnostics and tests).
  size_t converges = 0; // attempts
  size_t failures = 0;
  size_t observed_msgs = 0; // entry_observed received

  /// Takes the config, as the behaviour does when spawned.
  void setup(tunnel_config config);

  // Inputs (kube-router's Run / OnUpdate / Sync). Each returns what to send.
  /// Run: arms the periodic sync.
  tunnel_step start() const;
  tunnel_step on_observed(const entry_observed& msg);
  tunnel_step on_link_changed(const link_changed& msg);
  /// Sync: one coalesced converge, and the sync re-armed whatever its outcome.
  tunnel_step on_sync();
  tunnel_step on_retry();
  /// The queued converge: converges the kernel to the entry (blocking, through the manager).
  tunnel_step on_converge();

  std::string interface_name() const;
  /// Its state as data (status_atom).
  tunnel_status status() const;

private:
  /// OnUpdate: one converge; repeated requests before it runs coalesce.
  void request_converge(tunnel_step& out);
  /// Route-only (overlay type none): converging means removing every tunnel of ours.
  void converge_route_only(tunnel_step& out);
  void converged_ok(const net::converge_report& report, std::chrono::duration<double> took,
                    tunnel_step& out);
  void converge_failed(const net::tunnel_error& err, std::chrono::duration<double> took,
                       tunnel_step& out);
  void report_rp_filter(const std::string& iface, const net::rp_filter_state& rp, tunnel_step& out);
  /// A Warning Event about this node.
  node_event warning(const char* reason, std::string message) const;
};

tunnel_actor::behavior_type tunnel(tunnel_actor::stateful_pointer<tunnel_state> self,
                                   tunnel_config cfg);

} // namespace kcr::actors
