// The real tunnel_manager: VXLAN and IPIP interfaces through libnl-route-3.
// Also exposes the pure-ish building blocks (the RTM_NEWLINK request object,
// the "must recreate" rule, reading a link's attributes) for unit tests.
#pragma once

#include <optional>
#include <string>

#include "net/netlink_socket.hpp"
#include "net/tunnel_manager.hpp"

namespace kcr::net {

/// A spec resolved against the kernel: everything the create request needs.
struct link_request {
  overlay_type type = overlay_type::vxlan;
  std::string name;
  uint32_t vni = 0;
  uint16_t port = 0;
  ip_address local;
  ip_address remote; ///< put on the link for IPIP only (VXLAN uses the FDB)
  int lower_ifindex = 0;
  uint32_t mtu = 0;
  std::optional<mac_address> mac; ///< VXLAN only
  uint8_t ttl = 0;                ///< IPIP only
};

link_request make_link_request(const tunnel_spec& spec, int lower_ifindex, uint32_t lower_mtu);

/// The rtnl_link object sent with RTM_NEWLINK (NLM_F_CREATE|NLM_F_EXCL):
/// kind, name, alias mark, MTU, MAC and the tunnel attributes. Created down.
nl::link_ptr build_link(const link_request& req);

/// A kernel link's name, kind, alias, flags, MTU, MAC and tunnel attributes
/// (no addresses, FDB or neighbours).
tunnel_state link_state(rtnl_link* link);

/// Why `current` cannot be adapted in place to `want` (type, VNI, port, local
/// IP, lower device, IPIP remote or TTL differ); nullopt when it can.
std::optional<std::string> recreate_reason(const tunnel_state& current, const link_request& want);

/// The rp_filter the kernel applies to `interface`, read from `proc_sys` ("/proc/sys").
rp_filter_state read_rp_filter(const std::string& proc_sys, std::string_view interface);

class netlink_tunnel_manager final : public tunnel_manager {
public:
  /// proc_sys: where /proc/sys is (tests may point elsewhere).
  explicit netlink_tunnel_manager(std::string proc_sys = "/proc/sys");
  ~netlink_tunnel_manager() override;

  // The netlink socket is opened on first use, in the network namespace of
  // the calling thread, and kept. After a netlink_error it is dropped (an
  // interrupted dump would leave stale replies in it) and reopened by the
  // next call. Not thread-safe: one manager per actor/thread.
  tunnel_result<converge_report> converge(const tunnel_spec& spec) override;
  tunnel_result<cleanup_report> cleanup() override;
  tunnel_result<cleanup_report> remove(std::string_view name) override;
  tunnel_result<std::optional<tunnel_state>> current_state(std::string_view name) override;

private:
  tunnel_result<nl_sock*> socket();
  /// After a netlink failure the socket may hold unread replies or a broken sequence: the next
  /// call opens a fresh one.
  template <class T>
  T reset_socket_on_netlink_error(T result) {
    if (!result.ok() && result.error().code == tunnel_errc::netlink_error)
      sock_.reset();
    return result;
  }
  tunnel_result<converge_report> do_converge(const tunnel_spec& spec);
  tunnel_result<cleanup_report> do_cleanup();
  tunnel_result<cleanup_report> do_remove(std::string_view name);
  tunnel_result<std::optional<tunnel_state>> do_current_state(std::string_view name);

  std::string proc_sys_;
  nl::sock_ptr sock_;
};

} // namespace kcr::net
