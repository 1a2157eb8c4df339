// Threads that turn outside change streams into actor messages: the Node watch, an agent's watch
// of its own Node, the ConfigMap watch (kube::reflector each) and the kernel's link
// notifications (net::link_monitor).
// Blocking I/O lives here, never on the actor scheduler.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "actors/interfaces.hpp"
#include "actors/telemetry.hpp"
#include "kube/client_config.hpp"
#include "kube/node.hpp"

namespace kcr::kube {
class reflector;
}
namespace kcr::net {
class link_monitor;
}

namespace kcr::app {

/// Lists and watches all Nodes; parsed Nodes (pod CIDRs read as `source` says) go to the node
/// watcher.
class node_feeder {
public:
  node_feeder(std::shared_ptr<const kube::client_config> cfg, kube::pod_cidr_source source,
              actors::node_watcher_actor target, std::shared_ptr<actors::telemetry> tel);
  ~node_feeder();
  void start();
  void stop();

private:
  std::unique_ptr<kube::reflector> reflector_;
};

/// Lists and watches this node's Node only (fieldSelector=metadata.name=<node>), for the
/// tunnel role: what the local tunnel converges to comes from this Node alone.
class own_node_feeder {
public:
  own_node_feeder(std::shared_ptr<const kube::client_config> cfg, const std::string& node,
                  actors::tunnel_supervisor_actor target, std::shared_ptr<actors::telemetry> tel);
  ~own_node_feeder();
  void start();
  void stop();

private:
  std::unique_ptr<kube::reflector> reflector_;
};

/// Lists and watches the one published ConfigMap.
class configmap_feeder {
public:
  configmap_feeder(std::shared_ptr<const kube::client_config> cfg, const std::string& ns,
                   const std::string& name, actors::configmap_watcher_actor target,
                   std::shared_ptr<actors::telemetry> tel);
  ~configmap_feeder();
  void start();
  void stop();

private:
  std::unique_ptr<kube::reflector> reflector_;
};

/// Reports changes of the tunnel interface to the tunnel supervisor.
class link_feeder {
public:
  /// Throws std::runtime_error when the netlink subscription fails.
  link_feeder(std::string interface, actors::tunnel_supervisor_actor target);
  ~link_feeder();
  void start();
  void stop();

private:
  std::string interface_;
  actors::tunnel_supervisor_actor target_;
  std::unique_ptr<net::link_monitor> monitor_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace kcr::app
