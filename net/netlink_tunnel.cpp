// netlink_tunnel_manager: converge / cleanup / remove / current_state over
// libnl-route-3. Every modifying request goes through `writer`, which counts
// it, so "no drift means no netlink writes" is measured, not assumed.
#include "net/netlink_tunnel.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/neighbour.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>

#include "net/netlink_writer.hpp"

namespace kcr::net {

namespace {

struct lower_device {
  int ifindex = 0;
  std::string name;
  uint32_t mtu = 0;
};

void lower_from_link(nl::link_ptr& link, lower_device& out) {
  out.ifindex = rtnl_link_get_ifindex(link.get());
  out.name = rtnl_link_get_name(link.get());
  out.mtu = rtnl_link_get_mtu(link.get());
}

// The lower device is the link holding the node's underlay IP (not the
// default route's device: the underlay may be a secondary network).
tunnel_result<lower_device> resolve_lower(nl_sock* sk, const tunnel_spec& spec) {
  lower_device out;
  if (!spec.lower_device.empty()) {
    auto link = nl::get_link(sk, spec.lower_device);
    if (!link)
      return link.error();
    if (!link.value())
      return tunnel_error{tunnel_errc::lower_device_not_found,
                          "lower device " + spec.lower_device + " does not exist"};
    lower_from_link(link.value(), out);
    return out;
  }
  auto addrs = nl::dump_addresses(sk);
  if (!addrs)
    return addrs.error();
  int ifindex = 0;
  for (const auto& a : addrs.value())
    if (a.address.address() == spec.local) {
      ifindex = a.ifindex;
      break;
    }
  if (ifindex == 0)
    return tunnel_error{tunnel_errc::lower_device_not_found,
                        "no interface holds the local underlay IP " + spec.local.to_string()};
  auto link = nl::get_link(sk, ifindex);
  if (!link)
    return link.error();
  if (!link.value())
    return tunnel_error{tunnel_errc::lower_device_not_found,
                        "the interface holding " + spec.local.to_string() + " disappeared"};
  lower_from_link(link.value(), out);
  return out;
}

bool ipv6_link_local(const cidr& c) {
  return c.address().is_v6() && c.address().bytes()[0] == 0xfe &&
         (c.address().bytes()[1] & 0xc0) == 0x80;
}

// Fills addresses, FDB default destinations and permanent neighbours.
std::optional<tunnel_error> fill_details(nl_sock* sk, tunnel_state& s) {
  auto addrs = nl::dump_addresses(sk);
  if (!addrs)
    return addrs.error();
  for (const auto& a : addrs.value())
    if (a.ifindex == s.ifindex)
      s.addresses.push_back(a.address);
  if (s.kind == "vxlan") {
    auto fdb = nl::dump_neighbours(sk, AF_BRIDGE);
    if (!fdb)
      return fdb.error();
    for (const auto& e : fdb.value())
      if (e.ifindex == s.ifindex && e.lladdr && e.lladdr->is_zero() && e.dst)
        s.fdb_default_dsts.push_back(*e.dst);
    auto arp = nl::dump_neighbours(sk, AF_INET);
    if (!arp)
      return arp.error();
    for (const auto& e : arp.value())
      if (e.ifindex == s.ifindex && (e.state & NUD_PERMANENT) && e.dst && e.lladdr)
        s.permanent_neighbours.push_back({*e.dst, *e.lladdr});
  }
  return std::nullopt;
}

tunnel_error foreign(const tunnel_state& s) {
  return {tunnel_errc::foreign_interface,
          "interface " + s.name + " exists but is not ours (IFLA_IFALIAS is '" + s.alias +
              "', not '" + std::string(ownership_alias) +
              "'): refusing to modify or delete it; remove or rename it by hand"};
}

tunnel_error create_error(int err, const link_request& req) {
  tunnel_error e = nl::error_from(err, "creating " + req.name);
  if (e.code == tunnel_errc::kernel_unsupported)
    e.message = req.type == overlay_type::ipip
                    ? "kernel lacks IPIP tunnel support (module ipip): " + e.message
                    : "kernel lacks VXLAN support (module vxlan): " + e.message;
  return e;
}

std::string read_sysctl(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return {};
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  std::string v(buf, n > 0 ? size_t(n) : 0);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' '))
    v.pop_back();
  return v;
}

