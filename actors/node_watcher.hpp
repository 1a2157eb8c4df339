// node_watcher: turns the Node watch (fed by a reflector thread) into the changes that matter for
// ConfigMap entries, for the allocator, and into the overlay annotations the Nodes carry, for
// the node annotator (which repairs them).
//
// It keeps the last seen node_info per name. A new Node, or a change of name / uid / underlay IP /
// pod CIDRs (kube::same_entry_inputs), becomes node_upserted; heartbeat-only updates (conditions,
// resourceVersion) are dropped here, so a 5000-node cluster's status updates never reach the
// allocator. After a (re)list it also emits node_deleted for Nodes that vanished while the watch
// was away, then nodes_synced. A Node's soft problems are logged and posted as a Warning Event
// once per distinct set.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/telemetry.hpp"

namespace kcr::actors {

/// Event reasons the node_watcher posts.
inline constexpr const char* reason_not_ready_for_overlay = "NodeNotReadyForOverlay";
inline constexpr const char* reason_overlay_input_warning = "NodeOverlayInputWarning";

struct node_watcher_state {
  static inline const char* name = "node_watcher";
  using pointer = node_watcher_actor::stateful_pointer<node_watcher_state>;

  pointer self = nullptr;
  allocator_actor allocator;
  node_annotator_actor annotator; // may be null
  event_recorder_actor recorder;  // may be null
  std::shared_ptr<telemetry> tel;

  std::map<std::string, kube::node_info> nodes;
  bool listed = false;
  /// The problems last reported per node (logged and posted once per distinct set).
  std::map<std::string, std::vector<std::string>> reported;

  void listed_all(std::vector<kube::node_info> all);
  void changed(kube::node_info node);
  void removed(const std::string& name);

private:
  /// Stores `node`; true when the allocator must hear about it.
  bool remember(kube::node_info node);
  void report_problems(const kube::node_info& node);
  /// Tells the annotator when the Node is new or its overlay annotation changed.
  void report_annotation(const kube::node_info* before, const kube::node_info& now);
  void report_gone(const std::string& name);
  void done();
};

/// Spawn: `sys.spawn(node_watcher, allocator, annotator_or_null, recorder_or_null, tel)`. Never
/// blocks.
node_watcher_actor::behavior_type
node_watcher(node_watcher_actor::stateful_pointer<node_watcher_state> self,
             allocator_actor allocator, node_annotator_actor annotator,
             event_recorder_actor recorder, std::shared_ptr<telemetry> tel);

} // namespace kcr::actors
