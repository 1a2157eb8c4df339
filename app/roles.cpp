// The controller's roles: see roles.hpp.
#include "app/roles.hpp"

#include <spdlog/spdlog.h>

#include "app/kube_ports.hpp"
#include "net/netlink_tunnel.hpp"
#include "net/tunnel_spec.hpp"

namespace kcr::app {

endpoints start_endpoints(const options& o, const std::shared_ptr<actors::telemetry>& tel) {
  endpoints e;
  if (!o.health_addr.empty()) {
    auto probe = [tel](bool ready) {
      auto r = ready ? tel->health.readyz() : tel->health.healthz();
      return probe_result{r.ok, r.text};
    };
    e.health = std::make_unique<health_server>(
        o.health_addr,
        health_handlers{[probe] { return probe(false); }, [probe] { return probe(true); }});
    spdlog::info("health on {} (/healthz, /readyz)", o.health_addr);
  }
  if (!o.metrics_addr.empty()) {
    e.exposer = std::make_unique<prometheus::Exposer>(o.metrics_addr);
    for (const auto& c : tel->metrics.exported())
      e.exposer->RegisterCollectable(c);
    spdlog::info("metrics on {} (/metrics)", o.metrics_addr);
  }
  return e;
}

tunnel_role spawn_tunnel_role(caf::actor_system& sys, const options& o,
                              const actors::controller_settings& settings,
                              std::shared_ptr<const kube::client_config> cfg,
                              const std::shared_ptr<actors::telemetry>& tel,
                              actors::event_recorder_actor events) {
  tunnel_role r;
  if (!o.run_tunnel)
    return r;
  std::shared_ptr<net::tunnel_manager> manager = std::make_shared<net::netlink_tunnel_manager>();
  // Readiness (issue 17): every converge's outcome also goes to node_readiness.
  std::shared_ptr<actors::reporting_tunnel_manager> reporting;
  if (o.tunnel_condition || o.readiness_taint)
    manager = reporting = std::make_shared<actors::reporting_tunnel_manager>(manager);
  tel->health.require_ready("local tunnel converged");
  // Readiness, kube-router style: the tunnel beats after every successful converge.
  tel->health.expect("tunnel", 3 * settings.tunnel_sync_period + settings.backoff_max);
  r.supervisor = sys.spawn(actors::tunnel_supervisor, settings, manager, tel, events);
  r.own_node_target = r.supervisor;
  if (!reporting)
    return r;
  // It writes to the API (blocking): its own thread. It goes in front of the supervisor on the
  // own-Node stream and forwards.
  r.readiness = spawn_blocking(
      sys, actors::node_readiness,
      actors::node_readiness_config{std::make_shared<const actors::controller_settings>(settings),
                                    o.readiness_taint, make_node_status_port(cfg), r.supervisor});
  r.own_node_target = r.readiness;
  reporting->set_sink(
      [h = r.readiness](actors::converge_outcome out) { caf::anon_send(h, std::move(out)); });
  return r;
}

publisher_role spawn_publisher_role(caf::actor_system& sys, const options& o,
                                    const actors::controller_settings& settings,
                                    std::shared_ptr<const kube::client_config> cfg,
                                    const std::string& node_name,
                                    const std::shared_ptr<actors::telemetry>& tel,
                                    actors::event_recorder_actor events) {
  publisher_role r;
  if (!o.run_publisher)
    return r;
  r.publisher =
      spawn_blocking(sys, actors::publisher, settings, tel,
                     make_configmap_port(cfg, o.configmap_namespace, o.configmap_name, node_name));
  r.annotator =
      spawn_blocking(sys, actors::node_annotator, settings, tel, make_node_annotation_port(cfg));
  r.allocator = sys.spawn(actors::allocator, settings, tel, r.publisher, r.annotator, events);
  r.node_watcher = sys.spawn(actors::node_watcher, r.allocator, r.annotator, events, tel);
  r.cm_watcher = sys.spawn(actors::configmap_watcher, r.allocator, r.publisher, r.annotator, tel);
  if (!o.leader_elect) {
    actors::leadership always{true, settings.lease_identity, 1};
    caf::anon_send(r.allocator, always);
    caf::anon_send(r.publisher, always);
    caf::anon_send(r.annotator, always);
    tel->metrics.set_leader(true);
    return r;
  }
  std::vector<actors::leadership_listener> listeners{
      caf::actor_cast<actors::leadership_listener>(r.allocator),
      caf::actor_cast<actors::leadership_listener>(r.publisher),
      caf::actor_cast<actors::leadership_listener>(r.annotator)};
  // Readiness: the elector beats on every successful Lease read or renew (every retry period);
  // a whole lease duration without one means the API server is out of reach and the Lease
  // (ours or the leader's) has run out meanwhile.
  tel->health.expect("leader_elector", settings.lease_duration + 2 * settings.retry_period);
  r.elector = spawn_blocking(sys, actors::leader_elector,
                             make_lease_port(cfg, o.configmap_namespace, o.configmap_name),
                             settings, listeners, tel);
  return r;
}

void feeders::start() {
  if (configmap)
    configmap->start();
  if (pod_sources)
    pod_sources->start();
  if (own_node)
    own_node->start();
  if (links)
    links->start();
}
void feeders::stop() {
  if (pod_sources)
    pod_sources->stop(); // joined: `nodes` is settled from here on
  if (nodes)
    nodes->stop();
  if (configmap)
    configmap->stop();
  if (own_node)
    own_node->stop();
  if (links)
    links->stop();
}

// Throws when a feeder cannot be made (its configuration).
void make_feeders(feeders& f, const options& o, const std::string& node_name,
                  std::shared_ptr<const kube::client_config> cfg,
                  const std::shared_ptr<actors::telemetry>& tel, const tunnel_role& tunnel,
                  const publisher_role& pub) {
  if (o.run_publisher) {
    f.configmap = std::make_unique<configmap_feeder>(cfg, o.configmap_namespace, o.configmap_name,
                                                     pub.cm_watcher, tel);
    // Nodes are parsed for the pod range source, so their feeder starts once it is settled.
    f.pod_sources = std::make_unique<pod_source_feeder>(
        cfg, o.pod_cidr_source, pub.node_watcher, tel,
        [&nodes = f.nodes, cfg, w = pub.node_watcher, tel](auto source) {
          try {
            nodes = std::make_unique<node_feeder>(cfg, source, w, tel);
            nodes->start();
          } catch (const std::exception& e) {
            spdlog::error("cannot watch Nodes: {}", e.what());
          }
        });
  }
  if (o.run_tunnel) {
    // Also in a single process: the local tunnel learns its entry the agent's way.
    f.own_node = std::make_unique<own_node_feeder>(cfg, node_name, tunnel.own_node_target, tel);
    net::tunnel_spec probe;
    probe.type = o.overlay_type;
    // Route-only has no interface to watch; its periodic sync removes a leftover tunnel.
    if (o.overlay_type != net::overlay_type::none)
      f.links = std::make_unique<link_feeder>(net::interface_name(probe), tunnel.supervisor);
  }
}

void release_lease(caf::actor_system& sys, const actors::leader_elector_actor& elector) {
  if (!elector)
    return;
  caf::scoped_actor self{sys};
  self->request(elector, std::chrono::seconds(3), actors::release_atom::value)
      .receive(
          [](bool released) {
            if (released)
              spdlog::info("released the Lease");
          },
          [](caf::error& err) { spdlog::warn("releasing the Lease: {}", caf::to_string(err)); });
}

// In dependency order, the feeding ones first.
void stop_actors(std::initializer_list<caf::actor> handles) {
  for (const auto& h : handles)
    if (h)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
}

} // namespace kcr::app
