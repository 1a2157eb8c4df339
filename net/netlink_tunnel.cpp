// netlink_tunnel_manager: converge / cleanup / remove / current_state over
// libnl-route-3. converge runs one step per kernel object (net/netlink_steps.hpp). Every
// modifying request goes through `writer`, which counts it, so "no drift means no netlink
// writes" is measured, not assumed.
#include "net/netlink_tunnel.hpp"

#include <netlink/route/link.h>

#include "net/netlink_steps.hpp"

namespace kcr::net {

namespace {

// invalid_spec naming every problem validate() found; nullopt when the spec is valid.
std::optional<tunnel_error> spec_error(const tunnel_spec& spec) {
  auto errs = validate(spec);
  if (errs.empty())
    return std::nullopt;
  std::string msg = "invalid tunnel spec for " + interface_name(spec) + ": ";
  for (size_t i = 0; i < errs.size(); ++i)
    msg += (i ? "; " : "") + errs[i];
  return tunnel_error{tunnel_errc::invalid_spec, msg};
}

} // namespace

netlink_tunnel_manager::netlink_tunnel_manager(std::string proc_sys)
    : proc_sys_(std::move(proc_sys)) {}

netlink_tunnel_manager::~netlink_tunnel_manager() = default;

tunnel_result<converge_report> netlink_tunnel_manager::converge(const tunnel_spec& spec) {
  return reset_socket_on_netlink_error(do_converge(spec));
}
tunnel_result<cleanup_report> netlink_tunnel_manager::cleanup() {
  return reset_socket_on_netlink_error(do_cleanup());
}
tunnel_result<cleanup_report> netlink_tunnel_manager::remove(std::string_view name) {
  return reset_socket_on_netlink_error(do_remove(name));
}
tunnel_result<std::optional<tunnel_state>>
netlink_tunnel_manager::current_state(std::string_view name) {
  return reset_socket_on_netlink_error(do_current_state(name));
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
  auto s = steps::observe(sk.value(), link.value().get());
  if (!s)
    return s.error();
  return std::optional<tunnel_state>{std::move(s.value())};
}

// One step per kernel object (net/netlink_steps.hpp), in a fixed order: the link first, since
// everything else hangs off it; then its attributes, addresses, FDB, neighbour, rp_filter.
tunnel_result<converge_report> netlink_tunnel_manager::do_converge(const tunnel_spec& spec) {
  if (auto err = spec_error(spec))
    return *err;
  auto sk = socket();
  if (!sk)
    return sk.error();
  converge_report rep;
  rep.interface = interface_name(spec);
  nl::writer w(sk.value(), rep.netlink_writes);
  steps::context cx{sk.value(), w, rep};
  auto lower = steps::resolve_lower(cx.sk, spec);
  if (!lower)
    return lower.error();
  const link_request want = make_link_request(spec, lower->ifindex, lower->mtu);
  auto link = steps::converge_link(cx, want, lower->name);
  if (!link)
    return link.error();
  // One read of the link and what hangs off it, before any in-place write; every step compares
  // with it. What a step's write flushes (a MAC change drops the permanent neighbour) is seen by
  // the next converge.
  auto cur = steps::observe(cx.sk, link->get());
  if (!cur)
    return cur.error();
  if (auto err = steps::converge_attributes(cx, link->get(), *cur, want))
    return *err;
  if (auto err = steps::converge_addresses(cx, *cur, spec.overlay))
    return *err;
  if (auto err = steps::converge_fdb(cx, *cur, spec))
    return *err;
  if (auto err = steps::converge_neighbour(cx, *cur, spec))
    return *err;
  if (auto err = steps::converge_rp_filter(proc_sys_, rep))
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
    return steps::foreign(s);
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
