// The node the privileged tunnel tests converge: a namespace with a veth underlay
// (198.51.100.10/24 on ul0, its peer ul1), the spec of its VXLAN tunnel, and helpers to converge
// and to print a report.
#pragma once

#include <string>

#include <boost/test/unit_test.hpp>

#include "net/netlink_tunnel.hpp"
#include "test/net/netns_fixture.hpp"

namespace kcr::test {

inline const char* vx = "routervxlan0";

inline net::tunnel_spec node_spec() {
  net::tunnel_spec s;
  s.vni = 42;
  s.port = 4789;
  s.local = *net::ip_address::parse("198.51.100.10");
  s.remote = *net::ip_address::parse("198.51.100.1");
  s.overlay = *net::cidr::parse("192.168.254.1/24");
  s.endpoint_neighbour = net::static_neighbour{*net::ip_address::parse("192.168.254.254"),
                                               *net::mac_address::parse("0a:58:c0:a8:fe:fe")};
  return s;
}

// A namespace with a veth underlay; the test thread is inside it while this lives.
struct node_ns {
  netns ns;
  node_ns() {
    ns.must("ip link add ul0 type veth peer name ul1 && ip addr add 198.51.100.10/24 dev ul0 && "
            "ip link set ul0 up && ip link set ul1 up");
  }
};

inline bool has_change(const net::converge_report& r, const std::string& text) {
  for (const auto& c : r.changes)
    if (c.find(text) != std::string::npos)
      return true;
  return false;
}

inline std::string changes_text(const net::converge_report& r) {
  std::string s;
  for (const auto& c : r.changes)
    s += "[" + c + "] ";
  return s;
}

inline net::converge_report must_converge(net::tunnel_manager& m, const net::tunnel_spec& s) {
  auto r = m.converge(s);
  BOOST_TEST_REQUIRE(r.ok(), "converge failed: " << (r.ok() ? net::tunnel_error{} : r.error()));
  return r.value();
}

} // namespace kcr::test
