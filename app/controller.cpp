#include "app/controller.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "app/kube_ports.hpp"
#include "app/liveness.hpp"
#include "app/roles.hpp"
#include "app/version.hpp"
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
                          const actors::event_recorder_actor& events, const tunnel_role& tunnel,
                          const publisher_role& pub) {
  liveness_settings s;
  s.allowance = std::max<std::chrono::milliseconds>(
      std::chrono::seconds{60}, 2 * (cfg.connect_timeout + cfg.request_timeout) + 3 * s.period);
  auto actor = [](const auto& h) { return caf::actor_cast<caf::actor>(h); };
  return spawn_liveness_prober(sys, std::move(tel),
                               {{"event_recorder", actor(events)},
                                {"tunnel", actor(tunnel.supervisor), true},
                                {"publisher", actor(pub.publisher)},
                                {"node_annotator", actor(pub.annotator)},
                                {"allocator", actor(pub.allocator)},
                                {"node_watcher", actor(pub.node_watcher)},
                                {"configmap_watcher", actor(pub.cm_watcher)},
                                {"leader_elector", actor(pub.elector)}},
                               s);
}

// Whatever blocks the shutdown (an API call in flight), the process is gone within 5 s. The
// watchdog and the end of the shutdown take one lock: once run_controller is past it (main
// returns and the loggers are destroyed), the watchdog touches nothing (TSan found it logging into
// a destroyed logger when the shutdown took just under its 4.5 s).
struct exit_watchdog {
  std::mutex m;
  bool done = false;
};
exit_watchdog& watchdog() {
  static auto* w = new exit_watchdog; // never destroyed: the detached thread may outlive main
  return *w;
}
void exit_within_5s() {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(4500));
    std::lock_guard lock(watchdog().m);
    if (watchdog().done)
      return;
    spdlog::warn("shutdown took too long; exiting now");
    std::_Exit(0);
  }).detach();
}
void shutdown_done() {
  std::lock_guard lock(watchdog().m);
  watchdog().done = true;
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

int serve(const options& o) {
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
  auto prober = spawn_liveness(sys, *cfg, tel, events, tunnel, pub);
  tel->health.set_ready("actors started", true);
  auto actor = [](const auto& h) { return caf::actor_cast<caf::actor>(h); };
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
  exit_within_5s();
  feed.stop();
  release_lease(sys, pub.elector);
  stop_all();
  return 0;
}

} // namespace

// The watchdog is disarmed only once serve() returned, its locals (actor system, endpoints,
// feeders) destroyed: their destructors are what may block.
int run_controller(const options& o) {
  int rc = serve(o);
  shutdown_done();
  return rc;
}

} // namespace kcr::app
