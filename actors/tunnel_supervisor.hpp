// The tunnel supervisor: spawns one tunnel actor per node on demand, routes the allocator's,
// publisher's, ConfigMap watcher's and link monitor's messages to them by node name, and
// supervises them (a dead local actor is respawned, a dead remote one dropped).
//
// Which actors exist: remote nodes' actors only on the publishing leader (they are created by the
// allocator's entry_assigned / entry_withdrawn); the local node's actor on every instance (created
// by the first published_snapshot). published_snapshot is diffed per node against the previous one,
// so only actors whose published entry changed hear about it (no fan-out at 5000 nodes).
//
// Cleanup: when the supervisor stops, it stops its children; the kernel interface stays up.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <caf/actor_addr.hpp>
#include <caf/result.hpp>
#include <caf/system_messages.hpp>

#include "actors/interfaces.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"
#include "kube/configmap_codec.hpp"
#include "net/tunnel_manager.hpp"

namespace kcr::actors {

struct tunnel_supervisor_state {
  static inline const char* name = "tunnel_supervisor";

  struct child {
    tunnel_actor handle;
    bool told = false; // has received an entry_observed (the first one always goes out)
  };
  using child_map = std::unordered_map<std::string, child>;

  tunnel_supervisor_actor::pointer self = nullptr;
  std::shared_ptr<const controller_settings> settings;
  std::shared_ptr<net::tunnel_manager> manager; // the local node's; null: --run-tunnel=false
  std::shared_ptr<telemetry> tel;
  event_recorder_actor events;

  // Shared with the exit functor that stops the children when the supervisor ends.
  std::shared_ptr<child_map> children = std::make_shared<child_map>();
  std::unordered_map<caf::actor_addr, std::string> names; // monitored child -> node

  bool have_snapshot = false;
  std::string resource_version;                                // of the last snapshot
  std::unordered_map<std::string, kube::node_entry> published; // last snapshot, by Name-
  std::optional<kube::node_entry> local_last;                  // last entry the local actor saw

  size_t observed_sent = 0;
  size_t respawns = 0;
  size_t stopped = 0;

  void init(tunnel_supervisor_actor::pointer ptr);

  void on_assigned(const entry_assigned& msg);
  void on_withdrawn(const entry_withdrawn& msg);
  void on_published(const entries_published& msg);
  void on_snapshot(const published_snapshot& msg);
  void on_link_changed(const link_changed& msg);
  void on_down(const caf::down_msg& msg);

  /// "" = the local node; "*" = a summary of the supervisor itself.
  caf::result<std::string> status(const std::string& node);
  std::string summary() const;

  /// The node's actor, or an invalid handle (diagnostics and tests).
  tunnel_actor child_handle(const std::string& node) const;

  /// True when this instance converges its own node (node name known and a manager given).
  bool converges_locally() const { return manager && !settings->node_name.empty(); }

private:
  child& ensure(const std::string& node);
  tunnel_actor spawn_child(const std::string& node);
  void stop(const std::string& node);
  void tell_observed(const std::string& node, child& c, std::optional<kube::node_entry> entry);
  std::optional<kube::node_entry> published_entry(const std::string& node) const;
};

/// `settings.node_name` is the local node; `manager` converges its tunnel (null: no local
/// convergence, --run-tunnel=false); the local tunnel actor is spawned detached when
/// `settings.detach_blocking_actors` (it blocks on netlink). `tel` and `events` may be null.
tunnel_supervisor_actor::behavior_type
tunnel_supervisor(tunnel_supervisor_actor::stateful_pointer<tunnel_supervisor_state> self,
                  controller_settings settings, std::shared_ptr<net::tunnel_manager> manager,
                  std::shared_ptr<telemetry> tel, event_recorder_actor events);

} // namespace kcr::actors
