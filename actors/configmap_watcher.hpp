// configmap_watcher: decodes the watched ConfigMap (fed by a reflector thread) and hands the
// result to the allocator (restore source), the publisher (drift detection, fresh
// resourceVersion) and the node annotator (what is confirmed, to mirror onto Nodes). Publisher
// role only: agents never watch the ConfigMap. Any of the three may be null in tests. Observations
// repeating the previous resourceVersion (a relist that found nothing new) are dropped.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/telemetry.hpp"

namespace kcr::actors {

/// The watcher's state and decision; no CAF calls, so it can be driven directly.
struct configmap_watcher_state {
  static inline const char* name = "configmap_watcher";

  std::shared_ptr<telemetry> tel;

  /// (exists, resourceVersion) of the last observation passed on.
  std::optional<std::pair<bool, std::string>> last;
  /// The last snapshot passed on: what the next one is decoded against.
  std::optional<published_snapshot> previous;
  /// Problems last logged (logged once per distinct set).
  std::vector<std::string> logged_problems;

  /// The snapshot to pass on to the allocator, the publisher and the node annotator; nothing
  /// when the observation repeats the last one passed on.
  std::optional<published_snapshot> observed(configmap_observed cm);

  /// The snapshot for one observation, decoded against `previous` when there is one.
  static published_snapshot snapshot_of(configmap_observed cm,
                                        const published_snapshot* previous = nullptr);
};

/// Spawn: `sys.spawn(configmap_watcher, allocator, publisher, annotator, tel)`; pass a
/// default-constructed handle for a role that is off. Never blocks.
configmap_watcher_actor::behavior_type
configmap_watcher(configmap_watcher_actor::stateful_pointer<configmap_watcher_state> self,
                  allocator_actor allocator, publisher_actor publisher,
                  node_annotator_actor annotator, std::shared_ptr<telemetry> tel);

} // namespace kcr::actors
