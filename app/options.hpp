// The controller's validated settings, as parsed from flags and environment variables.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kube/node.hpp"
#include "net/ip.hpp"
#include "net/overlay_type.hpp"

namespace kcr::app {

enum class log_format { text, json };

struct options {
  // Cluster access.
  std::string kubeconfig;
  std::string master;
  std::string node_name; // --hostname-override / NODE_NAME; empty = the OS hostname

  // Overlay.
  net::overlay_type overlay_type = net::overlay_type::vxlan;
  net::cidr overlay_network;
  net::ip_address endpoint_ip;
  net::ip_address remote_vtep; // the first of remote_vteps; unset only with overlay type none
  std::vector<net::ip_address> remote_vteps; // --remote-vtep A,B,...: every device VTEP
  std::optional<net::mac_address> remote_vtep_mac;
  uint32_t vni = 1;
  uint16_t vxlan_port = 4789;
  int tunnel_mtu = 0; // 0 = lower device MTU minus the encapsulation overhead

  // Pod ranges (publisher): where they come from, and the networks they must lie in.
  kube::pod_cidr_source pod_cidr_source = kube::pod_cidr_source::automatic;
  std::vector<net::cidr> pod_networks; // empty = the width limit of net/pod_ranges.hpp

  // Publication.
  std::string configmap_name = "kube-chorus-router";
  std::string configmap_namespace = "kube-system";
  std::chrono::milliseconds config_sync_period{std::chrono::minutes{1}};
  std::chrono::milliseconds tunnel_sync_period{std::chrono::minutes{1}};
  /// Bytes per second of ConfigMap writes, each counted as the whole object; 0 = unlimited.
  double configmap_write_budget = 2 * 1024 * 1024;
  double annotation_qps = 100; // Node annotation patches per second (publisher)

  // Roles.
  bool run_publisher = true;
  bool run_tunnel = true;
  /// Tunnel role: keep the Node condition ChorusTunnelReady (nodes/status patch). Implied by
  /// readiness_taint.
  bool tunnel_condition = false;
  /// Tunnel role: remove the startup taint kube-chorus-router.io/not-ready once the tunnel is
  /// converged (nodes patch).
  bool readiness_taint = false;
  bool leader_elect = true;
  std::chrono::milliseconds lease_duration{std::chrono::seconds{15}};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds{10}};
  std::chrono::milliseconds retry_period{std::chrono::seconds{2}};

  // Operations.
  std::string health_addr = "0.0.0.0:20264";  // empty = disabled
  std::string metrics_addr = "0.0.0.0:20265"; // empty = disabled
  std::string log_level = "info";
  app::log_format log_format = log_format::text;
  bool cleanup_config = false;
};

/// What the command line asks for: run with options, or exit now (help,
/// version, or a usage error) with the given status and text.
struct command_line {
  bool exit_now = false;
  int exit_code = 0;
  std::string out; // for stdout (help, version)
  std::string err; // one line for stderr (usage errors)
  options opts;
};

/// Parses and validates argv (environment fallbacks included, see
/// docs/operations.md). Never exits and never prints: the caller does.
/// Usage errors yield exit_code 2 and one line naming the flag, the value and
/// what was expected.
command_line parse_command_line(int argc, const char* const* argv);

} // namespace kcr::app
