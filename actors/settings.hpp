// What the actors need to know from the command line (app/ fills it from kcr::app::options),
// kept here so actors do not depend on app/.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/ip.hpp"
#include "net/overlay_type.hpp"

namespace kcr::actors {

struct controller_settings {
  std::string node_name; // this instance's Node
  net::overlay_type overlay_type = net::overlay_type::vxlan;
  net::cidr overlay_network;
  net::ip_address endpoint_ip;
  net::ip_address remote_vtep; // the first device VTEP (unset in route-only mode without one)
  /// Every device VTEP (--remote-vtep A,B), remote_vtep first; empty = remote_vtep alone.
  std::vector<net::ip_address> remote_vteps;
  std::optional<net::mac_address> remote_vtep_mac;
  uint32_t vni = 1;
  uint16_t vxlan_port = 4789;
  int tunnel_mtu = 0;           // 0 = automatic
  std::string tunnel_interface; // empty = the default for the overlay type
  /// The cluster's pod networks (--pod-network): every published pod range must lie inside
  /// one; empty = the width limit of net/pod_ranges.hpp applies instead.
  std::vector<net::cidr> pod_networks;

  std::chrono::milliseconds config_sync_period{std::chrono::minutes{1}};
  /// The published ConfigMap (named in the publisher's size warnings).
  std::string configmap_namespace = "kube-system";
  std::string configmap_name = "kube-chorus-router";
  /// Bytes per second of ConfigMap writes, counted as the whole object per write (what etcd
  /// stores); 0 = unlimited. See actors/write_budget.hpp.
  double configmap_write_budget = 2 * 1024 * 1024;
  std::chrono::milliseconds tunnel_sync_period{std::chrono::minutes{1}};

  std::string lease_identity; // node name + random suffix
  std::chrono::milliseconds lease_duration{std::chrono::seconds{15}};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds{10}};
  std::chrono::milliseconds retry_period{std::chrono::seconds{2}};

  /// Node annotation patches per second (token bucket, burst = one second's worth): a cold
  /// start of 5000 Nodes must not flood the API server with Node writes.
  double annotation_qps = 100;

  /// Backoff for retried failures (ConfigMap writes, tunnel converges): initial, doubling, cap.
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{std::chrono::seconds{30}};

  /// True in production: actors that block on I/O get their own thread (caf::detached).
  /// False in tests, so that everything runs on the deterministic test coordinator.
  bool detach_blocking_actors = true;
};

} // namespace kcr::actors
