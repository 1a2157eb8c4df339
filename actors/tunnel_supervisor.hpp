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
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <caf/make_message.hpp>
#include <caf/result.hpp>
#include <caf/system_messages.hpp>

#include "actors/interfaces.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"
#include "kube/configmap_codec.hpp"
#include "net/tunnel_manager.hpp"

namespace kcr::actors {

/// Event reason of an annotation that is no usable overlay address.
inline constexpr const char* reason_overlay_annotation_invalid = "OverlayAnnotationInvalid";

struct tunnel_supervisor_state {
  static inline const char* name = "tunnel_supervisor";

  tunnel_supervisor_actor::pointer self = nullptr;
  std::shared_ptr<const controller_settings> settings;
  std::shared_ptr<net::tunnel_manager> manager;
  std::shared_ptr<telemetry> tel;
  event_recorder_actor events;

  // Shared with the exit functor that stops the child when the supervisor ends.
  std::shared_ptr<tunnel_actor> local = std::make_shared<tunnel_actor>();

  std::optional<kube::node_entry> last_entry; // what the local actor was last told (not none)
  bool told_absent = false;                   // the local actor knows the entry is gone
  std::string resource_version;               // of the own Node, last seen
  std::string logged_problem;                 // logged / evented once per distinct problem

  size_t observed_sent = 0;
  size_t respawns = 0;
  size_t refused = 0; // invalid annotations seen (distinct values)

  void init(tunnel_supervisor_actor::pointer ptr);

  void on_own_node(const own_node_observed& msg);
  void on_link_changed(const link_changed& msg);
  void on_down(const caf::down_msg& msg);

  /// The local tunnel actor's status, answered by it; while there is none, the supervisor's own
  /// answer (running == false, problem: why).
  caf::result<tunnel_status> tunnel_status_reply();
  /// Its own counters (status_atom, supervisor_atom).
  supervisor_status status() const;

  /// The local tunnel actor, or an invalid handle before the first entry (diagnostics, tests).
  tunnel_actor child_handle() const { return *local; }

private:
  void spawn_local();
  void tell(std::optional<kube::node_entry> entry);
  /// Logs (and for `warning`, posts an Event about) a problem once per distinct text.
  void report(const kube::node_info& node, const std::string& problem, bool warning);
};

/// `settings.node_name` is the local node; `manager` converges its tunnel (never null); the tunnel
/// actor is spawned detached when `settings.detach_blocking_actors` (it blocks on netlink).
/// `tel` and `events` may be null.
tunnel_supervisor_actor::behavior_type
tunnel_supervisor(tunnel_supervisor_actor::stateful_pointer<tunnel_supervisor_state> self,
                  controller_settings settings, std::shared_ptr<net::tunnel_manager> manager,
                  std::shared_ptr<telemetry> tel, event_recorder_actor events);

} // namespace kcr::actors
