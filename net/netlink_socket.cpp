// libnl-route-3 RAII, error mapping, address conversion and raw dumps.
#include "net/netlink_socket.hpp"

#include <cstring>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>

namespace kcr::net::nl {

void deleter::operator()(nl_sock* p) const {
  nl_socket_free(p);
}
void deleter::operator()(nl_addr* p) const {
  nl_addr_put(p);
}
void deleter::operator()(nl_cache* p) const {
  nl_cache_free(p);
}
void deleter::operator()(rtnl_link* p) const {
  rtnl_link_put(p);
}
void deleter::operator()(rtnl_addr* p) const {
  rtnl_addr_put(p);
}
void deleter::operator()(rtnl_neigh* p) const {
  rtnl_neigh_put(p);
}

tunnel_result<sock_ptr> open_route_socket() {
  sock_ptr sk{nl_socket_alloc()};
  if (!sk)
    return tunnel_error{tunnel_errc::netlink_error, "nl_socket_alloc failed: out of memory"};
  if (int err = nl_connect(sk.get(), NETLINK_ROUTE); err < 0)
    return error_from(err, "connecting a NETLINK_ROUTE socket");
  return sk;
}

tunnel_error error_from(int nl_err, const std::string& what) {
  const int e = nl_err < 0 ? -nl_err : nl_err;
  tunnel_errc code = tunnel_errc::netlink_error;
  if (e == NLE_PERM || e == NLE_NOACCESS)
    code = tunnel_errc::permission;
  else if (e == NLE_OPNOTSUPP)
    code = tunnel_errc::kernel_unsupported;
  return tunnel_error{code, what + ": " + nl_geterror(e)};
}

addr_ptr to_nl(const ip_address& ip) {
  return addr_ptr{
      nl_addr_build(ip.is_v4() ? AF_INET : AF_INET6, ip.bytes().data(), ip.byte_size())};
}

addr_ptr to_nl(const cidr& c) {
  addr_ptr a = to_nl(c.address());
  if (a)
    nl_addr_set_prefixlen(a.get(), c.prefix());
  return a;
}

addr_ptr to_nl(const mac_address& mac) {
  return addr_ptr{nl_addr_build(AF_LLC, mac.bytes().data(), mac.bytes().size())};
}

std::optional<ip_address> ip_from(const nl_addr* a) {
  if (!a)
    return std::nullopt;
  const auto* data = static_cast<const uint8_t*>(nl_addr_get_binary_addr(a));
  const unsigned len = nl_addr_get_len(a);
  if (nl_addr_get_family(a) == AF_INET && len == 4) {
    uint32_t v = (uint32_t(data[0]) << 24) | (uint32_t(data[1]) << 16) | (uint32_t(data[2]) << 8) |
                 uint32_t(data[3]);
    return ip_address::v4(v);
  }
  if (nl_addr_get_family(a) == AF_INET6 && len == 16) {
    std::array<uint8_t, 16> b{};
    std::memcpy(b.data(), data, 16);
    return ip_address::v6(b);
  }
  return std::nullopt;
}

std::optional<cidr> cidr_from(const nl_addr* a) {
  auto ip = ip_from(a);
  if (!ip)
    return std::nullopt;
  return cidr{*ip, int(nl_addr_get_prefixlen(a))};
}

std::optional<mac_address> mac_from(const nl_addr* a) {
  if (!a || nl_addr_get_len(a) != 6)
    return std::nullopt;
  std::array<uint8_t, 6> b{};
  std::memcpy(b.data(), nl_addr_get_binary_addr(a), 6);
  return mac_address{b};
}

tunnel_result<link_ptr> get_link(nl_sock* sk, const std::string& name) {
  rtnl_link* link = nullptr;
  int err = rtnl_link_get_kernel(sk, 0, name.c_str(), &link);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV)
    return link_ptr{};
  if (err < 0)
    return error_from(err, "reading link " + name);
  return link_ptr{link};
}

tunnel_result<link_ptr> get_link(nl_sock* sk, int ifindex) {
  rtnl_link* link = nullptr;
  int err = rtnl_link_get_kernel(sk, ifindex, nullptr, &link);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV)
    return link_ptr{};
  if (err < 0)
    return error_from(err, "reading link #" + std::to_string(ifindex));
  return link_ptr{link};
}

tunnel_result<cache_ptr> link_cache(nl_sock* sk) {
  nl_cache* c = nullptr;
  if (int err = rtnl_link_alloc_cache(sk, AF_UNSPEC, &c); err < 0)
    return error_from(err, "listing links");
  return cache_ptr{c};
}

tunnel_result<std::vector<address_entry>> dump_addresses(nl_sock* sk) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_addr_alloc_cache(sk, &raw); err < 0)
    return error_from(err, "listing addresses");
  cache_ptr c{raw};
  std::vector<address_entry> out;
  for (nl_object* o = nl_cache_get_first(c.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (auto ip = cidr_from(rtnl_addr_get_local(a)))
      out.push_back({rtnl_addr_get_ifindex(a), *ip});
  }
  return out;
}

namespace {

struct dump_ctx {
  std::vector<neighbour_entry>* out;
};

void on_neigh_object(nl_object* o, void* arg) {
  auto* ctx = static_cast<dump_ctx*>(arg);
  auto* n = reinterpret_cast<rtnl_neigh*>(o);
  neighbour_entry e;
  e.family = rtnl_neigh_get_family(n);
  e.ifindex = rtnl_neigh_get_ifindex(n);
  e.lladdr = mac_from(rtnl_neigh_get_lladdr(n));
  e.dst = ip_from(rtnl_neigh_get_dst(n));
  e.state = rtnl_neigh_get_state(n);
  e.flags = int(rtnl_neigh_get_flags(n));
  ctx->out->push_back(std::move(e));
}

int on_neigh_msg(nl_msg* msg, void* arg) {
  nl_msg_parse(msg, on_neigh_object, arg);
  return NL_OK;
}

} // namespace

tunnel_result<std::vector<neighbour_entry>> dump_neighbours(nl_sock* sk, int family) {
  std::vector<neighbour_entry> out;
  ndmsg req{};
  req.ndm_family = uint8_t(family);
  if (int err = nl_send_simple(sk, RTM_GETNEIGH, NLM_F_DUMP, &req, sizeof req); err < 0)
    return error_from(err, "requesting a neighbour dump");
  // nl_socket_get_cb takes a reference; the clone is ours alone.
  nl_cb* sock_cb = nl_socket_get_cb(sk);
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> cb{nl_cb_clone(sock_cb), nl_cb_put};
  nl_cb_put(sock_cb);
  if (!cb)
    return tunnel_error{tunnel_errc::netlink_error, "nl_cb_clone failed: out of memory"};
  dump_ctx ctx{&out};
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_neigh_msg, &ctx);
  if (int err = nl_recvmsgs(sk, cb.get()); err < 0)
    return error_from(err, "reading a neighbour dump");
  return out;
}

} // namespace kcr::net::nl
