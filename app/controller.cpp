#include "app/controller.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <random>
#include <thread>
#include <unistd.h>

#include <caf/all.hpp>
#include <prometheus/exposer.h>
#include <spdlog/spdlog.h>

#include "actors/allocator.hpp"
#include "actors/configmap_watcher.hpp"
#include "actors/event_recorder.hpp"
#include "actors/leader_elector.hpp"
#include "actors/node_annotator.hpp"
#include "actors/node_readiness.hpp"
#include "actors/node_watcher.hpp"
#include "actors/publisher.hpp"
#include "actors/telemetry.hpp"
#include "actors/tunnel_supervisor.hpp"
#include "app/feeders.hpp"
#include "app/health_server.hpp"
#include "app/kube_ports.hpp"
#include "app/liveness.hpp"
#include "app/pod_source_feeder.hpp"
#include "app/version.hpp"
#include "kube/api_error.hpp"
#include "kube/client_config.hpp"
#include "net/netlink_tunnel.hpp"
#include "net/tunnel_spec.hpp"

namespace kcr::app {

namespace {

std::string random_suffix() {
  std::random_device rd;
  std::uniform_int_distribution<int> d(0, 15);
  std::string s;
  for (int i = 0; i < 6; ++i)
    s += "0123456789abcdef"[d(rd)];
  return s;
}

// Actors that make blocking API calls get their own thread (caf::detached), so that a slow API
// server never stalls the scheduler's workers. (Actor tests spawn them on the test coordinator.)
template <class F, class... Ts>
auto spawn_blocking(caf::actor_system& sys, F fun, Ts&&... xs) {
  return sys.spawn<caf::detached>(fun, std::forward<Ts>(xs)...);
}

int wait_for_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

// Liveness asks the actors themselves, whatever the API server does (app/liveness.hpp). A
// blocked API call delays an answer by at most the client's connect + request timeouts, twice
// for the handlers that make two calls.
caf::actor spawn_liveness(caf::actor_system& sys, const kube::client_config& cfg,
                          std::shared_ptr<actors::telemetry> tel,
                          std::vector<liveness_target> targets) {
  liveness_settings s;
  s.allowance = std::max<std::chrono::milliseconds>(
      std::chrono::seconds{60}, 2 * (cfg.connect_timeout + cfg.request_timeout) + 3 * s.period);
  return spawn_liveness_prober(sys, std::move(tel), std::move(targets), s);
}

} // namespace

std::string local_node_name(const options& o) {
  if (!o.node_name.empty())
    return o.node_name;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

static std::string join_ips(const std::vector<net::ip_address>& ips) {
  std::string out;
  for (const auto& ip : ips) {
    if (!out.empty())
      out += ',';
    out += ip.to_string();
  }
  return out;
}

actors::controller_settings make_settings(const options& o, const std::string& node_name) {
  actors::controller_settings s;
  s.node_name = node_name;
  s.overlay_type = o.overlay_type;
  s.overlay_network = o.overlay_network;
  s.pod_networks = o.pod_networks;
  s.endpoint_ip = o.endpoint_ip;
  s.remote_vtep = o.remote_vtep;
  s.remote_vteps = o.remote_vteps;
  s.remote_vtep_mac = o.remote_vtep_mac;
  s.vni = o.vni;
  s.vxlan_port = o.vxlan_port;
  s.tunnel_mtu = o.tunnel_mtu;
  s.config_sync_period = o.config_sync_period;
  s.tunnel_sync_period = o.tunnel_sync_period;
  s.configmap_namespace = o.configmap_namespace;
  s.configmap_name = o.configmap_name;
  s.configmap_write_budget = o.configmap_write_budget;
  s.annotation_qps = o.annotation_qps;
  // Never the hostname alone: instances in network namespaces of one machine share it.
  s.lease_identity = node_name + "_" + random_suffix();
  s.lease_duration = o.lease_duration;
  s.renew_deadline = o.renew_deadline;
  s.retry_period = o.retry_period;
  s.detach_blocking_actors = true;
  return s;
}

int run_cleanup(const options&) {
  net::netlink_tunnel_manager manager;
  auto r = manager.cleanup();
  if (!r) {
    spdlog::error("cleanup failed: {}", r.error().message);
    return 1;
  }
  if (r->removed.empty())
    spdlog::info("cleanup: nothing to remove (no interface marked {})", net::ownership_alias);
  for (const auto& name : r->removed)
    spdlog::info("cleanup: removed {}", name);
  return 0;
}

namespace {

void log_start(const options& o, const std::string& node_name) {
  spdlog::info("kube-chorus-router {} (git {}) on node {}: overlay {} {} endpoint {} remote VTEP "
               "{}{}{}",
               version(), git_revision(), node_name, net::flag_name(o.overlay_type),
               o.overlay_network.to_string(), o.endpoint_ip.to_string(),
               o.remote_vteps.empty() ? std::string("-") : join_ips(o.remote_vteps),
               o.run_publisher ? (o.leader_elect ? ", publisher (leader election)" : ", publisher")
                               : "",
               o.run_tunnel ? ", tunnel" : "");
}

// The client configuration, or null (logged) when it cannot be made.
std::shared_ptr<const kube::client_config> load_client(const options& o) {
  std::shared_ptr<const kube::client_config> cfg;
  try {
    kube::config_options co;
    co.kubeconfig = o.kubeconfig;
    co.master = o.master;
    auto c = kube::load_client_config(co);
    c.validate();
    cfg = std::make_shared<const kube::client_config>(std::move(c));
  } catch (const std::exception& e) {
    spdlog::error("cannot configure the Kubernetes client: {}", e.what());
    return nullptr;
  }
  spdlog::info("API server {} ({})", cfg->server.to_string(), cfg->source);
  // Off only when the kubeconfig asks; then say so at every start: anyone on the path can
  // impersonate the API server and read the credentials.
  if (cfg->insecure_skip_tls_verify)
    spdlog::warn("TLS verification of {} is OFF (insecure-skip-tls-verify in {}): the API "
                 "server's identity is not checked",
                 cfg->server.to_string(), cfg->source);
  return cfg;
}

// The health and metrics endpoints; throws when an address cannot be bound.
struct endpoints {
  std::unique_ptr<health_server> health;
  std::unique_ptr<prometheus::Exposer> exposer;
};

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

// Feeders: the outside world's change streams into the actors.
struct feeders {
  std::unique_ptr<node_feeder> nodes; // created once the pod range source is settled
  std::unique_ptr<pod_source_feeder> pod_sources;
  std::unique_ptr<configmap_feeder> configmap;
  std::unique_ptr<own_node_feeder> own_node;
  std::unique_ptr<link_feeder> links;

  void start() {
    if (configmap)
      configmap->start();
    if (pod_sources)
      pod_sources->start();
    if (own_node)
      own_node->start();
    if (links)
      links->start();
  }
  void stop() {
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
};

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

} // namespace

int run_controller(const options& o) {
  auto node_name = local_node_name(o);
  auto settings = make_settings(o, node_name);
  log_start(o, node_name);
  auto cfg = load_client(o);
  if (!cfg)
    return 1;

  auto tel = std::make_shared<actors::telemetry>();
  // Not ready before the actors have declared what readiness waits for.
  tel->health.require_ready("actors started");
  tel->metrics.set_build_info(version(), git_revision());
  endpoints served;
  try {
    served = start_endpoints(o, tel);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }

  caf::actor_system_config cfg_caf;
  cfg_caf.set("logger.verbosity", caf::atom("quiet"));
  cfg_caf.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg_caf};

  // Spawn in dependency order; a role that is off leaves its handles null.
  auto events = spawn_blocking(sys, actors::event_recorder, make_event_port(cfg, node_name), tel,
                               size_t{4096});
  auto tunnel = spawn_tunnel_role(sys, o, settings, cfg, tel, events);
  auto pub = spawn_publisher_role(sys, o, settings, cfg, node_name, tel, events);
  auto actor = [](const auto& h) { return caf::actor_cast<caf::actor>(h); };
  auto prober = spawn_liveness(sys, *cfg, tel,
                               {{"event_recorder", actor(events)},
                                {"tunnel", actor(tunnel.supervisor), true},
                                {"publisher", actor(pub.publisher)},
                                {"node_annotator", actor(pub.annotator)},
                                {"allocator", actor(pub.allocator)},
                                {"node_watcher", actor(pub.node_watcher)},
                                {"configmap_watcher", actor(pub.cm_watcher)},
                                {"leader_elector", actor(pub.elector)}});
  tel->health.set_ready("actors started", true);
  auto stop_all = [&] {
    stop_actors({prober, actor(pub.elector), actor(pub.node_watcher), actor(pub.cm_watcher),
                 actor(pub.allocator), actor(pub.publisher), actor(pub.annotator),
                 actor(tunnel.readiness), actor(tunnel.supervisor), actor(events)});
  };

  feeders feed;
  try {
    make_feeders(feed, o, node_name, cfg, tel, tunnel, pub);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    stop_all();
    return 1;
  }
  feed.start();

  int sig = wait_for_signal();
  spdlog::info("received {}, shutting down (the tunnel stays up)",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  // Whatever blocks below (an API call in flight), the process is gone within 5 s.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(4500));
    spdlog::warn("shutdown took too long; exiting now");
    std::_Exit(0);
  }).detach();
  feed.stop();
  release_lease(sys, pub.elector);
  stop_all();
  return 0;
}

} // namespace kcr::app