int write_sysctl(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = n == ssize_t(value.size()) ? 0 : (n < 0 ? errno : EIO);
  ::close(fd);
  return err;
}

// A sysctl's integer value; -1 when unreadable or not a number.
int read_sysctl_int(const std::string& path) {
  std::string v = read_sysctl(path);
  if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stoi(v);
}

} // namespace

rp_filter_state read_rp_filter(const std::string& proc_sys, std::string_view interface) {
  rp_filter_state st;
  st.all = read_sysctl_int(proc_sys + "/net/ipv4/conf/all/rp_filter");
  st.interface =
      read_sysctl_int(proc_sys + "/net/ipv4/conf/" + std::string(interface) + "/rp_filter");
  return st;
}

// Loose reverse-path filtering: packets from the device arrive on the tunnel from addresses the
// node routes elsewhere, which strict filtering (1) drops. The interface's own value 2 makes the
// kernel's max(all, interface) loose whatever "all" says. Where /proc/sys is read-only (a
// container) the value stays as the host has it: rep.rp_filter says what the kernel applies.
std::optional<tunnel_error> netlink_tunnel_manager::set_loose_rp_filter(const std::string& name,
                                                                        converge_report& rep) {
  const std::string rp = proc_sys_ + "/net/ipv4/conf/" + name + "/rp_filter";
  if (std::string v = read_sysctl(rp); v != "2") {
    int err = write_sysctl(rp, "2");
    if (err == EROFS) {
      rep.rp_filter.writable = false;
    } else if (err != 0) {
      return tunnel_error{err == EACCES || err == EPERM ? tunnel_errc::permission
                                                        : tunnel_errc::netlink_error,
                          "setting " + rp + " to 2: " + std::strerror(err)};
    } else {
      rep.changes.push_back(name + ": rp_filter " + (v.empty() ? std::string("?") : v) + " -> 2");
    }
  }
  bool writable = rep.rp_filter.writable;
  rep.rp_filter = read_rp_filter(proc_sys_, name);
  rep.rp_filter.writable = writable;
  // Strict is the caller's to report (Event, metric, readiness); anything else is only noted.
  if (!writable && !rep.rp_filter.strict()) {
    int eff = rep.rp_filter.effective();
    rep.warnings.push_back(
        "cannot set " + rp + " to 2 (read-only /proc/sys, as in a container); " +
        (eff < 0 ? std::string("the effective rp_filter is unknown")
                 : "the effective rp_filter is " + std::to_string(eff) + ", not strict"));
  }
  return std::nullopt;
}

netlink_tunnel_manager::netlink_tunnel_manager(std::string proc_sys)
    : proc_sys_(std::move(proc_sys)) {}

netlink_tunnel_manager::~netlink_tunnel_manager() = default;

tunnel_result<converge_report> netlink_tunnel_manager::converge(const tunnel_spec& spec) {
  return checked(do_converge(spec));
}
tunnel_result<cleanup_report> netlink_tunnel_manager::cleanup() {
  return checked(do_cleanup());
}
tunnel_result<cleanup_report> netlink_tunnel_manager::remove(std::string_view name) {
  return checked(do_remove(name));
}
tunnel_result<std::optional<tunnel_state>>
netlink_tunnel_manager::current_state(std::string_view name) {
  return checked(do_current_state(name));
}

tunnel_result<nl_sock*> netlink_tunnel_manager::socket() {
  if (!sock_) {
    auto s = nl::open_route_socket();
    if (!s)
      return s.error();
    sock_ = std::move(s.value());
  }
  return sock_.get();
}

