// configmap_watcher: see configmap_watcher.hpp.
#include "actors/configmap_watcher.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/text.hpp"

namespace kcr::actors {

published_snapshot configmap_watcher_state::snapshot_of(configmap_observed cm) {
  published_snapshot snap;
  snap.exists = cm.exists;
  snap.resource_version = std::move(cm.resource_version);
  if (cm.exists) {
    auto decoded = kube::decode(cm.data);
    snap.state = std::move(decoded.state);
    snap.partial = std::move(decoded.partial);
    snap.problems = std::move(decoded.problems);
    snap.data = std::move(cm.data);
  }
  return snap;
}

void configmap_watcher_state::observed(configmap_observed cm) {
  auto key = std::make_pair(cm.exists, cm.resource_version);
  if (last && *last == key) {
    spdlog::debug("configmap_watcher: resourceVersion {} seen before; dropped",
                  cm.resource_version);
    return;
  }
  last = std::move(key);
  auto snap = snapshot_of(std::move(cm));
  if (snap.problems != logged_problems) {
    if (!snap.problems.empty())
      spdlog::warn("configmap_watcher: the ConfigMap has malformed own keys: {} (they will be "
                   "repaired by the publisher)",
                   join(snap.problems));
    else
      spdlog::info("configmap_watcher: the ConfigMap's own keys are well-formed again");
    logged_problems = snap.problems;
  }
  if (!snap.exists)
    spdlog::info("configmap_watcher: the ConfigMap does not exist");
  else
    spdlog::debug("configmap_watcher: ConfigMap at resourceVersion {}: {} entries, {} partial",
                  snap.resource_version, snap.state.entries.size(), snap.partial.size());
  // One message shared by the three recipients (CAF messages are reference-counted and their
  // handlers take it by const&): at 5000 nodes a snapshot holds 30000 keys, not worth copying.
  auto shared = caf::make_message(std::move(snap));
  if (allocator)
    caf::anon_send(caf::actor_cast<caf::actor>(allocator), shared);
  if (publisher)
    caf::anon_send(caf::actor_cast<caf::actor>(publisher), shared);
  if (supervisor)
    caf::anon_send(caf::actor_cast<caf::actor>(supervisor), shared);
  if (tel)
    tel->health.beat("configmap_watcher");
}

configmap_watcher_actor::behavior_type
configmap_watcher(configmap_watcher_actor::stateful_pointer<configmap_watcher_state> self,
                  allocator_actor allocator, publisher_actor publisher,
                  tunnel_supervisor_actor supervisor, std::shared_ptr<telemetry> tel) {
  auto& st = self->state;
  st.self = self;
  st.allocator = std::move(allocator);
  st.publisher = std::move(publisher);
  st.supervisor = std::move(supervisor);
  st.tel = std::move(tel);
  return {
      [=](configmap_observed& x) { self->state.observed(std::move(x)); },
  };
}

} // namespace kcr::actors
