// The tunnel supervisor (tunnel role only): turns the local Node, as its own-Node watch sees it
// (`fieldSelector=metadata.name=<node>`: an agent never sees other Nodes nor the ConfigMap),
// into the local node's entry, keeps the local tunnel actor alive (a dead one is respawned with
// the last entry) and routes link changes to it.
//
// The entry: overlay IP from the Node's annotation `kube-chorus-router.io/overlay-ip` (written by
// the publishing leader after the ConfigMap holds it), underlay IP from the Node's addresses
// (see own_entry() in tunnel_spec_builder.hpp). An annotation that is no usable overlay address is
// refused: error log and Warning Event once per distinct value, the tunnel stays as it was.
//
// Cleanup: when the supervisor stops, it stops the tunnel actor; the kernel interface stays up.
//
// The state decides and returns a tunnel_supervisor_outbox (spawn the local actor, messages for
// it, Events); the behaviour alone spawns, monitors and sends.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"
#include "actors/tunnel.hpp"
#include "kube/configmap_codec.hpp"
#include "net/tunnel_manager.hpp"

namespace kcr::actors {

/// Event reason of an annotation that is no usable overlay address.
inline constexpr const char* reason_overlay_annotation_invalid = "OverlayAnnotationInvalid";

/// What one step of the supervisor wants done; the behaviour's `emit` alone does it, in this
/// order: the Events, then (when asked) a fresh local tunnel actor, then its messages.
struct tunnel_supervisor_outbox {
  using local_message = std::variant<entry_observed, link_changed>;
  std::vector<node_event> events; // dropped when there is no recorder
  bool spawn_local = false;       // spawn and monitor the local tunnel actor first
  std::vector<local_message> to_local;

  bool empty() const { return events.empty() && !spawn_local && to_local.empty(); }
};

/// The supervisor's state and decisions; no CAF calls, so it can be driven directly.
struct tunnel_supervisor_state {
  static inline const char* name = "tunnel_supervisor";

  std::shared_ptr<const controller_settings> settings;
  // Handed to the local tunnel actor when the behaviour spawns it.
  std::shared_ptr<net::tunnel_manager> manager;
  std::shared_ptr<telemetry> tel;
  event_recorder_actor events;

  /// The local actor's handle, set by the behaviour when it spawns one; shared with the exit
  /// functor that stops the child when the supervisor ends. The state decides on `local_running`.
  std::shared_ptr<tunnel_actor> local = std::make_shared<tunnel_actor>();
  bool local_running = false; // a local tunnel actor was spawned and has not died since

  std::optional<kube::node_entry> last_entry; // what the local actor was last told (not none)
  bool told_absent = false;                   // the local actor knows the entry is gone
  std::string resource_version;               // of the own Node, last seen
  std::string logged_problem;                 // logged / evented once per distinct problem

  size_t observed_sent = 0;
  size_t respawns = 0;
  size_t refused = 0; // invalid annotations seen (distinct values)

  // Inputs. Each returns what to do.
  tunnel_supervisor_outbox on_own_node(const own_node_observed& msg);
  tunnel_supervisor_outbox on_link_changed(const link_changed& msg);
  /// The local tunnel actor died (`reason` for the log): a fresh one gets the last entry.
  tunnel_supervisor_outbox on_local_down(const std::string& reason);

  /// The supervisor's own answer to status_atom while there is no local tunnel actor (running ==
  /// false, problem: why); nullopt: the local actor answers.
  std::optional<tunnel_status> own_tunnel_status() const;
  /// Its own counters (status_atom, supervisor_atom).
  supervisor_status status() const;
  /// What the local tunnel actor is spawned with.
  tunnel_config local_config() const;

  /// The local tunnel actor, or an invalid handle before the first entry (diagnostics, tests).
  tunnel_actor child_handle() const { return *local; }

private:
  void tell(std::optional<kube::node_entry> entry, tunnel_supervisor_outbox& out);
  /// Logs (and for `warning`, posts an Event about) a problem once per distinct text.
  void report(const kube::node_info& node, const std::string& problem, bool warning,
              tunnel_supervisor_outbox& out);
};

/// `settings.node_name` is the local node; `manager` converges its tunnel (never null); the tunnel
/// actor is spawned detached when `settings.detach_blocking_actors` (it blocks on netlink).
/// `tel` and `events` may be null.
tunnel_supervisor_actor::behavior_type
tunnel_supervisor(tunnel_supervisor_actor::stateful_pointer<tunnel_supervisor_state> self,
                  controller_settings settings, std::shared_ptr<net::tunnel_manager> manager,
                  std::shared_ptr<telemetry> tel, event_recorder_actor events);

} // namespace kcr::actors
