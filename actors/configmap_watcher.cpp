// configmap_watcher: see configmap_watcher.hpp.
#include "actors/configmap_watcher.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/text.hpp"

namespace kcr::actors {

published_snapshot configmap_watcher_state::snapshot_of(configmap_observed cm,
                                                        const published_snapshot* previous) {
  return published_snapshot::decode(
      cm.exists, std::move(cm.resource_version),
      cm.exists ? std::move(cm.data) : std::map<std::string, std::string>{}, previous);
}

std::optional<published_snapshot> configmap_watcher_state::observed(configmap_observed cm) {
  auto key = std::make_pair(cm.exists, cm.resource_version);
  if (last && *last == key) {
    spdlog::debug("configmap_watcher: resourceVersion {} seen before; dropped",
                  cm.resource_version);
    return std::nullopt;
  }
  last = std::move(key);
  auto snap = snapshot_of(std::move(cm), previous ? &*previous : nullptr);
  previous = snap; // shares the content
  if (snap.problems() != logged_problems) {
    if (!snap.problems().empty())
      spdlog::warn("configmap_watcher: the ConfigMap has malformed own keys: {} (they will be "
                   "repaired by the publisher)",
                   join(snap.problems()));
    else
      spdlog::info("configmap_watcher: the ConfigMap's own keys are well-formed again");
    logged_problems = snap.problems();
  }
  if (!snap.exists)
    spdlog::info("configmap_watcher: the ConfigMap does not exist");
  else
    spdlog::debug("configmap_watcher: ConfigMap at resourceVersion {}: {} entries, {} partial",
                  snap.resource_version, snap.state().entries.size(), snap.partial().size());
  if (tel)
    tel->health.beat("configmap_watcher");
  return snap;
}

configmap_watcher_actor::behavior_type
configmap_watcher(configmap_watcher_actor::stateful_pointer<configmap_watcher_state> self,
                  allocator_actor allocator, publisher_actor publisher,
                  node_annotator_actor annotator, std::shared_ptr<telemetry> tel) {
  self->state.tel = std::move(tel);
  return {
      [=](configmap_observed& x) {
        auto snap = self->state.observed(std::move(x));
        if (!snap)
          return;
        // Copies of a snapshot share its decoded content: sending it three times is cheap.
        if (allocator)
          self->send(allocator, *snap);
        if (publisher)
          self->send(publisher, *snap);
        if (annotator)
          self->send(annotator, std::move(*snap));
      },
  };
}

} // namespace kcr::actors
