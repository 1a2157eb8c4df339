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
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

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

struct tunnel_state {
  static inline const char* name = "tunnel";

  tunnel_actor::pointer self = nullptr;
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

  void init(tunnel_actor::pointer ptr, tunnel_config config);

  void on_observed(const entry_observed& msg);
  void on_link_changed(const link_changed& msg);
  void on_sync();
  void on_retry();

  /// OnUpdate: schedules one converge; repeated calls before it runs coalesce.
  void request_converge();
  /// Sync: converges the kernel to the entry.
  void converge();

  std::string interface_name() const;
  /// Its state as data (status_atom).
  tunnel_status status() const;

private:
  /// Route-only (overlay type none): converging means removing every tunnel of ours.
  void converge_route_only();
  void converged_ok(const net::converge_report& report, std::chrono::duration<double> took);
  void converge_failed(const net::tunnel_error& err, std::chrono::duration<double> took);
  void report_rp_filter(const std::string& iface, const net::rp_filter_state& rp);
};

tunnel_actor::behavior_type tunnel(tunnel_actor::stateful_pointer<tunnel_state> self,
                                   tunnel_config cfg);

} // namespace kcr::actors
