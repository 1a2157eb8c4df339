// Watches rtnetlink link and IPv4 address notifications (RTNLGRP_LINK,
// RTNLGRP_IPV4_IFADDR) and reports what happened to the interfaces we care
// about, so that the tunnel actor re-converges within moments of a drift.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/netlink_socket.hpp"
#include "net/tunnel_manager.hpp"

namespace kcr::net {

enum class link_event_kind {
  appeared, ///< a watched name now exists (created or renamed to it)
  deleted,  ///< gone (deleted or renamed away)
  down,     ///< IFF_UP cleared
  up,       ///< IFF_UP set
  mtu_changed,
  mac_changed,
  address_added,   ///< detail: the address/prefix
  address_removed, ///< detail: the address/prefix
  resync,          ///< notifications were lost (socket overrun): state unknown
};

std::string_view to_string(link_event_kind k);

struct link_event {
  link_event_kind kind = link_event_kind::resync;
  std::string interface; ///< empty for resync
  std::string detail;    ///< e.g. "1500 -> 1450", "192.168.254.1/24"
};

class link_monitor {
public:
  /// Subscribes in the calling thread's network namespace. `names`: the
  /// interfaces to report on; empty reports every interface.
  static tunnel_result<std::unique_ptr<link_monitor>> open(std::vector<std::string> names = {});
  ~link_monitor();
  link_monitor(const link_monitor&) = delete;
  link_monitor& operator=(const link_monitor&) = delete;

  /// The nonblocking netlink socket: readable when notifications are pending.
  int fd() const;
  /// Reads every pending notification without blocking.
  tunnel_result<std::vector<link_event>> drain();
  /// Waits up to `timeout` for notifications (returns early on wake()), then drains.
  tunnel_result<std::vector<link_event>> poll_once(std::chrono::milliseconds timeout);
  /// Delivers events to `on_event` until `stop` is true. Returns nullopt when
  /// stopped, the error when the socket failed. Another thread stops it by
  /// setting `stop` and calling wake() (without wake() it notices within 100 ms).
  std::optional<tunnel_error> run(const std::atomic<bool>& stop,
                                  const std::function<void(const link_event&)>& on_event);
  /// Interrupts a blocked poll_once()/run(); callable from any thread.
  void wake();

  // Called from the libnl message callback.
  void on_object(struct nl_object* obj);

private:
  struct link_info {
    std::string name;
    unsigned flags = 0;
    uint32_t mtu = 0;
    std::optional<mac_address> mac;
  };
  link_monitor() = default;
  std::optional<tunnel_error> snapshot();
  bool watched(const std::string& name) const { return names_.empty() || names_.count(name) > 0; }
  void emit(link_event_kind k, const std::string& name, std::string detail = {});

  nl::sock_ptr sock_;
  int wake_fd_ = -1;
  std::set<std::string> names_;
  std::map<int, link_info> links_; ///< every link by ifindex (names of address events)
  std::vector<link_event> pending_;
};

} // namespace kcr::net
