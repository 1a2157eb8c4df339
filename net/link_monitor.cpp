// link_monitor: a nonblocking rtnetlink subscriber diffing link notifications
// against a snapshot so that it can say *what* changed (down, MTU, MAC, ...).
#include "net/link_monitor.hpp"

#include <cerrno>
#include <cstring>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/object.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

namespace kcr::net {

std::string_view to_string(link_event_kind k) {
  switch (k) {
  case link_event_kind::appeared:
    return "appeared";
  case link_event_kind::deleted:
    return "deleted";
  case link_event_kind::down:
    return "down";
  case link_event_kind::up:
    return "up";
  case link_event_kind::mtu_changed:
    return "mtu_changed";
  case link_event_kind::mac_changed:
    return "mac_changed";
  case link_event_kind::address_added:
    return "address_added";
  case link_event_kind::address_removed:
    return "address_removed";
  case link_event_kind::resync:
    return "resync";
  }
  return "unknown";
}

namespace {

void on_parsed(nl_object* obj, void* arg) {
  static_cast<link_monitor*>(arg)->on_object(obj);
}

int on_message(nl_msg* msg, void* arg) {
  nl_msg_parse(msg, on_parsed, arg);
  return NL_OK;
}

std::string mac_text(const std::optional<mac_address>& m) {
  return m ? m->to_string() : std::string("none");
}

} // namespace

tunnel_result<std::unique_ptr<link_monitor>> link_monitor::open(std::vector<std::string> names) {
  std::unique_ptr<link_monitor> m{new link_monitor};
  m->names_.insert(names.begin(), names.end());
  nl::sock_ptr sk{nl_socket_alloc()};
  if (!sk)
    return tunnel_error{tunnel_errc::netlink_error, "nl_socket_alloc failed: out of memory"};
  // Notifications carry no sequence numbers we asked for.
  nl_socket_disable_seq_check(sk.get());
  nl_socket_modify_cb(sk.get(), NL_CB_VALID, NL_CB_CUSTOM, on_message, m.get());
  if (int err = nl_connect(sk.get(), NETLINK_ROUTE); err < 0)
    return nl::error_from(err, "connecting the link monitor socket");
  // Subscribe before the snapshot so that nothing falls between the two.
  if (int err = nl_socket_add_memberships(sk.get(), RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, 0); err < 0)
    return nl::error_from(err, "subscribing to link and address notifications");
  nl_socket_set_buffer_size(sk.get(), 1 << 20, 0);
  if (int err = nl_socket_set_nonblocking(sk.get()); err < 0)
    return nl::error_from(err, "making the link monitor socket nonblocking");
  m->sock_ = std::move(sk);
  m->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m->wake_fd_ < 0)
    return tunnel_error{tunnel_errc::netlink_error,
                        std::string("eventfd for the link monitor: ") + std::strerror(errno)};
  if (auto err = m->snapshot())
    return *err;
  return m;
}