tunnel_result<std::optional<tunnel_state>>
netlink_tunnel_manager::do_current_state(std::string_view name) {
  auto sk = socket();
  if (!sk)
    return sk.error();
  auto link = nl::get_link(sk.value(), std::string(name));
  if (!link)
    return link.error();
  if (!link.value())
    return std::optional<tunnel_state>{};
  tunnel_state s = link_state(link.value().get());
  if (auto err = fill_details(sk.value(), s))
    return *err;
  return std::optional<tunnel_state>{std::move(s)};
}

tunnel_result<converge_report> netlink_tunnel_manager::do_converge(const tunnel_spec& spec) {
  if (auto errs = validate(spec); !errs.empty()) {
    std::string msg = "invalid tunnel spec for " + interface_name(spec) + ": ";
    for (size_t i = 0; i < errs.size(); ++i)
      msg += (i ? "; " : "") + errs[i];
    return tunnel_error{tunnel_errc::invalid_spec, msg};
  }
  auto skr = socket();
  if (!skr)
    return skr.error();
  nl_sock* sk = skr.value();
  converge_report rep;
  rep.interface = interface_name(spec);
  const std::string& name = rep.interface;
  nl::writer w(sk, rep.netlink_writes);
  auto change = [&](std::string text) { rep.changes.push_back(name + ": " + std::move(text)); };

  auto lower = resolve_lower(sk, spec);
  if (!lower)
    return lower.error();
  const link_request want = make_link_request(spec, lower->ifindex, lower->mtu);

  auto link = nl::get_link(sk, name);
  if (!link)
    return link.error();
  if (link.value()) {
    tunnel_state cur = link_state(link.value().get());
    if (!cur.ours)
      return foreign(cur);
    if (auto why = recreate_reason(cur, want)) {
      if (int err = w.delete_link(link.value().get()); err < 0)
        return nl::error_from(err, "deleting " + name + " to recreate it");
      change("deleted to recreate (" + *why + ")");
      link.value().reset();
    }
  }
  if (!link.value()) {
    nl::link_ptr req = build_link(want);
    if (!req)
      return tunnel_error{tunnel_errc::netlink_error, "allocating a link object for " + name};
    if (int err = w.add_link(req.get()); err < 0)
      return create_error(err, want);
    rep.created = true;
    change("created " + std::string(flag_name(want.type)) + " on " + lower->name + " local " +
           want.local.to_string() +
           (want.type == overlay_type::vxlan
                ? " VNI " + std::to_string(want.vni) + " port " + std::to_string(want.port)
                : " remote " + want.remote.to_string()));
    link = nl::get_link(sk, name);
    if (!link)
      return link.error();
    if (!link.value())
      return tunnel_error{tunnel_errc::netlink_error, name + " vanished right after creation"};
  }

  tunnel_state cur = link_state(link.value().get());
  if (auto err = fill_details(sk, cur))
    return *err;

  // Link attributes changeable in place: one request for all of them.
  nl::link_ptr changes{rtnl_link_alloc()};
  bool link_dirty = false;
  if (!cur.ours) {
    // Some kernels ignore IFLA_IFALIAS on creation: mark it right after.
    rtnl_link_set_ifalias(changes.get(), std::string(ownership_alias).c_str());
    link_dirty = true;
    if (!rep.created)
      change("alias set to " + std::string(ownership_alias));
  }
  if (!cur.up) {
    rtnl_link_set_flags(changes.get(), IFF_UP);
    link_dirty = true;
    change("link set up");
  }
  if (cur.mtu != want.mtu) {
    rtnl_link_set_mtu(changes.get(), want.mtu);
    link_dirty = true;
    change("mtu " + std::to_string(cur.mtu) + " -> " + std::to_string(want.mtu));
  }
  if (want.mac && cur.mac != want.mac) {
    rtnl_link_set_addr(changes.get(), nl::to_nl(*want.mac).get());
    link_dirty = true;
    change("mac " + (cur.mac ? cur.mac->to_string() : std::string("none")) + " -> " +
           want.mac->to_string());
  }
  if (link_dirty)
    if (int err = w.change_link(link.value().get(), changes.get()); err < 0)
      return nl::error_from(err, "changing " + name);

  // Exactly one address: the overlay IP (IPv6 link-local ones are the
  // kernel's own and come back anyway).
  bool have_overlay = false;
  for (const auto& a : cur.addresses) {
    if (a == spec.overlay) {
      have_overlay = true;
      continue;
    }
    if (ipv6_link_local(a))
      continue;
    if (int err = w.address(false, cur.ifindex, a); err < 0)
      return nl::error_from(err, "removing address " + a.to_string() + " from " + name);
    change("removed address " + a.to_string());
  }
  if (!have_overlay) {
    if (int err = w.address(true, cur.ifindex, spec.overlay); err < 0)
      return nl::error_from(err, "adding address " + spec.overlay.to_string() + " to " + name);
    change("added address " + spec.overlay.to_string());
  }

  if (spec.type == overlay_type::vxlan) {
    // One all-zero FDB entry per device VTEP: the kernel sends flooded and unknown-unicast
    // frames to each. All-zero entries pointing elsewhere would duplicate traffic to stale
    // VTEPs.
    const auto want_dsts = remotes(spec);
    auto wanted = [&](const ip_address& dst) {
      return std::find(want_dsts.begin(), want_dsts.end(), dst) != want_dsts.end();
    };
    for (const auto& remote : want_dsts) {
      if (std::find(cur.fdb_default_dsts.begin(), cur.fdb_default_dsts.end(), remote) !=
          cur.fdb_default_dsts.end())
        continue;
      if (int err = w.fdb(true, cur.ifindex, remote); err < 0)
        return nl::error_from(err,
                              "adding FDB default entry dst " + remote.to_string() + " on " + name);
      change("added FDB 00:00:00:00:00:00 dst " + remote.to_string());
    }
    for (const auto& dst : cur.fdb_default_dsts) {
      if (wanted(dst))
        continue;
      if (int err = w.fdb(false, cur.ifindex, dst); err < 0)
        return nl::error_from(err, "removing FDB entry dst " + dst.to_string() + " on " + name);
      change("removed FDB 00:00:00:00:00:00 dst " + dst.to_string());
    }
    if (const auto& sn = spec.endpoint_neighbour) {
      bool have = false;
      for (const auto& n : cur.permanent_neighbours)
        have = have || n == *sn;
      if (!have) {
        if (int err = w.neighbour(cur.ifindex, *sn); err < 0)
          return nl::error_from(err, "adding neighbour " + sn->ip.to_string() + " on " + name);
        change("neighbour " + sn->ip.to_string() + " lladdr " + sn->mac.to_string() + " permanent");
      }
    }
  }

  if (auto err = set_loose_rp_filter(name, rep); err)
    return *err;
  return rep;
}

