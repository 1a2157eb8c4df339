// Unit tests (pure): tunnel spec defaults, validation and the MTU rule.
#include <functional>

#include <boost/test/unit_test.hpp>

#include "net/tunnel_spec.hpp"

using namespace kcr::net;

namespace {

ip_address ip(const char* s) {
  return *ip_address::parse(s);
}

tunnel_spec good_vxlan() {
  tunnel_spec s;
  s.type = overlay_type::vxlan;
  s.vni = 42;
  s.port = 4789;
  s.local = ip("198.51.100.10");
  s.remote = ip("198.51.100.1");
  s.overlay = *cidr::parse("192.168.254.1/24");
  return s;
}

tunnel_spec good_ipip() {
  tunnel_spec s = good_vxlan();
  s.type = overlay_type::ipip;
  s.vni = 0;
  return s;
}

bool mentions(const std::vector<std::string>& errs, const std::string& word) {
  for (const auto& e : errs)
    if (e.find(word) != std::string::npos)
      return true;
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(tunnel_spec_suite)

BOOST_AUTO_TEST_CASE(defaults_follow_the_original_system) {
  BOOST_TEST(interface_name(good_vxlan()) == "routervxlan0");
  BOOST_TEST(interface_name(good_ipip()) == "routertun0");
  auto s = good_vxlan();
  s.name = "kcrvx1";
  BOOST_TEST(interface_name(s) == "kcrvx1");
  BOOST_TEST(interface_mac(good_vxlan())->to_string() == "0a:58:c0:a8:fe:01");
  s.mac = mac_address::parse("02:00:00:00:00:07");
  BOOST_TEST(interface_mac(s)->to_string() == "02:00:00:00:00:07");
  BOOST_TEST(!interface_mac(good_ipip()).has_value());
}

BOOST_AUTO_TEST_CASE(mtu_rule) {
  struct row {
    overlay_type type;
    const char* local;
    std::optional<uint32_t> explicit_mtu;
    uint32_t lower;
    uint32_t want;
  };
  const row rows[] = {
      {overlay_type::vxlan, "198.51.100.10", std::nullopt, 1500, 1450},
      {overlay_type::vxlan, "198.51.100.10", std::nullopt, 9001, 8951},
      {overlay_type::ipip, "198.51.100.10", std::nullopt, 1500, 1480},
      {overlay_type::vxlan, "2001:db8::1", std::nullopt, 1500, 1430},
      {overlay_type::vxlan, "198.51.100.10", 1400, 1500, 1400},
      {overlay_type::ipip, "198.51.100.10", 9000, 1500, 9000},
      {overlay_type::vxlan, "198.51.100.10", std::nullopt, 100, 68}, // floor
  };
  for (const auto& r : rows) {
    tunnel_spec s = good_vxlan();
    s.type = r.type;
    s.local = ip(r.local);
    s.mtu = r.explicit_mtu;
    BOOST_TEST(tunnel_mtu(s, r.lower) == r.want, flag_name(r.type)
                                                     << " " << r.local << " lower " << r.lower);
  }
}

BOOST_AUTO_TEST_CASE(valid_specs_pass) {
  BOOST_TEST(validate(good_vxlan()).empty());
  BOOST_TEST(validate(good_ipip()).empty());
  auto s = good_vxlan();
  s.endpoint_neighbour =
      static_neighbour{ip("192.168.254.254"), *mac_address::parse("0a:58:c0:a8:fe:fe")};
  s.mtu = 1400;
  s.lower_device = "eth1";
  s.name = "abcdefghijklmno"; // 15 characters
  BOOST_TEST(validate(s).empty());
  auto p2p = good_vxlan();
  p2p.overlay = *cidr::parse("192.168.254.0/31");
  BOOST_TEST(validate(p2p).empty());
}

BOOST_AUTO_TEST_CASE(invalid_specs_name_the_field) {
  struct row {
    const char* what;
    std::function<void(tunnel_spec&)> breakit;
    const char* mention;
  };
  const row rows[] = {
      {"name too long", [](tunnel_spec& s) { s.name = "abcdefghijklmnop"; }, "interface name"},
      {"name with slash", [](tunnel_spec& s) { s.name = "a/b"; }, "interface name"},
      {"name with space", [](tunnel_spec& s) { s.name = "a b"; }, "interface name"},
      {"bad lower device", [](tunnel_spec& s) { s.lower_device = "x:y"; }, "lower device"},
      {"vni 0", [](tunnel_spec& s) { s.vni = 0; }, "VNI 0"},
      {"vni too big", [](tunnel_spec& s) { s.vni = 16777216; }, "VNI 16777216"},
      {"port 0", [](tunnel_spec& s) { s.port = 0; }, "port 0"},
      {"no local", [](tunnel_spec& s) { s.local = {}; }, "local underlay IP"},
      {"no remote", [](tunnel_spec& s) { s.remote = {}; }, "remote endpoint IP"},
      {"remote == local", [](tunnel_spec& s) { s.remote = s.local; }, "equals the local"},
      {"mixed families", [](tunnel_spec& s) { s.remote = ip("2001:db8::1"); },
       "same address family"},
      {"overlay network address",
       [](tunnel_spec& s) { s.overlay = *cidr::parse("192.168.254.0/24"); },
       "network or broadcast"},
      {"overlay broadcast", [](tunnel_spec& s) { s.overlay = *cidr::parse("192.168.254.255/24"); },
       "network or broadcast"},
      {"overlay IPv6", [](tunnel_spec& s) { s.overlay = *cidr::parse("fd00::1/64"); },
       "overlay address"},
      {"overlay /0", [](tunnel_spec& s) { s.overlay = *cidr::parse("192.168.254.1/0"); },
       "prefix /0"},
      {"multicast mac", [](tunnel_spec& s) { s.mac = mac_address::parse("01:00:5e:00:00:01"); },
       "MAC"},
      {"zero mac", [](tunnel_spec& s) { s.mac = mac_address{}; }, "MAC"},
      {"mtu too small", [](tunnel_spec& s) { s.mtu = 67; }, "MTU 67"},
      {"mtu too big", [](tunnel_spec& s) { s.mtu = 70000; }, "MTU 70000"},
      {"neighbour outside overlay",
       [](tunnel_spec& s) {
         s.endpoint_neighbour =
             static_neighbour{ip("10.0.0.1"), *mac_address::parse("02:00:00:00:00:01")};
       },
       "inside the overlay"},
      {"neighbour is us",
       [](tunnel_spec& s) {
         s.endpoint_neighbour =
             static_neighbour{ip("192.168.254.1"), *mac_address::parse("02:00:00:00:00:01")};
       },
       "equals the node"},
      {"neighbour zero mac",
       [](tunnel_spec& s) {
         s.endpoint_neighbour = static_neighbour{ip("192.168.254.254"), {}};
       },
       "neighbour MAC"},
  };
  for (const auto& r : rows) {
    tunnel_spec s = good_vxlan();
    r.breakit(s);
    auto errs = validate(s);
    BOOST_TEST(!errs.empty(), r.what);
    BOOST_TEST(mentions(errs, r.mention),
               r.what << ": expected a message containing '" << r.mention << "'");
  }
}

// One problem per concern: the message lists them in the order of the checks (names, VXLAN id,
// endpoints, further VTEPs, overlay, link layer, endpoint neighbour), every time.
BOOST_AUTO_TEST_CASE(problems_come_in_the_order_of_the_checks) {
  auto s = good_vxlan();
  s.name = "a/b";
  s.vni = 0;
  s.local = ip_address{};
  s.extra_remotes = {ip_address{}};
  s.overlay = *cidr::parse("192.168.254.0/24");
  s.mtu = 10;
  s.endpoint_neighbour = static_neighbour{ip("192.168.254.254"), mac_address{}};
  const std::vector<std::string> expected = {
      "interface name 'a/b': expected 1..15 characters without '/', ':' or whitespace",
      "VNI 0: expected 1..16777215",
      "local underlay IP: not set",
      "further remote VTEP: not set",
      "overlay address 192.168.254.0/24: is the network or broadcast address of its prefix",
      "MTU 10: expected 68..65535",
      "endpoint neighbour MAC 00:00:00:00:00:00: expected a non-zero unicast address",
  };
  BOOST_TEST(validate(s) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ipip_specific_rules) {
  auto s = good_ipip();
  s.mac = mac_address::parse("02:00:00:00:00:01");
  BOOST_TEST(mentions(validate(s), "only a VXLAN interface has a MAC"));
  s = good_ipip();
  s.endpoint_neighbour =
      static_neighbour{ip("192.168.254.254"), *mac_address::parse("02:00:00:00:00:01")};
  BOOST_TEST(mentions(validate(s), "only for VXLAN"));
  s = good_ipip();
  s.local = ip("2001:db8::1");
  s.remote = ip("2001:db8::2");
  BOOST_TEST(mentions(validate(s), "IPIP endpoints must be IPv4"));
  s = good_ipip();
  s.vni = 0; // VNI and port mean nothing for IPIP
  s.port = 0;
  BOOST_TEST(validate(s).empty());
}

BOOST_AUTO_TEST_SUITE_END()
