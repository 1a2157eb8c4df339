// Command-line parsing (CLI11) and validation of every setting before anything runs.
#include "app/options.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/cluster_flags.hpp"
#include "app/duration.hpp"
#include "app/version.hpp"
#include "kube/pod_sources.hpp"

namespace kcr::app {

namespace {

// Raw text of every option; validated into `options` after CLI11 is done.
struct raw_flags {
  std::string overlay_type = "vxlan";
  std::string overlay_network;
  std::string endpoint_ip;
  std::string remote_vtep;
  std::string remote_vtep_mac;
  std::string vni = "1";
  std::string vxlan_port = "4789";
  std::string tunnel_mtu = "0";
  std::string config_sync_period = "1m";
  std::string tunnel_sync_period = "1m";
  std::string configmap_write_budget = "2Mi";
  std::string annotation_qps = "100";
  std::string lease_duration = "15s";
  std::string renew_deadline = "10s";
  std::string retry_period = "2s";
  std::string log_format = "text";
  std::string pod_cidr_source = "auto";
  std::string pod_network;
};

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& flag, const std::string& value,
                       const std::string& expected) {
  throw usage_error("invalid value \"" + value + "\" for " + flag + ": expected " + expected);
}

int64_t parse_integer(const std::string& flag, const std::string& value, int64_t lo, int64_t hi,
                      const std::string& what) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size() || n < lo || n > hi)
    fail(flag, value, what);
  return n;
}

std::chrono::milliseconds positive_duration(const std::string& flag, const std::string& value) {
  auto d = parse_duration(value);
  if (!d || d->count() <= 0)
    fail(flag, value, "a duration greater than zero like 30s, 1m or 1m30s");
  return *d;
}

// A byte count per second: digits with an optional suffix k, M, G (powers of 1000) or Ki, Mi, Gi
// (powers of 1024), as Kubernetes quantities, and an optional "/s".
double byte_rate(const std::string& flag, const std::string& value) {
  static const std::pair<const char*, double> suffixes[] = {
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"k", 1e3}, {"M", 1e6},
      {"G", 1e9},     {"", 1.0}};
  std::string text = value.ends_with("/s") ? value.substr(0, value.size() - 2) : value;
  for (const auto& [suffix, factor] : suffixes) {
    std::string_view sv{suffix};
    if (!text.ends_with(sv))
      continue;
    auto digits = text.substr(0, text.size() - sv.size());
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc{} || ptr != digits.data() + digits.size() || n < 0)
      break;
    return static_cast<double>(n) * factor;
  }
  fail(flag, value, "bytes per second like 2Mi, 512Ki or 1000000 (0 = unlimited)");
}

net::ip_address address(const std::string& flag, const std::string& value) {
  auto ip = net::ip_address::parse(value);
  if (!ip)
    fail(flag, value, "an IP address like 192.0.2.10");
  return *ip;
}

// host:port, [v6]:port or :port; port 1..65535.
void check_listen_address(const std::string& flag, const std::string& value) {
  if (value.empty())
    return; // disabled
  auto colon = value.rfind(':');
  const char* expected = "HOST:PORT like 0.0.0.0:20264, [::]:20264 or :20264 (empty disables)";
  if (colon == std::string::npos)
    fail(flag, value, expected);
  std::string host = value.substr(0, colon);
  int64_t port = 0;
  auto port_text = value.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size() ||
      port < 0 || port > 65535)
    fail(flag, value, expected);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (!host.empty() && host != "localhost" && !net::ip_address::parse(host))
    fail(flag, value, expected);
}

