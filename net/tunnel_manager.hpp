// The small interface through which actors manage the node's tunnel interface,
// with its result and error types. The real implementation is
// net::netlink_tunnel_manager (libnl-route-3); actor tests use a fake.
//
// Error model: no exceptions cross this interface. Every operation returns a
// tunnel_result<T> holding either a value or a tunnel_error {code, message}.
// Actors map the code to their retry policy (kernel_unsupported,
// foreign_interface, invalid_spec and permission will not heal by retrying;
// netlink_error and lower_device_not_found may) and log the message, which
// names the interface or input involved.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "net/ip.hpp"
#include "net/result.hpp"
#include "net/tunnel_spec.hpp"

namespace kcr::net {

/// IFLA_IFALIAS value marking an interface as created (owned) by us. An
/// interface without it is never modified or deleted.
inline constexpr std::string_view ownership_alias = "kube-chorus-router";

enum class tunnel_errc {
  foreign_interface,      ///< an interface with our name exists but is not ours
  kernel_unsupported,     ///< the kernel lacks the tunnel type (e.g. module ipip)
  lower_device_not_found, ///< no interface holds the local underlay IP
  invalid_spec,           ///< the spec failed validate()
  netlink_error,          ///< any other netlink failure (may heal on retry)
  permission,             ///< EPERM/EACCES: missing CAP_NET_ADMIN
};

constexpr std::string_view to_string(tunnel_errc c) {
  switch (c) {
  case tunnel_errc::foreign_interface:
    return "foreign_interface";
  case tunnel_errc::kernel_unsupported:
    return "kernel_unsupported";
  case tunnel_errc::lower_device_not_found:
    return "lower_device_not_found";
  case tunnel_errc::invalid_spec:
    return "invalid_spec";
  case tunnel_errc::netlink_error:
    return "netlink_error";
  case tunnel_errc::permission:
    return "permission";
  }
  return "unknown";
}

/// True for errors that a later retry can fix without a change of input.
constexpr bool retryable(tunnel_errc c) {
  return c == tunnel_errc::netlink_error || c == tunnel_errc::lower_device_not_found;
}

inline std::ostream& operator<<(std::ostream& os, tunnel_errc c) {
  return os << to_string(c);
}

struct tunnel_error {
  tunnel_errc code = tunnel_errc::netlink_error;
  std::string message;
};

inline std::ostream& operator<<(std::ostream& os, const tunnel_error& e) {
  return os << to_string(e.code) << ": " << e.message;
}

template <class T>
using tunnel_result = result<T, tunnel_error>;

/// Reverse-path filtering as the kernel applies it to an interface (IN_DEV_RPFILTER): the max of
/// net.ipv4.conf.all.rp_filter and net.ipv4.conf.<interface>.rp_filter (0 off, 1 strict, 2
/// loose); -1 when either is unknown.
constexpr int effective_rp_filter(int all, int interface) {
  return all < 0 || interface < 0 ? -1 : (all > interface ? all : interface);
}

/// The tunnel interface's rp_filter. Strict drops the device's packets: they arrive on the
/// tunnel from addresses the node routes elsewhere.
struct rp_filter_state {
  int all = -1;         ///< net.ipv4.conf.all.rp_filter; -1 when unread or unreadable
  int interface = -1;   ///< net.ipv4.conf.<interface>.rp_filter; -1 likewise
  bool writable = true; ///< false: setting it was refused (read-only /proc/sys, a container)
  int effective() const { return effective_rp_filter(all, interface); }
  bool strict() const { return effective() == 1; }
};

/// The one sysctl that makes `interface` loose whatever "all" says (max(all, 2) = 2), as an
/// operator runs it on the node.
inline std::string rp_filter_fix(std::string_view interface) {
  return "sysctl -w net.ipv4.conf." + std::string(interface) + ".rp_filter=2";
}

/// What converge() did. `changes` are human-readable ("created routervxlan0",
/// "mtu 1500 -> 1450", ...); `netlink_writes` counts every netlink request
/// that modifies kernel state (0 when nothing drifted).
struct converge_report {
  std::string interface;
  bool created = false;
  std::vector<std::string> changes;
  /// What could not be made right but does not stop the tunnel from working (e.g. rp_filter on
  /// a read-only /proc/sys inside a container); the same text every time, so callers log once.
  std::vector<std::string> warnings;
  /// The interface's rp_filter after converge (read back, also when it could not be set).
  rp_filter_state rp_filter;
  int netlink_writes = 0;
  bool changed() const { return !changes.empty(); }
};

/// What cleanup()/remove() did: the interfaces deleted.
struct cleanup_report {
  std::vector<std::string> removed;
  int netlink_writes = 0;
};

/// The observed state of an interface, for diagnostics and tests.
struct tunnel_state {
  std::string name;
  int ifindex = 0;
  std::string kind;  ///< "vxlan", "ipip", "veth", ... ("" when unknown)
  std::string alias; ///< IFLA_IFALIAS
  bool ours = false; ///< alias == ownership_alias
  bool up = false;   ///< IFF_UP set administratively
  uint32_t mtu = 0;
  std::optional<mac_address> mac; ///< link-layer address (not for IPIP)
  std::vector<cidr> addresses;    ///< all addresses, host bits kept
  // Tunnel attributes (zero / unset when not a tunnel).
  uint32_t vni = 0;
  uint16_t port = 0;
  std::optional<ip_address> local;
  std::optional<ip_address> remote; ///< IPIP remote
  uint8_t ttl = 0;                  ///< IPIP outer TTL
  int lower_ifindex = 0;
  std::vector<ip_address> fdb_default_dsts; ///< 00:00:00:00:00:00 FDB entries (VXLAN)
  std::vector<static_neighbour> permanent_neighbours;
};

class tunnel_manager {
public:
  virtual ~tunnel_manager() = default;

  /// Makes the interface described by `spec` exist exactly as specified.
  /// Idempotent; makes no writes when nothing drifted.
  virtual tunnel_result<converge_report> converge(const tunnel_spec& spec) = 0;

  /// Deletes every interface we own (alias mark). Idempotent.
  virtual tunnel_result<cleanup_report> cleanup() = 0;

  /// Deletes the interface `name` if it exists and is ours; foreign_interface
  /// when it exists without our mark; success with nothing removed when absent.
  virtual tunnel_result<cleanup_report> remove(std::string_view name) = 0;

  /// The interface's current state, nullopt when it does not exist.
  virtual tunnel_result<std::optional<tunnel_state>> current_state(std::string_view name) = 0;
};

} // namespace kcr::net
