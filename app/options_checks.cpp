// Validation of the controller's settings: value parsers, then one check per flag group. Every
// failure is a usage_error whose message names the flag, the value and what was expected.
#include <algorithm>
#include <limits>
#include <string_view>
#include <vector>

#include "app/duration.hpp"
#include "app/flag_values.hpp"
#include "app/options_raw.hpp"
#include "kube/pod_sources.hpp"

namespace kcr::app::detail {

namespace {

// ---------------------------------------------------------------- value parsers

[[noreturn]] void fail(const std::string& flag, const std::string& value,
                       const std::string& expected) {
  throw usage_error(invalid_value(flag, value, expected));
}

int64_t parse_integer(const std::string& flag, const std::string& value, int64_t lo, int64_t hi,
                      const std::string& what) {
  auto n = integer_in(value, lo, hi);
  if (!n)
    fail(flag, value, what);
  return *n;
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
    auto n = integer_in(std::string_view{text}.substr(0, text.size() - sv.size()), 0,
                        std::numeric_limits<int64_t>::max());
    if (!n)
      break;
    return static_cast<double>(*n) * factor;
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
  if (!integer_in(std::string_view{value}.substr(colon + 1), 0, 65535))
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

// ---------------------------------------------------------------- checks, one per flag group

void check_pod_ranges(const raw_flags& raw, options& o) {
  if (auto s = kube::parse_pod_cidr_source(raw.pod_cidr_source))
    o.pod_cidr_source = *s;
  else
    fail("--pod-cidr-source", raw.pod_cidr_source, "auto, node, calico-ipam, cilium or ovn");
  o.pod_networks = networks("--pod-network", raw.pod_network);
}

// The overlay's type and numbers; the network, endpoint and VTEPs come last (see validate).
void check_tunnel_settings(const raw_flags& raw, options& o) {
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
}

void check_publication_rates(const raw_flags& raw, options& o) {
  o.config_sync_period = positive_duration("--config-sync-period", raw.config_sync_period);
  o.tunnel_sync_period = positive_duration("--tunnel-sync-period", raw.tunnel_sync_period);
  o.configmap_write_budget = byte_rate("--configmap-write-budget", raw.configmap_write_budget);
  o.annotation_qps = static_cast<double>(parse_integer(
      "--annotation-qps", raw.annotation_qps, 1, 100000, "Node patches per second, 1..100000"));
}

void check_leader_election(const raw_flags& raw, options& o) {
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
}

void check_operations(const raw_flags& raw, options& o) {
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
}

void check_configmap(const options& o) {
  if (o.configmap_name.empty())
    fail("--configmap-name", o.configmap_name, "a ConfigMap name");
  if (o.configmap_namespace.empty())
    fail("--configmap-namespace", o.configmap_namespace, "a namespace");
}

void check_remote_vtep_mac(const raw_flags& raw, options& o) {
  if (raw.remote_vtep_mac.empty())
    return;
  auto mac = net::mac_address::parse(raw.remote_vtep_mac);
  if (!mac)
    fail("--remote-vtep-mac", raw.remote_vtep_mac, "a MAC address like 02:42:c6:33:64:01");
  o.remote_vtep_mac = *mac;
}

// --overlay-network (required) and --endpoint-ip inside it.
void check_overlay_network(const raw_flags& raw, options& o) {
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
    return;
  }
  o.endpoint_ip = address("--endpoint-ip", raw.endpoint_ip);
  if (!net->contains(o.endpoint_ip))
    fail("--endpoint-ip", raw.endpoint_ip,
         "an address inside --overlay-network " + net->to_string());
  if (o.endpoint_ip.v4_value() == net->v4_first() || o.endpoint_ip.v4_value() == net->v4_last())
    fail("--endpoint-ip", raw.endpoint_ip,
         "a host address of " + net->to_string() + ", not its network or broadcast address");
}

void check_remote_vteps(const raw_flags& raw, options& o) {
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

// The order of the checks decides which error a command line with several shows; keep it.
void validate(const raw_flags& raw, options& o) {
  check_pod_ranges(raw, o);
  check_tunnel_settings(raw, o);
  check_publication_rates(raw, o);
  check_leader_election(raw, o);
  check_operations(raw, o);
  check_configmap(o);
  check_remote_vtep_mac(raw, o);
  // --cleanup-config only removes what this node created: it needs no overlay settings.
  if (o.cleanup_config && raw.overlay_network.empty())
    return;
  check_overlay_network(raw, o);
  // Route-only mode has no tunnel: the device's address is then only published (RemoteVTEP).
  if (raw.remote_vtep.empty() && o.overlay_type == net::overlay_type::none)
    return;
  check_remote_vteps(raw, o);
}

} // namespace kcr::app::detail
