// The controller's flags, one function per --help group. Most options share one shape (a text
// value with an environment variable and a type name), so they are rows of a table; the
// defaults shown are the target strings' initial values (raw_flags, options).
#include <initializer_list>

#include "app/cluster_flags.hpp"
#include "app/options_raw.hpp"

namespace kcr::app::detail {

namespace {

// One text option: `--name VALUE`, env fallback, default shown from the target's initial value.
struct text_option {
  const char* name;
  std::string* target;
  const char* help;
  const char* env;
  const char* type_name;
};

// One boolean flag (`--name`, `--name=false`); env may be null.
struct bool_flag {
  const char* name;
  bool* target;
  const char* help;
  const char* env;
};

void add(CLI::App& cli, const char* group, std::initializer_list<text_option> rows) {
  for (const auto& r : rows)
    cli.add_option(r.name, *r.target, r.help)
        ->envname(r.env)
        ->capture_default_str()
        ->type_name(r.type_name)
        ->group(group);
}

void add(CLI::App& cli, const char* group, std::initializer_list<bool_flag> rows) {
  for (const auto& r : rows) {
    auto* flag = cli.add_flag(r.name, *r.target, r.help)->group(group);
    if (r.env)
      flag->envname(r.env);
  }
}

void add_cluster_flags(CLI::App& cli, options& o) {
  const char* g = "Cluster access";
  add_cluster_access_flags(cli, o.kubeconfig, o.master, g);
  add(cli, g,
      {{"--hostname-override", &o.node_name, "This node's Node name; default the hostname",
        "NODE_NAME", "NAME"}});
}

void add_overlay_flags(CLI::App& cli, raw_flags& raw) {
  add(cli, "Overlay",
      {{"--overlay-type", &raw.overlay_type,
        "vxlan, ipip or none (route-only: no tunnel, the device routes each pod range via its "
        "node's IP)",
        "TYPE", "TYPE"},
       {"--overlay-network", &raw.overlay_network,
        "Overlay subnet for node addresses, e.g. 192.168.254.0/24 (required)", "NETWORK", "CIDR"},
       {"--endpoint-ip", &raw.endpoint_ip,
        "The device's overlay IP; default the highest usable address of the network",
        "KCR_ENDPOINT_IP", "IP"},
       {"--remote-vtep", &raw.remote_vtep,
        "The device's underlay VTEP / tunnel endpoint IP; VXLAN: several devices "
        "comma-separated (required, except with --overlay-type none)",
        "REMOTE_VTEPIP", "IP[,IP...]"},
       {"--remote-vtep-mac", &raw.remote_vtep_mac,
        "The device's tunnel MAC: adds a static neighbour for the EndpointIP",
        "KCR_REMOTE_VTEP_MAC", "MAC"},
       {"--vni", &raw.vni, "VXLAN network identifier, 1..16777215", "VNID", "N"},
       {"--vxlan-port", &raw.vxlan_port, "VXLAN UDP port", "VXLAN_PORT", "PORT"},
       {"--tunnel-mtu", &raw.tunnel_mtu,
        "Tunnel MTU; 0 = lower device MTU - 50 (VXLAN) / - 20 (IPIP)", "KCR_TUNNEL_MTU", "N"}});
}

void add_pod_range_flags(CLI::App& cli, raw_flags& raw) {
  add(cli, "Pod ranges",
      {{"--pod-cidr-source", &raw.pod_cidr_source,
        "Where pod ranges come from: node (spec.podCIDRs, CNI annotations), calico-ipam "
        "(BlockAffinities), cilium (CiliumNodes), ovn (node-subnets annotation), or "
        "auto (detected at start)",
        "KCR_POD_CIDR_SOURCE", "SOURCE"},
       {"--pod-network", &raw.pod_network,
        "The cluster's pod networks, comma-separated: a range outside them is not "
        "published (default: none, ranges wider than /16 or /48 are refused)",
        "KCR_POD_NETWORK", "CIDR,..."}});
}

void add_publication_flags(CLI::App& cli, options& o, raw_flags& raw) {
  const char* g = "Publication";
  add_configmap_flags(cli, o.configmap_name, o.configmap_namespace, g);
  add(cli, g,
      {{"--config-sync-period", &raw.config_sync_period, "Full ConfigMap reconcile period",
        "KCR_CONFIG_SYNC_PERIOD", "DURATION"},
       {"--tunnel-sync-period", &raw.tunnel_sync_period, "Full tunnel reconcile period",
        "KCR_TUNNEL_SYNC_PERIOD", "DURATION"},
       {"--configmap-write-budget", &raw.configmap_write_budget,
        "Bytes per second of ConfigMap writes, each counted as the whole object (what "
        "etcd stores); 0 = unlimited",
        "KCR_CONFIGMAP_WRITE_BUDGET", "BYTES"},
       {"--annotation-qps", &raw.annotation_qps,
        "Publisher: at most this many Node annotation patches per second (burst: one "
        "second's worth)",
        "KCR_ANNOTATION_QPS", "N"}});
}

// Roles and leader election share the "Roles" group.
void add_role_flags(CLI::App& cli, options& o, raw_flags& raw) {
  const char* g = "Roles";
  add(cli, g,
      {{"--run-publisher", &o.run_publisher,
        "Allocate and publish (as Lease holder); =false to disable", "KCR_RUN_PUBLISHER"},
       {"--run-tunnel", &o.run_tunnel, "Converge this node's tunnel; =false to disable",
        "KCR_RUN_TUNNEL"},
       {"--tunnel-condition", &o.tunnel_condition,
        "Tunnel role: keep the Node condition ChorusTunnelReady true to the tunnel",
        "KCR_TUNNEL_CONDITION"},
       {"--readiness-taint", &o.readiness_taint,
        "Tunnel role: remove the startup taint kube-chorus-router.io/not-ready once the "
        "tunnel is converged (implies --tunnel-condition)",
        "KCR_READINESS_TAINT"},
       {"--leader-elect", &o.leader_elect,
        "Publish only while holding the Lease; =false always publishes", "KCR_LEADER_ELECT"}});
  add(cli, g,
      {{"--leader-elect-lease-duration", &raw.lease_duration, "Lease duration",
        "KCR_LEASE_DURATION", "DURATION"},
       {"--leader-elect-renew-deadline", &raw.renew_deadline, "Renew deadline",
        "KCR_RENEW_DEADLINE", "DURATION"},
       {"--leader-elect-retry-period", &raw.retry_period, "Retry period", "KCR_RETRY_PERIOD",
        "DURATION"}});
}

void add_operations_flags(CLI::App& cli, options& o, raw_flags& raw) {
  const char* g = "Operations";
  add(cli, g,
      {{"--health-addr", &o.health_addr, "Address of /healthz and /readyz; empty disables",
        "KCR_HEALTH_ADDR", "ADDR"},
       {"--metrics-addr", &o.metrics_addr, "Address of /metrics; empty disables",
        "KCR_METRICS_ADDR", "ADDR"},
       {"--log-level", &o.log_level, "trace, debug, info, warn, error", "KCR_LOG_LEVEL", "LEVEL"},
       {"--log-format", &raw.log_format, "text or json", "KCR_LOG_FORMAT", "FORMAT"}});
  add(cli, g,
      {{"--cleanup-config", &o.cleanup_config,
        "Remove this node's tunnel state and exit (no API server needed)", nullptr}});
}

} // namespace

void add_flags(CLI::App& cli, options& o, raw_flags& raw) {
  add_cluster_flags(cli, o);
  add_overlay_flags(cli, raw);
  add_pod_range_flags(cli, raw);
  add_publication_flags(cli, o, raw);
  add_role_flags(cli, o, raw);
  add_operations_flags(cli, o, raw);
}

} // namespace kcr::app::detail