// Comma-separated networks (no host bits), e.g. "10.244.0.0/16,fd00:10:244::/56".
std::vector<net::cidr> networks(const std::string& flag, const std::string& value) {
  std::vector<net::cidr> out;
  size_t start = 0;
  while (start <= value.size() && !value.empty()) {
    auto end = value.find(',', start);
    auto item = value.substr(start, end == std::string::npos ? std::string::npos : end - start);
    auto c = net::cidr::parse(item);
    if (!c || !c->is_network())
      fail(flag, value, "comma-separated networks without host bits like 10.244.0.0/16");
    out.push_back(*c);
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return out;
}

// Comma-separated device VTEPs, e.g. "192.0.2.10,192.0.2.11": distinct, one address family.
std::vector<net::ip_address> remote_vteps(const std::string& value) {
  const std::string flag = "--remote-vtep";
  const char* expected = "IP addresses, comma-separated, like 192.0.2.10 or 192.0.2.10,192.0.2.11";
  std::vector<net::ip_address> out;
  size_t start = 0;
  while (true) {
    auto end = value.find(',', start);
    auto ip = net::ip_address::parse(value.substr(start, end - start));
    if (!ip)
      fail(flag, value, expected);
    if (std::find(out.begin(), out.end(), *ip) != out.end())
      fail(flag, value, "distinct addresses (" + ip->to_string() + " is given twice)");
    if (!out.empty() && ip->is_v4() != out.front().is_v4())
      fail(flag, value, "addresses of one family (IPv4 or IPv6)");
    out.push_back(*ip);
    if (end == std::string::npos)
      return out;
    start = end + 1;
  }
}

void validate(const raw_flags& raw, options& o) {
  if (auto s = kube::parse_pod_cidr_source(raw.pod_cidr_source))
    o.pod_cidr_source = *s;
  else
    fail("--pod-cidr-source", raw.pod_cidr_source, "auto, node, calico-ipam, cilium or ovn");
  o.pod_networks = networks("--pod-network", raw.pod_network);
  if (auto t = net::parse_overlay_type(raw.overlay_type))
    o.overlay_type = *t;
  else
    fail("--overlay-type", raw.overlay_type, "vxlan, ipip or none");

  o.vni = static_cast<uint32_t>(
      parse_integer("--vni", raw.vni, 1, 16777215, "a VXLAN network identifier 1..16777215"));
  o.vxlan_port = static_cast<uint16_t>(
      parse_integer("--vxlan-port", raw.vxlan_port, 1, 65535, "a UDP port 1..65535"));
  o.tunnel_mtu = static_cast<int>(parse_integer("--tunnel-mtu", raw.tunnel_mtu, 0, 65535,
                                                "0 (automatic) or an MTU 576..65535"));
  if (o.tunnel_mtu != 0 && o.tunnel_mtu < 576)
    fail("--tunnel-mtu", raw.tunnel_mtu, "0 (automatic) or an MTU 576..65535");

  o.config_sync_period = positive_duration("--config-sync-period", raw.config_sync_period);
  o.tunnel_sync_period = positive_duration("--tunnel-sync-period", raw.tunnel_sync_period);
  o.configmap_write_budget = byte_rate("--configmap-write-budget", raw.configmap_write_budget);
  o.annotation_qps = static_cast<double>(parse_integer(
      "--annotation-qps", raw.annotation_qps, 1, 100000, "Node patches per second, 1..100000"));
  o.lease_duration = positive_duration("--leader-elect-lease-duration", raw.lease_duration);
  o.renew_deadline = positive_duration("--leader-elect-renew-deadline", raw.renew_deadline);
  o.retry_period = positive_duration("--leader-elect-retry-period", raw.retry_period);
  // client-go's rule: lease > renew deadline > 1.2 x retry period.
  if (o.lease_duration <= o.renew_deadline)
    fail("--leader-elect-lease-duration", raw.lease_duration,
         "a duration longer than --leader-elect-renew-deadline (" + raw.renew_deadline + ")");
  if (o.renew_deadline.count() * 10 <= o.retry_period.count() * 12)
    fail("--leader-elect-renew-deadline", raw.renew_deadline,
         "a duration longer than 1.2 x --leader-elect-retry-period (" + raw.retry_period + ")");

  if (raw.log_format == "text")
    o.log_format = log_format::text;
  else if (raw.log_format == "json")
    o.log_format = log_format::json;
  else
    fail("--log-format", raw.log_format, "text or json");
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (std::find(std::begin(levels), std::end(levels), o.log_level) == std::end(levels))
    fail("--log-level", o.log_level, "one of trace, debug, info, warn, error, critical, off");
  check_listen_address("--health-addr", o.health_addr);
  check_listen_address("--metrics-addr", o.metrics_addr);
  if (o.configmap_name.empty())
    fail("--configmap-name", o.configmap_name, "a ConfigMap name");
  if (o.configmap_namespace.empty())
    fail("--configmap-namespace", o.configmap_namespace, "a namespace");

  if (!raw.remote_vtep_mac.empty()) {
    auto mac = net::mac_address::parse(raw.remote_vtep_mac);
    if (!mac)
      fail("--remote-vtep-mac", raw.remote_vtep_mac, "a MAC address like 02:42:c6:33:64:01");
    o.remote_vtep_mac = *mac;
  }

  // --cleanup-config only removes what this node created: it needs no overlay settings.
  if (o.cleanup_config && raw.overlay_network.empty())
    return;

  if (raw.overlay_network.empty())
    throw usage_error("--overlay-network (env NETWORK) is required: expected an IPv4 network like "
                      "192.168.254.0/24");
  auto net = net::cidr::parse(raw.overlay_network);
  if (!net || !net->address().is_v4() || net->prefix() < 8 || net->prefix() > 30)
    fail("--overlay-network", raw.overlay_network,
         "an IPv4 network with a prefix from /8 to /30 like 192.168.254.0/24");
  if (!net->is_network())
    fail("--overlay-network", raw.overlay_network,
         "a network address without host bits (" + net->network().to_string() + ")");
  o.overlay_network = *net;

  if (raw.endpoint_ip.empty()) {
    o.endpoint_ip = net::ip_address::v4(net->v4_last() - 1); // highest usable address
  } else {
    o.endpoint_ip = address("--endpoint-ip", raw.endpoint_ip);
    if (!net->contains(o.endpoint_ip))
      fail("--endpoint-ip", raw.endpoint_ip,
           "an address inside --overlay-network " + net->to_string());
    if (o.endpoint_ip.v4_value() == net->v4_first() || o.endpoint_ip.v4_value() == net->v4_last())
      fail("--endpoint-ip", raw.endpoint_ip,
           "a host address of " + net->to_string() + ", not its network or broadcast address");
  }

  // Route-only mode has no tunnel: the device's address is then only published (RemoteVTEP).
  if (raw.remote_vtep.empty() && o.overlay_type == net::overlay_type::none)
    return;
  if (raw.remote_vtep.empty())
    throw usage_error(
        "--remote-vtep (env REMOTE_VTEPIP) is required: expected the device's underlay "
        "IP address like 192.0.2.10");
  o.remote_vteps = remote_vteps(raw.remote_vtep);
  o.remote_vtep = o.remote_vteps.front();
  if (o.overlay_type == net::overlay_type::ipip && !o.remote_vtep.is_v4())
    fail("--remote-vtep", raw.remote_vtep, "an IPv4 address (IPIP carries IPv4 only)");
  // An IPIP tunnel has one remote address in its link attributes, so a list cannot be honoured.
  if (o.overlay_type == net::overlay_type::ipip && o.remote_vteps.size() > 1)
    fail("--remote-vtep", raw.remote_vtep,
         "one address with --overlay-type ipip (an IPIP tunnel has one remote; several device "
         "VTEPs need vxlan)");
}

} // namespace

