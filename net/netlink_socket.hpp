// Thin RAII and conversion layer over libnl-route-3 used by the tunnel manager
// and the link monitor: owning pointers for libnl objects, opening a route
// socket, mapping libnl error codes onto tunnel_error, converting addresses,
// and raw neighbour/FDB dumps.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/ip.hpp"
#include "net/tunnel_manager.hpp"

struct nl_sock;
struct nl_addr;
struct nl_cache;
struct rtnl_link;
struct rtnl_addr;
struct rtnl_neigh;
struct nl_object;

namespace kcr::net::nl {

struct deleter {
  void operator()(nl_sock* p) const;
  void operator()(nl_addr* p) const;
  void operator()(nl_cache* p) const;
  void operator()(rtnl_link* p) const;
  void operator()(rtnl_addr* p) const;
  void operator()(rtnl_neigh* p) const;
};
using sock_ptr = std::unique_ptr<nl_sock, deleter>;
using addr_ptr = std::unique_ptr<nl_addr, deleter>;
using cache_ptr = std::unique_ptr<nl_cache, deleter>;
using link_ptr = std::unique_ptr<rtnl_link, deleter>;
using raddr_ptr = std::unique_ptr<rtnl_addr, deleter>;
using neigh_ptr = std::unique_ptr<rtnl_neigh, deleter>;

/// A NETLINK_ROUTE socket bound to the calling thread's network namespace.
tunnel_result<sock_ptr> open_route_socket();

/// Maps a (negative) libnl error code: NLE_PERM/NLE_NOACCESS -> permission,
/// NLE_OPNOTSUPP -> kernel_unsupported, else netlink_error. The message is
/// "<what>: <libnl text>".
tunnel_error error_from(int nl_err, const std::string& what);

addr_ptr to_nl(const ip_address& ip);
addr_ptr to_nl(const cidr& c); ///< address with host bits and prefix length
addr_ptr to_nl(const mac_address& mac);
std::optional<ip_address> ip_from(const nl_addr* a);
std::optional<cidr> cidr_from(const nl_addr* a);
std::optional<mac_address> mac_from(const nl_addr* a);

/// The link named `name`, nullptr when absent.
tunnel_result<link_ptr> get_link(nl_sock* sk, const std::string& name);
tunnel_result<link_ptr> get_link(nl_sock* sk, int ifindex);
tunnel_result<cache_ptr> link_cache(nl_sock* sk);

/// One address of an interface.
struct address_entry {
  int ifindex = 0;
  cidr address;
};
tunnel_result<std::vector<address_entry>> dump_addresses(nl_sock* sk);

/// One neighbour table / FDB entry. A raw dump (not a libnl cache) because a
/// cache merges the several remotes of one VXLAN FDB MAC into one object.
struct neighbour_entry {
  int family = 0; ///< AF_INET or AF_BRIDGE
  int ifindex = 0;
  std::optional<mac_address> lladdr;
  std::optional<ip_address> dst;
  int state = 0; ///< NUD_*
  int flags = 0; ///< NTF_*
};
/// family: AF_BRIDGE for the FDB, AF_INET for ARP.
tunnel_result<std::vector<neighbour_entry>> dump_neighbours(nl_sock* sk, int family);

} // namespace kcr::net::nl
