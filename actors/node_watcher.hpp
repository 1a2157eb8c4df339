// node_watcher: turns the Node watch (fed by a reflector thread) into the changes that matter for
// ConfigMap entries, for the allocator, and into the overlay annotations the Nodes carry, for
// the node annotator (which repairs them).
//
// It keeps the last seen node_info per name: the one copy of the Node as observed (less what no
// one reads). A new Node, or a change of name / uid / underlay IP / pod CIDRs
// (kube::same_entry_inputs), becomes node_upserted, which carries only the node's
// kube::entry_inputs; heartbeat-only updates (conditions, resourceVersion) are dropped here, so a
// 5000-node cluster's status updates never reach the allocator. After a (re)list it also emits
// node_deleted for Nodes that vanished while the watch was away, then nodes_synced. A Node's soft
// problems are logged and posted as a Warning Event once per distinct set.
//
// With --pod-cidr-source calico-ipam or cilium, a node's pod ranges come from other objects
// (BlockAffinities, CiliumNodes) that it also keeps, by name; what it forwards is the Node's inputs
// with those ranges applied (kube::apply_object_ranges), and a change of either is a change of the
// node. The first nodes_synced waits until both lists are complete, so that a restart never
// withdraws an entry only because its ranges had not been listed yet.
//
// The state decides and returns a node_watcher_outbox; the behaviour alone sends it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/telemetry.hpp"

namespace kcr::actors {

/// Event reasons the node_watcher posts.
inline constexpr const char* reason_not_ready_for_overlay = "NodeNotReadyForOverlay";
inline constexpr const char* reason_overlay_input_warning = "NodeOverlayInputWarning";

/// What one step of the node watcher wants sent; each list keeps the order of its recipient's
/// messages (the allocator's nodes_synced comes after the deltas it implies).
struct node_watcher_outbox {
  using allocator_message = std::variant<node_upserted, node_deleted, nodes_synced>;
  std::vector<allocator_message> to_allocator;
  std::vector<node_annotation_seen> to_annotator; // dropped when there is no annotator
  std::vector<node_event> events;                 // dropped when there is no recorder

  bool empty() const { return to_allocator.empty() && to_annotator.empty() && events.empty(); }
};

/// The node watcher's state and logic; no CAF calls, so it can be driven directly. Metrics and
/// health go through `tel` (may be null).
struct node_watcher_state {
  static inline const char* name = "node_watcher";

  std::shared_ptr<telemetry> tel;

  /// Nodes as parsed (ranges from the Node only), without what no one here reads (labels, other
  /// annotations, address lists, taints); effective() applies the range objects.
  std::map<std::string, kube::node_info> nodes;
  bool listed = false;
  kube::pod_cidr_source source = kube::pod_cidr_source::node;
  std::map<std::string, kube::range_object> objects;    // by object name
  std::map<std::string, std::set<std::string>> by_node; // node -> names of its objects
  bool objects_listed = true; // false while the source's objects are awaited
  /// The problems last reported per node (logged and posted once per distinct set).
  std::map<std::string, std::vector<std::string>> reported;

  // Inputs. Each returns what to send.
  node_watcher_outbox listed_all(std::vector<kube::node_info> all);
  node_watcher_outbox changed(kube::node_info node);
  node_watcher_outbox removed(const std::string& name);
  node_watcher_outbox chose(kube::pod_cidr_source s);
  node_watcher_outbox objects_all(std::vector<kube::range_object> all);
  node_watcher_outbox object_changed(kube::range_object o);
  node_watcher_outbox object_removed(const std::string& name);

private:
  bool uses_objects() const { return kube::range_resource_for(source).has_value(); }
  /// The node as the allocator must see it: its range objects applied.
  kube::node_info effective(const kube::node_info& raw) const;
  /// Stores (or, with nullopt, drops) a range object; returns the nodes it affects.
  std::set<std::string> put_object(const std::string& name, std::optional<kube::range_object> o);
  /// Re-sends the node to the allocator when its effective entry inputs changed.
  void refresh(const std::string& node, const kube::node_info& before, node_watcher_outbox& out);
  /// nodes_synced once the Nodes and (when used) the range objects are both listed.
  void maybe_synced(node_watcher_outbox& out) const;
  /// Stores `node` and sends it to the allocator when its entry inputs changed (then true).
  bool store_and_forward(kube::node_info node, node_watcher_outbox& out);
  void report_problems(const kube::node_info& node, node_watcher_outbox& out);
  /// Tells the annotator when the Node is new or its overlay annotation changed.
  static void report_annotation(const kube::node_info* before, const kube::node_info& now,
                                node_watcher_outbox& out);
  static void report_gone(const std::string& name, node_watcher_outbox& out);
  /// After each input: the node count metric and the liveness beat.
  void record_progress();
};

/// Spawn: `sys.spawn(node_watcher, allocator, annotator_or_null, recorder_or_null, tel)`. Never
/// blocks.
node_watcher_actor::behavior_type
node_watcher(node_watcher_actor::stateful_pointer<node_watcher_state> self,
             allocator_actor allocator, node_annotator_actor annotator,
             event_recorder_actor recorder, std::shared_ptr<telemetry> tel);

} // namespace kcr::actors