link_monitor::~link_monitor() {
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

int link_monitor::fd() const {
  return nl_socket_get_fd(sock_.get());
}

std::optional<tunnel_error> link_monitor::snapshot() {
  // A separate blocking socket: the monitor's own one only receives events.
  auto sk = nl::open_route_socket();
  if (!sk)
    return sk.error();
  auto cache = nl::link_cache(sk->get());
  if (!cache)
    return cache.error();
  links_.clear();
  for (nl_object* o = nl_cache_get_first(cache->get()); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    links_[rtnl_link_get_ifindex(l)] = {rtnl_link_get_name(l), rtnl_link_get_flags(l),
                                        rtnl_link_get_mtu(l), nl::mac_from(rtnl_link_get_addr(l))};
  }
  return std::nullopt;
}

void link_monitor::emit(link_event_kind k, const std::string& name, std::string detail) {
  if (watched(name))
    pending_.push_back({k, name, std::move(detail)});
}

void link_monitor::on_object(nl_object* obj) {
  const int type = nl_object_get_msgtype(obj);
  if (type == RTM_NEWLINK || type == RTM_DELLINK) {
    auto* l = reinterpret_cast<rtnl_link*>(obj);
    const int idx = rtnl_link_get_ifindex(l);
    const char* raw_name = rtnl_link_get_name(l);
    link_info now{raw_name ? raw_name : "", rtnl_link_get_flags(l), rtnl_link_get_mtu(l),
                  nl::mac_from(rtnl_link_get_addr(l))};
    auto it = links_.find(idx);
    if (type == RTM_DELLINK) {
      emit(link_event_kind::deleted, it != links_.end() ? it->second.name : now.name);
      if (it != links_.end())
        links_.erase(it);
      return;
    }
    if (it == links_.end()) {
      emit(link_event_kind::appeared, now.name);
      links_[idx] = std::move(now);
      return;
    }
    link_info& was = it->second;
    if (was.name != now.name) {
      emit(link_event_kind::deleted, was.name, "renamed to " + now.name);
      emit(link_event_kind::appeared, now.name, "renamed from " + was.name);
    } else {
      if ((was.flags & IFF_UP) && !(now.flags & IFF_UP))
        emit(link_event_kind::down, now.name);
      if (!(was.flags & IFF_UP) && (now.flags & IFF_UP))
        emit(link_event_kind::up, now.name);
      if (was.mtu != now.mtu)
        emit(link_event_kind::mtu_changed, now.name,
             std::to_string(was.mtu) + " -> " + std::to_string(now.mtu));
      if (was.mac != now.mac)
        emit(link_event_kind::mac_changed, now.name,
             mac_text(was.mac) + " -> " + mac_text(now.mac));
    }
    was = std::move(now);
    return;
  }
  if (type == RTM_NEWADDR || type == RTM_DELADDR) {
    auto* a = reinterpret_cast<rtnl_addr*>(obj);
    auto it = links_.find(rtnl_addr_get_ifindex(a));
    if (it == links_.end())
      return;
    auto c = nl::cidr_from(rtnl_addr_get_local(a));
    emit(type == RTM_NEWADDR ? link_event_kind::address_added : link_event_kind::address_removed,
         it->second.name, c ? c->to_string() : std::string());
  }
}

tunnel_result<std::vector<link_event>> link_monitor::drain() {
  for (;;) {
    int err = nl_recvmsgs_default(sock_.get());
    if (err >= 0)
      continue;
    if (err == -NLE_AGAIN)
      break;
    if (err == -NLE_NOMEM || err == -NLE_INTR) {
      // ENOBUFS (libnl reports NLE_NOMEM): the kernel dropped notifications.
      // Say so and take a fresh snapshot to diff later events against.
      if (err == -NLE_NOMEM) {
        pending_.push_back({link_event_kind::resync, {}, "netlink socket overrun"});
        if (auto e = snapshot())
          return *e;
      }
      continue;
    }
    return nl::error_from(err, "reading link notifications");
  }
  std::vector<link_event> out;
  out.swap(pending_);
  return out;
}

tunnel_result<std::vector<link_event>> link_monitor::poll_once(std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  int n = ::poll(fds, 2, int(timeout.count()));
  if (n < 0 && errno != EINTR)
    return tunnel_error{tunnel_errc::netlink_error,
                        std::string("poll on the link monitor: ") + std::strerror(errno)};
  if (n > 0 && (fds[1].revents & POLLIN)) {
    uint64_t v = 0;
    [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
  }
  return drain();
}

std::optional<tunnel_error>
link_monitor::run(const std::atomic<bool>& stop,
                  const std::function<void(const link_event&)>& on_event) {
  while (!stop.load()) {
    auto events = poll_once(std::chrono::milliseconds(100));
    if (!events)
      return events.error();
    for (const auto& e : events.value())
      on_event(e);
  }
  return std::nullopt;
}

void link_monitor::wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof one);
}

} // namespace kcr::net
