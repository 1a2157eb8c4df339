// The controller's roles as it wires them (app/controller.cpp): the health and metrics
// endpoints, the tunnel role's and the publisher role's actors, and the feeders that bring the
// API server's and the kernel's change streams to them. A role that is off leaves null handles.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>

#include <caf/all.hpp>
#include <prometheus/exposer.h>

#include "actors/allocator.hpp"
#include "actors/configmap_watcher.hpp"
#include "actors/event_recorder.hpp"
#include "actors/leader_elector.hpp"
#include "actors/node_annotator.hpp"
#include "actors/node_readiness.hpp"
#include "actors/node_watcher.hpp"
#include "actors/publisher.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"
#include "actors/tunnel_supervisor.hpp"
#include "app/feeders.hpp"
#include "app/health_server.hpp"
#include "app/options.hpp"
#include "app/pod_source_feeder.hpp"
#include "kube/client_config.hpp"

namespace kcr::app {

// Actors that make blocking API calls get their own thread (caf::detached), so that a slow API
// server never stalls the scheduler's workers. (Actor tests spawn them on the test coordinator.)
template <class F, class... Ts>
auto spawn_blocking(caf::actor_system& sys, F fun, Ts&&... xs) {
  return sys.spawn<caf::detached>(fun, std::forward<Ts>(xs)...);
}

// The health and metrics endpoints; throws when an address cannot be bound.
struct endpoints {
  std::unique_ptr<health_server> health;
  std::unique_ptr<prometheus::Exposer> exposer;
};

endpoints start_endpoints(const options& o, const std::shared_ptr<actors::telemetry>& tel);

// Tunnel role: the local tunnel, fed by a watch of this Node only; node_readiness in front of
// it with --tunnel-condition / --readiness-taint. Null handles when the role is off.
struct tunnel_role {
  actors::tunnel_supervisor_actor supervisor;
  actors::node_readiness_actor readiness;
  actors::tunnel_supervisor_actor own_node_target; // where the own-Node stream goes
};

tunnel_role spawn_tunnel_role(caf::actor_system& sys, const options& o,
                              const actors::controller_settings& settings,
                              std::shared_ptr<const kube::client_config> cfg,
                              const std::shared_ptr<actors::telemetry>& tel,
                              actors::event_recorder_actor events);

// Publisher role: every Node, the ConfigMap, the Lease, the Node annotations.
struct publisher_role {
  actors::publisher_actor publisher;
  actors::node_annotator_actor annotator;
  actors::allocator_actor allocator;
  actors::node_watcher_actor node_watcher;
  actors::configmap_watcher_actor cm_watcher;
  actors::leader_elector_actor elector;
};

publisher_role spawn_publisher_role(caf::actor_system& sys, const options& o,
                                    const actors::controller_settings& settings,
                                    std::shared_ptr<const kube::client_config> cfg,
                                    const std::string& node_name,
                                    const std::shared_ptr<actors::telemetry>& tel,
                                    actors::event_recorder_actor events);

// Feeders: the outside world's change streams into the actors.
struct feeders {
  std::unique_ptr<node_feeder> nodes; // created once the pod range source is settled
  std::unique_ptr<pod_source_feeder> pod_sources;
  std::unique_ptr<configmap_feeder> configmap;
  std::unique_ptr<own_node_feeder> own_node;
  std::unique_ptr<link_feeder> links;

  void start();
  /// Stops and joins every feeder (the pod-source feeder first: it creates `nodes`).
  void stop();
};

// Throws when a feeder cannot be made (its configuration).
void make_feeders(feeders& f, const options& o, const std::string& node_name,
                  std::shared_ptr<const kube::client_config> cfg,
                  const std::shared_ptr<actors::telemetry>& tel, const tunnel_role& tunnel,
                  const publisher_role& pub);

void release_lease(caf::actor_system& sys, const actors::leader_elector_actor& elector);

// In dependency order, the feeding ones first.
void stop_actors(std::initializer_list<caf::actor> handles);

} // namespace kcr::app
