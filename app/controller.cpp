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
  for (const auto& ip : ips)
    out += (out.empty() ? "" : ",") + ip.to_string();
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

int run_controller(const options& o) {
  auto node_name = local_node_name(o);
  auto settings = make_settings(o, node_name);
  spdlog::info("kube-chorus-router {} (git {}) on node {}: overlay {} {} endpoint {} remote VTEP "
               "{}{}{}",
               version(), git_revision(), node_name, net::flag_name(o.overlay_type),
               o.overlay_network.to_string(), o.endpoint_ip.to_string(),
               o.remote_vteps.empty() ? std::string("-") : join_ips(o.remote_vteps),
               o.run_publisher ? (o.leader_elect ? ", publisher (leader election)" : ", publisher")
                               : "",
               o.run_tunnel ? ", tunnel" : "");

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
    return 1;
  }
  spdlog::info("API server {} ({})", cfg->server.to_string(), cfg->source);
  // Off only when the kubeconfig asks; then say so at every start: anyone on the path can
  // impersonate the API server and read the credentials.
  if (cfg->insecure_skip_tls_verify)
    spdlog::warn("TLS verification of {} is OFF (insecure-skip-tls-verify in {}): the API "
                 "server's identity is not checked",
                 cfg->server.to_string(), cfg->source);

  auto tel = std::make_shared<actors::telemetry>();
  // Not ready before the actors have declared what readiness waits for.
  tel->health.require_ready("actors started");
  tel->metrics.set_build_info(version(), git_revision());
  std::unique_ptr<health_server> health;
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    if (!o.health_addr.empty()) {
      health = std::make_unique<health_server>(o.health_addr,
                                               health_handlers{[tel] {
                                                                 auto r = tel->health.healthz();
                                                                 return probe_result{r.ok, r.text};
                                                               },
                                                               [tel] {
                                                                 auto r = tel->health.readyz();
                                                                 return probe_result{r.ok, r.text};
                                                               }});
      spdlog::info("health on {} (/healthz, /readyz)", o.health_addr);
    }
    if (!o.metrics_addr.empty()) {
      exposer = std::make_unique<prometheus::Exposer>(o.metrics_addr);
      for (const auto& c : tel->metrics.exported())
        exposer->RegisterCollectable(c);
      spdlog::info("metrics on {} (/metrics)", o.metrics_addr);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }

  caf::actor_system_config cfg_caf;
  cfg_caf.set("logger.verbosity", caf::atom("quiet"));
  cfg_caf.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg_caf};

  // Spawn in dependency order; a role that is off leaves its handle null.
  auto events = spawn_blocking(sys, actors::event_recorder, make_event_port(cfg, node_name), tel,
                               size_t{4096});
  // Tunnel role: the local tunnel, fed by a watch of this Node only.
  actors::tunnel_supervisor_actor supervisor;
  actors::node_readiness_actor readiness;          // with --tunnel-condition / --readiness-taint
  actors::tunnel_supervisor_actor own_node_target; // readiness in front of the supervisor, if any
  if (o.run_tunnel) {
    std::shared_ptr<net::tunnel_manager> manager = std::make_shared<net::netlink_tunnel_manager>();
    // Readiness (issue 17): every converge's outcome also goes to node_readiness.
    std::shared_ptr<actors::reporting_tunnel_manager> reporting;
    if (o.tunnel_condition || o.readiness_taint)
      manager = reporting = std::make_shared<actors::reporting_tunnel_manager>(manager);
    tel->health.require_ready("local tunnel converged");
    // Readiness, kube-router style: the tunnel beats after every successful converge.
    tel->health.expect("tunnel", 3 * settings.tunnel_sync_period + settings.backoff_max);
    supervisor = sys.spawn(actors::tunnel_supervisor, settings, manager, tel, events);
    own_node_target = supervisor;
    if (reporting) {
      // It writes to the API (blocking): its own thread. It goes in front of the supervisor on
      // the own-Node stream and forwards.
      readiness = spawn_blocking(sys, actors::node_readiness,
                                 actors::node_readiness_config{
                                     std::make_shared<const actors::controller_settings>(settings),
                                     o.readiness_taint, make_node_status_port(cfg), supervisor});
      own_node_target = readiness;
      reporting->set_sink(
          [h = readiness](actors::converge_outcome out) { caf::anon_send(h, std::move(out)); });
    }
  }

  // Publisher role: every Node, the ConfigMap, the Lease, the Node annotations.
  actors::publisher_actor publisher;
  actors::node_annotator_actor annotator;
  actors::allocator_actor allocator;
  actors::node_watcher_actor node_watcher;
  actors::configmap_watcher_actor cm_watcher;
  actors::leader_elector_actor elector;
  if (o.run_publisher) {
    publisher = spawn_blocking(
        sys, actors::publisher, settings, tel,
        make_configmap_port(cfg, o.configmap_namespace, o.configmap_name, node_name));
    annotator =
        spawn_blocking(sys, actors::node_annotator, settings, tel, make_node_annotation_port(cfg));
    allocator = sys.spawn(actors::allocator, settings, tel, publisher, annotator, events);
    node_watcher = sys.spawn(actors::node_watcher, allocator, annotator, events, tel);
    cm_watcher = sys.spawn(actors::configmap_watcher, allocator, publisher, annotator, tel);
    if (o.leader_elect) {
      std::vector<actors::leadership_listener> listeners{
          caf::actor_cast<actors::leadership_listener>(allocator),
          caf::actor_cast<actors::leadership_listener>(publisher),
          caf::actor_cast<actors::leadership_listener>(annotator)};
      // Readiness: the elector beats on every successful Lease read or renew (every retry
      // period); a whole lease duration without one means the API server is out of reach and
      // the Lease (ours or the leader's) has run out meanwhile.
      tel->health.expect("leader_elector", settings.lease_duration + 2 * settings.retry_period);
      elector = spawn_blocking(sys, actors::leader_elector,
                               make_lease_port(cfg, o.configmap_namespace, o.configmap_name),
                               settings, listeners, tel);
    } else {
      actors::leadership always{true, settings.lease_identity, 1};
      caf::anon_send(allocator, always);
      caf::anon_send(publisher, always);
      caf::anon_send(annotator, always);
      tel->metrics.set_leader(true);
    }
  }

  auto prober = spawn_liveness(sys, *cfg, tel,
                               {{"event_recorder", caf::actor_cast<caf::actor>(events)},
                                {"tunnel", caf::actor_cast<caf::actor>(supervisor), true},
                                {"publisher", caf::actor_cast<caf::actor>(publisher)},
                                {"node_annotator", caf::actor_cast<caf::actor>(annotator)},
                                {"allocator", caf::actor_cast<caf::actor>(allocator)},
                                {"node_watcher", caf::actor_cast<caf::actor>(node_watcher)},
                                {"configmap_watcher", caf::actor_cast<caf::actor>(cm_watcher)},
                                {"leader_elector", caf::actor_cast<caf::actor>(elector)}});
  tel->health.set_ready("actors started", true);

  auto stop_all = [&] {
    auto stop = [](const auto& h) {
      if (h)
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    };
    stop(prober);
    stop(elector);
    stop(node_watcher);
    stop(cm_watcher);
    stop(allocator);
    stop(publisher);
    stop(annotator);
    stop(readiness);
    stop(supervisor);
    stop(events);
  };

  // Feeders: the outside world's change streams.
  std::unique_ptr<node_feeder> nodes; // created once the pod range source is settled
  std::unique_ptr<pod_source_feeder> pod_sources;
  std::unique_ptr<configmap_feeder> configmap;
  std::unique_ptr<own_node_feeder> own_node;
  std::unique_ptr<link_feeder> links;
  try {
    if (o.run_publisher) {
      configmap = std::make_unique<configmap_feeder>(cfg, o.configmap_namespace, o.configmap_name,
                                                     cm_watcher, tel);
      // Nodes are parsed for the pod range source, so their feeder starts once it is settled.
      pod_sources = std::make_unique<pod_source_feeder>(
          cfg, o.pod_cidr_source, node_watcher, tel, [&nodes, cfg, node_watcher, tel](auto source) {
            try {
              nodes = std::make_unique<node_feeder>(cfg, source, node_watcher, tel);
              nodes->start();
            } catch (const std::exception& e) {
              spdlog::error("cannot watch Nodes: {}", e.what());
            }
          });
    }
    if (o.run_tunnel) {
      // Also in a single process: the local tunnel learns its entry the agent's way.
      own_node = std::make_unique<own_node_feeder>(cfg, node_name, own_node_target, tel);
      net::tunnel_spec probe;
      probe.type = o.overlay_type;
      // Route-only has no interface to watch; its periodic sync removes a leftover tunnel.
      if (o.overlay_type != net::overlay_type::none)
        links = std::make_unique<link_feeder>(net::interface_name(probe), supervisor);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    stop_all();
    return 1;
  }
  if (configmap)
    configmap->start();
  if (pod_sources)
    pod_sources->start();
  if (own_node)
    own_node->start();
  if (links)
    links->start();

  int sig = wait_for_signal();
  spdlog::info("received {}, shutting down (the tunnel stays up)",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  // Whatever blocks below (an API call in flight), the process is gone within 5 s.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(4500));
    spdlog::warn("shutdown took too long; exiting now");
    std::_Exit(0);
  }).detach();

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
  if (elector) {
    caf::scoped_actor self{sys};
    self->request(elector, std::chrono::seconds(3), actors::release_atom::value)
        .receive(
            [](bool released) {
              if (released)
                spdlog::info("released the Lease");
            },
            [](caf::error& err) { spdlog::warn("releasing the Lease: {}", caf::to_string(err)); });
  }
  stop_all();
  return 0;
}

} // namespace kcr::app