command_line parse_command_line(int argc, const char* const* argv) {
  command_line result;
  options& o = result.opts;
  raw_flags raw;

  CLI::App cli{
      "kube-chorus-router: makes pod networks reachable from external ingress devices through "
      "VXLAN/IPIP tunnels and publishes the routes in a ConfigMap.",
      "kube-chorus-router"};
  cli.set_version_flag("--version", version_line());
  cli.footer("Subcommands:\n"
             "  render      device configuration (NetScaler, BIG-IP, Linux) from the published "
             "ConfigMap;\n"
             "              kube-chorus-router render --help");
  cli.get_formatter()->column_width(40);

  auto* g = "Cluster access";
  add_cluster_access_flags(cli, o.kubeconfig, o.master, g);
  cli.add_option("--hostname-override", o.node_name, "This node's Node name; default the hostname")
      ->envname("NODE_NAME")
      ->type_name("NAME")
      ->group(g);

  g = "Overlay";
  cli.add_option("--overlay-type", raw.overlay_type,
                 "vxlan, ipip or none (route-only: no tunnel, the device routes each pod range "
                 "via its node's IP)")
      ->envname("TYPE")
      ->default_str("vxlan")
      ->type_name("TYPE")
      ->group(g);
  cli.add_option("--overlay-network", raw.overlay_network,
                 "Overlay subnet for node addresses, e.g. 192.168.254.0/24 (required)")
      ->envname("NETWORK")
      ->type_name("CIDR")
      ->group(g);
  cli.add_option("--endpoint-ip", raw.endpoint_ip,
                 "The device's overlay IP; default the highest usable address of the network")
      ->envname("KCR_ENDPOINT_IP")
      ->type_name("IP")
      ->group(g);
  cli.add_option("--remote-vtep", raw.remote_vtep,
                 "The device's underlay VTEP / tunnel endpoint IP; VXLAN: several devices "
                 "comma-separated (required, except with --overlay-type none)")
      ->envname("REMOTE_VTEPIP")
      ->type_name("IP[,IP...]")
      ->group(g);
  cli.add_option("--remote-vtep-mac", raw.remote_vtep_mac,
                 "The device's tunnel MAC: adds a static neighbour for the EndpointIP")
      ->envname("KCR_REMOTE_VTEP_MAC")
      ->type_name("MAC")
      ->group(g);
  cli.add_option("--vni", raw.vni, "VXLAN network identifier, 1..16777215")
      ->envname("VNID")
      ->default_str("1")
      ->type_name("N")
      ->group(g);
  cli.add_option("--vxlan-port", raw.vxlan_port, "VXLAN UDP port")
      ->envname("VXLAN_PORT")
      ->default_str("4789")
      ->type_name("PORT")
      ->group(g);
  cli.add_option("--tunnel-mtu", raw.tunnel_mtu,
                 "Tunnel MTU; 0 = lower device MTU - 50 (VXLAN) / - 20 (IPIP)")
      ->envname("KCR_TUNNEL_MTU")
      ->default_str("0")
      ->type_name("N")
      ->group(g);

  g = "Pod ranges";
  cli.add_option("--pod-cidr-source", raw.pod_cidr_source,
                 "Where pod ranges come from: node (spec.podCIDRs, CNI annotations), calico-ipam "
                 "(BlockAffinities), cilium (CiliumNodes), ovn (node-subnets annotation), or "
                 "auto (detected at start)")
      ->envname("KCR_POD_CIDR_SOURCE")
      ->default_str("auto")
      ->type_name("SOURCE")
      ->group(g);
  cli.add_option("--pod-network", raw.pod_network,
                 "The cluster's pod networks, comma-separated: a range outside them is not "
                 "published (default: none, ranges wider than /16 or /48 are refused)")
      ->envname("KCR_POD_NETWORK")
      ->type_name("CIDR,...")
      ->group(g);

  g = "Publication";
  add_configmap_flags(cli, o.configmap_name, o.configmap_namespace, g);
  cli.add_option("--config-sync-period", raw.config_sync_period, "Full ConfigMap reconcile period")
      ->envname("KCR_CONFIG_SYNC_PERIOD")
      ->default_str("1m")
      ->type_name("DURATION")
      ->group(g);
  cli.add_option("--tunnel-sync-period", raw.tunnel_sync_period, "Full tunnel reconcile period")
      ->envname("KCR_TUNNEL_SYNC_PERIOD")
      ->default_str("1m")
      ->type_name("DURATION")
      ->group(g);
  cli.add_option("--configmap-write-budget", raw.configmap_write_budget,
                 "Bytes per second of ConfigMap writes, each counted as the whole object (what "
                 "etcd stores); 0 = unlimited")
      ->envname("KCR_CONFIGMAP_WRITE_BUDGET")
      ->default_str("2Mi")
      ->type_name("BYTES")
      ->group(g);
  cli.add_option("--annotation-qps", raw.annotation_qps,
                 "Publisher: at most this many Node annotation patches per second (burst: one "
                 "second's worth)")
      ->envname("KCR_ANNOTATION_QPS")
      ->default_str("100")
      ->type_name("N")
      ->group(g);

  g = "Roles";
  cli.add_flag("--run-publisher", o.run_publisher,
               "Allocate and publish (as Lease holder); =false to disable")
      ->envname("KCR_RUN_PUBLISHER")
      ->group(g);
  cli.add_flag("--run-tunnel", o.run_tunnel, "Converge this node's tunnel; =false to disable")
      ->envname("KCR_RUN_TUNNEL")
      ->group(g);
  cli.add_flag("--tunnel-condition", o.tunnel_condition,
               "Tunnel role: keep the Node condition ChorusTunnelReady true to the tunnel")
      ->envname("KCR_TUNNEL_CONDITION")
      ->group(g);
  cli.add_flag("--readiness-taint", o.readiness_taint,
               "Tunnel role: remove the startup taint kube-chorus-router.io/not-ready once the "
               "tunnel is converged (implies --tunnel-condition)")
      ->envname("KCR_READINESS_TAINT")
      ->group(g);
  cli.add_flag("--leader-elect", o.leader_elect,
               "Publish only while holding the Lease; =false always publishes")
      ->envname("KCR_LEADER_ELECT")
      ->group(g);
  cli.add_option("--leader-elect-lease-duration", raw.lease_duration, "Lease duration")
      ->envname("KCR_LEASE_DURATION")
      ->default_str("15s")
      ->type_name("DURATION")
      ->group(g);
  cli.add_option("--leader-elect-renew-deadline", raw.renew_deadline, "Renew deadline")
      ->envname("KCR_RENEW_DEADLINE")
      ->default_str("10s")
      ->type_name("DURATION")
      ->group(g);
  cli.add_option("--leader-elect-retry-period", raw.retry_period, "Retry period")
      ->envname("KCR_RETRY_PERIOD")
      ->default_str("2s")
      ->type_name("DURATION")
      ->group(g);

  g = "Operations";
  cli.add_option("--health-addr", o.health_addr, "Address of /healthz and /readyz; empty disables")
      ->envname("KCR_HEALTH_ADDR")
      ->capture_default_str()
      ->type_name("ADDR")
      ->group(g);
  cli.add_option("--metrics-addr", o.metrics_addr, "Address of /metrics; empty disables")
      ->envname("KCR_METRICS_ADDR")
      ->capture_default_str()
      ->type_name("ADDR")
      ->group(g);
  cli.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
      ->envname("KCR_LOG_LEVEL")
      ->capture_default_str()
      ->type_name("LEVEL")
      ->group(g);
  cli.add_option("--log-format", raw.log_format, "text or json")
      ->envname("KCR_LOG_FORMAT")
      ->default_str("text")
      ->type_name("FORMAT")
      ->group(g);
  cli.add_flag("--cleanup-config", o.cleanup_config,
               "Remove this node's tunnel state and exit (no API server needed)")
      ->group(g);

  // "--health-addr=" (an empty value after '=') means "disabled"; CLI11 would take the next
  // argument as the value instead, so spell it as the flag followed by an empty argument.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 3 && a.starts_with("--") && a.back() == '=') {
      args.push_back(a.substr(0, a.size() - 1));
      args.emplace_back();
    } else {
      args.push_back(std::move(a));
    }
  }
  std::reverse(args.begin(), args.end()); // CLI11 takes them in reverse order

  try {
    cli.parse(args);
    // An empty environment variable disables an endpoint too (CLI11 skips empty values).
    for (auto [flag, env, target] :
         {std::tuple{"--health-addr", "KCR_HEALTH_ADDR", &o.health_addr},
          std::tuple{"--metrics-addr", "KCR_METRICS_ADDR", &o.metrics_addr}}) {
      const char* v = std::getenv(env);
      if (cli.get_option(flag)->count() == 0 && v && *v == '\0')
        target->clear();
    }
    validate(raw, o);
  } catch (const CLI::CallForHelp&) {
    result.exit_now = true;
    result.out = cli.help();
  } catch (const CLI::CallForVersion&) {
    result.exit_now = true;
    result.out = version_line() + "\n";
  } catch (const CLI::ParseError& e) {
    result.exit_now = true;
    result.exit_code = 2;
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    result.err = msg + " (see --help)";
  } catch (const usage_error& e) {
    result.exit_now = true;
    result.exit_code = 2;
    result.err = e.what();
  }
  return result;
}

} // namespace kcr::app
