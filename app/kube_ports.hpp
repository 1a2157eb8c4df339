// The actors' API ports (actors/ports.hpp) over the real Kubernetes client. Each port owns its
// own kube::api_client (one connection, one thread at a time), as the actor using it does.
#pragma once

#include <memory>
#include <string>

#include "actors/ports.hpp"
#include "kube/client_config.hpp"

namespace kcr::actors {
class node_status_port; // actors/node_readiness.hpp
}

namespace kcr::app {

/// `host`: this instance's node name (the source of the ConfigMap's Warning Events).
std::shared_ptr<actors::configmap_port>
make_configmap_port(std::shared_ptr<const kube::client_config> cfg, std::string ns,
                    std::string name, std::string host);

std::shared_ptr<actors::lease_port> make_lease_port(std::shared_ptr<const kube::client_config> cfg,
                                                    std::string ns, std::string name);

/// Merge patches of one annotation of a Node (the node annotator's writes).
std::shared_ptr<actors::node_annotation_port>
make_node_annotation_port(std::shared_ptr<const kube::client_config> cfg);

/// The agent's writes to its own Node: its ChorusTunnelReady condition (nodes/status) and the
/// removal of its startup taint (nodes).
std::shared_ptr<actors::node_status_port>
make_node_status_port(std::shared_ptr<const kube::client_config> cfg);

/// Events about Nodes go to namespace `default`; `host` is this instance's node name.
std::shared_ptr<actors::event_port> make_event_port(std::shared_ptr<const kube::client_config> cfg,
                                                    std::string host);

/// RFC 3339 with seconds, UTC, as Events carry it.
std::string rfc3339_now();

} // namespace kcr::app
