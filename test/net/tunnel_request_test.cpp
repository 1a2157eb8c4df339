// Unit tests (no kernel): the RTM_NEWLINK request objects for VXLAN and IPIP,
// reading them back, the "must recreate" rule and libnl error mapping. This
// is how IPIP is covered on kernels without the ipip module.
#include <arpa/inet.h>
#include <functional>

#include <boost/test/unit_test.hpp>
#include <netlink/errno.h>
#include <netlink/route/link.h>
#include <netlink/route/link/ipip.h>
#include <netlink/route/link/vxlan.h>

#include "net/netlink_tunnel.hpp"

using namespace kcr::net;

namespace {

ip_address ip(const char* s) {
  return *ip_address::parse(s);
}

tunnel_spec vxlan_spec() {
  tunnel_spec s;
  s.vni = 42;
  s.port = 4790;
  s.local = ip("198.51.100.10");
  s.remote = ip("198.51.100.1");
  s.overlay = *cidr::parse("192.168.254.1/24");
  return s;
}

tunnel_spec ipip_spec() {
  tunnel_spec s = vxlan_spec();
  s.type = overlay_type::ipip;
  s.ttl = 64;
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(tunnel_request_suite)

BOOST_AUTO_TEST_CASE(vxlan_request_attributes) {
  const link_request req = make_link_request(vxlan_spec(), 7, 1500);
  BOOST_TEST(req.name == "routervxlan0");
  BOOST_TEST(req.mtu == 1450u);
  nl::link_ptr l = build_link(req);
  BOOST_REQUIRE(l);
  BOOST_TEST(std::string(rtnl_link_get_type(l.get())) == "vxlan");
  BOOST_TEST(std::string(rtnl_link_get_name(l.get())) == "routervxlan0");
  BOOST_TEST(std::string(rtnl_link_get_ifalias(l.get())) == "kube-chorus-router");
  BOOST_TEST(rtnl_link_get_mtu(l.get()) == 1450u);
  uint32_t v = 0;
  BOOST_TEST(rtnl_link_vxlan_get_id(l.get(), &v) == 0);
  BOOST_TEST(v == 42u);
  BOOST_TEST(rtnl_link_vxlan_get_port(l.get(), &v) == 0);
  BOOST_TEST(v == 4790u);
  BOOST_TEST(rtnl_link_vxlan_get_link(l.get(), &v) == 0);
  BOOST_TEST(v == 7u);
  BOOST_TEST(rtnl_link_vxlan_get_learning(l.get()) == 0);
  nl_addr* local = nullptr;
  BOOST_TEST(rtnl_link_vxlan_get_local(l.get(), &local) == 0);
  nl::addr_ptr owned{local};
  BOOST_TEST(nl::ip_from(local)->to_string() == "198.51.100.10");
  BOOST_TEST(nl::mac_from(rtnl_link_get_addr(l.get()))->to_string() == "0a:58:c0:a8:fe:01");
  BOOST_TEST((rtnl_link_get_flags(l.get()) & 1u) == 0u); // created down, brought up after
}

BOOST_AUTO_TEST_CASE(ipip_request_attributes) {
  const link_request req = make_link_request(ipip_spec(), 3, 1500);
  BOOST_TEST(req.name == "routertun0");
  BOOST_TEST(req.mtu == 1480u);
  BOOST_TEST(!req.mac.has_value());
  nl::link_ptr l = build_link(req);
  BOOST_REQUIRE(l);
  BOOST_TEST(std::string(rtnl_link_get_type(l.get())) == "ipip");
  BOOST_TEST(rtnl_link_is_ipip(l.get()) != 0);
  BOOST_TEST(std::string(rtnl_link_get_ifalias(l.get())) == "kube-chorus-router");
  BOOST_TEST(rtnl_link_get_mtu(l.get()) == 1480u);
  BOOST_TEST(ntohl(rtnl_link_ipip_get_local(l.get())) == ip("198.51.100.10").v4_value());
  BOOST_TEST(ntohl(rtnl_link_ipip_get_remote(l.get())) == ip("198.51.100.1").v4_value());
  BOOST_TEST(rtnl_link_ipip_get_link(l.get()) == 3u);
  BOOST_TEST(rtnl_link_ipip_get_ttl(l.get()) == 64);
  BOOST_TEST(rtnl_link_ipip_get_pmtudisc(l.get()) == 1);
  BOOST_TEST(rtnl_link_get_addr(l.get()) == nullptr);
}

BOOST_AUTO_TEST_CASE(request_reads_back_as_needing_no_recreate) {
  for (const auto& spec : {vxlan_spec(), ipip_spec()}) {
    const link_request req = make_link_request(spec, 5, 1500);
    nl::link_ptr l = build_link(req);
    tunnel_state st = link_state(l.get());
    BOOST_TEST(st.ours);
    BOOST_TEST(st.kind == std::string(flag_name(spec.type)));
    BOOST_TEST(st.lower_ifindex == 5);
    BOOST_TEST(st.local->to_string() == "198.51.100.10");
    auto why = recreate_reason(st, req);
    BOOST_TEST(!why.has_value(), flag_name(spec.type) << ": " << why.value_or(""));
  }
}

BOOST_AUTO_TEST_CASE(recreate_rule_table) {
  struct row {
    const char* what;
    overlay_type type;
    std::function<void(link_request&)> change;
    const char* reason; // nullptr: changeable in place
  };
  const row rows[] = {
      {"same", overlay_type::vxlan, [](link_request&) {}, nullptr},
      {"mtu only", overlay_type::vxlan, [](link_request& r) { r.mtu = 1300; }, nullptr},
      {"mac only", overlay_type::vxlan,
       [](link_request& r) { r.mac = mac_address::parse("02:00:00:00:00:09"); }, nullptr},
      {"vxlan remote is FDB, not link", overlay_type::vxlan,
       [](link_request& r) { r.remote = ip("198.51.100.2"); }, nullptr},
      {"vni", overlay_type::vxlan, [](link_request& r) { r.vni = 43; }, "VNI 42 -> 43"},
      {"port", overlay_type::vxlan, [](link_request& r) { r.port = 4789; }, "port 4790 -> 4789"},
      {"local", overlay_type::vxlan, [](link_request& r) { r.local = ip("198.51.100.11"); },
       "local 198.51.100.10 -> 198.51.100.11"},
      {"lower", overlay_type::vxlan, [](link_request& r) { r.lower_ifindex = 9; },
       "lower device #5 -> #9"},
      {"type", overlay_type::vxlan, [](link_request& r) { r.type = overlay_type::ipip; },
       "type vxlan -> ipip"},
      {"ipip remote", overlay_type::ipip, [](link_request& r) { r.remote = ip("198.51.100.2"); },
       "remote 198.51.100.1 -> 198.51.100.2"},
      {"ipip ttl", overlay_type::ipip, [](link_request& r) { r.ttl = 1; }, "ttl 64 -> 1"},
      {"ipip mtu", overlay_type::ipip, [](link_request& r) { r.mtu = 1400; }, nullptr},
  };
  for (const auto& r : rows) {
    const tunnel_spec spec = r.type == overlay_type::vxlan ? vxlan_spec() : ipip_spec();
    link_request base = make_link_request(spec, 5, 1500);
    nl::link_ptr l = build_link(base);
    tunnel_state st = link_state(l.get());
    link_request want = base;
    r.change(want);
    auto why = recreate_reason(st, want);
    if (r.reason == nullptr)
      BOOST_TEST(!why.has_value(), r.what << ": unexpected " << why.value_or(""));
    else
      BOOST_TEST(why.value_or("") == r.reason, r.what);
  }
}

BOOST_AUTO_TEST_CASE(libnl_errors_map_to_codes) {
  BOOST_TEST(nl::error_from(-NLE_PERM, "x").code == tunnel_errc::permission);
  BOOST_TEST(nl::error_from(-NLE_NOACCESS, "x").code == tunnel_errc::permission);
  BOOST_TEST(nl::error_from(-NLE_OPNOTSUPP, "x").code == tunnel_errc::kernel_unsupported);
  auto e = nl::error_from(-NLE_EXIST, "creating routervxlan0");
  BOOST_TEST(e.code == tunnel_errc::netlink_error);
  BOOST_TEST(e.message.find("creating routervxlan0: ") == 0u);
  BOOST_TEST(retryable(tunnel_errc::netlink_error));
  BOOST_TEST(!retryable(tunnel_errc::foreign_interface));
}

BOOST_AUTO_TEST_CASE(address_conversions_round_trip) {
  for (const char* text : {"198.51.100.10", "2001:db8::5", "0.0.0.1"}) {
    auto a = nl::to_nl(ip(text));
    BOOST_TEST(nl::ip_from(a.get())->to_string() == text);
  }
  auto c = nl::to_nl(*cidr::parse("192.168.254.1/24"));
  BOOST_TEST(nl::cidr_from(c.get())->to_string() == "192.168.254.1/24");
  auto m = nl::to_nl(*mac_address::parse("0a:58:c0:a8:fe:01"));
  BOOST_TEST(nl::mac_from(m.get())->to_string() == "0a:58:c0:a8:fe:01");
}

BOOST_AUTO_TEST_SUITE_END()