tunnel_result<cleanup_report> netlink_tunnel_manager::do_remove(std::string_view name) {
  auto sk = socket();
  if (!sk)
    return sk.error();
  cleanup_report rep;
  auto link = nl::get_link(sk.value(), std::string(name));
  if (!link)
    return link.error();
  if (!link.value())
    return rep;
  tunnel_state s = link_state(link.value().get());
  if (!s.ours)
    return foreign(s);
  nl::writer w(sk.value(), rep.netlink_writes);
  // FDB entries, neighbours and addresses go with the link.
  if (int err = w.delete_link(link.value().get());
      err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV)
    return nl::error_from(err, "deleting " + s.name);
  rep.removed.push_back(s.name);
  return rep;
}

tunnel_result<cleanup_report> netlink_tunnel_manager::do_cleanup() {
  auto sk = socket();
  if (!sk)
    return sk.error();
  auto cache = nl::link_cache(sk.value());
  if (!cache)
    return cache.error();
  cleanup_report rep;
  nl::writer w(sk.value(), rep.netlink_writes);
  for (nl_object* o = nl_cache_get_first(cache->get()); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    const char* alias = rtnl_link_get_ifalias(l);
    if (!alias || alias != ownership_alias)
      continue;
    if (int err = w.delete_link(l); err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV)
      return nl::error_from(err, std::string("deleting ") + rtnl_link_get_name(l));
    rep.removed.push_back(rtnl_link_get_name(l));
  }
  return rep;
}

} // namespace kcr::net
