// Address, prefix and MAC values: parsing, formatting, containment, iteration.
#include <boost/test/unit_test.hpp>

#include "net/ip.hpp"

using namespace kcr::net;

BOOST_AUTO_TEST_SUITE(ip)

BOOST_AUTO_TEST_CASE(parse_and_format_round_trip) {
  struct row {
    const char* in;
    const char* out;
    bool v4;
  };
  for (auto r : {row{"10.106.170.62", "10.106.170.62", true}, row{"0.0.0.0", "0.0.0.0", true},
                 row{"255.255.255.255", "255.255.255.255", true},
                 row{"fec0::5055:55ff:fe38:4623", "fec0::5055:55ff:fe38:4623", false},
                 row{"2001:DB8:0:0:0:0:0:1", "2001:db8::1", false}, row{"::", "::", false}}) {
    auto ip = ip_address::parse(r.in);
    BOOST_TEST_REQUIRE(ip.has_value(), r.in);
    BOOST_TEST(ip->to_string() == r.out);
    BOOST_TEST(ip->is_v4() == r.v4);
  }
}

BOOST_AUTO_TEST_CASE(rejects_malformed_addresses) {
  for (auto bad : {"", "10.0.0", "10.0.0.256", "10.0.0.1/24", "1.2.3.4.5", "abc", "::g",
                   " 10.0.0.1", "010.0.0.1x", "fe80::1%eth0"})
    BOOST_TEST(!ip_address::parse(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(v4_value_and_ordering) {
  auto a = *ip_address::parse("192.168.254.1");
  BOOST_TEST(a.v4_value() == 0xC0A8FE01u);
  BOOST_TEST(ip_address::v4(0xC0A8FE01u) == a);
  BOOST_TEST((*ip_address::parse("10.0.0.2") < *ip_address::parse("10.0.0.10")));
  BOOST_TEST((*ip_address::parse("255.255.255.255") < *ip_address::parse("::")));
}

BOOST_AUTO_TEST_CASE(cidr_parse_network_contains) {
  auto c = cidr::parse("192.168.191.153/24");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->to_string() == "192.168.191.153/24");
  BOOST_TEST(c->network().to_string() == "192.168.191.0/24");
  BOOST_TEST(!c->is_network());
  BOOST_TEST(c->contains(*ip_address::parse("192.168.191.1")));
  BOOST_TEST(!c->contains(*ip_address::parse("192.168.192.1")));
  BOOST_TEST(!c->contains(*ip_address::parse("::1")));

  auto v6 = cidr::parse("fd00:10:244:1::/64");
  BOOST_TEST_REQUIRE(v6.has_value());
  BOOST_TEST(v6->contains(*ip_address::parse("fd00:10:244:1::abcd")));
  BOOST_TEST(!v6->contains(*ip_address::parse("fd00:10:244:2::1")));
  BOOST_TEST(v6->at(1).to_string() == "fd00:10:244:1::1");
  BOOST_TEST(v6->at(0x1ff).to_string() == "fd00:10:244:1::1ff");

  for (auto bad :
       {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "/24", "::/129", "10.0.0.0/2x"})
    BOOST_TEST(!cidr::parse(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(cidr_v4_ranges_and_iteration) {
  struct row {
    const char* in;
    uint64_t size;
    const char* first;
    const char* last;
  };
  for (auto r : {row{"192.168.254.0/24", 256, "192.168.254.0", "192.168.254.255"},
                 row{"10.0.0.0/8", 1u << 24, "10.0.0.0", "10.255.255.255"},
                 row{"10.1.2.4/30", 4, "10.1.2.4", "10.1.2.7"},
                 row{"0.0.0.0/0", uint64_t{1} << 32, "0.0.0.0", "255.255.255.255"}}) {
    auto c = *cidr::parse(r.in);
    BOOST_TEST(c.v4_size() == r.size);
    BOOST_TEST(ip_address::v4(c.v4_first()).to_string() == r.first);
    BOOST_TEST(ip_address::v4(c.v4_last()).to_string() == r.last);
  }
  auto c = *cidr::parse("10.244.1.0/24");
  BOOST_TEST(c.at(1).to_string() == "10.244.1.1");
  BOOST_TEST(c.at(255).to_string() == "10.244.1.255");
}

BOOST_AUTO_TEST_CASE(mac_parse_format_and_derivation) {
  auto m = mac_address::parse("0A-58-C0-A8-FE-01");
  BOOST_TEST_REQUIRE(m.has_value());
  BOOST_TEST(m->to_string() == "0a:58:c0:a8:fe:01");
  BOOST_TEST(mac_address::from_overlay_ip(*ip_address::parse("192.168.254.1")) == *m);
  BOOST_TEST(mac_address{}.is_zero());
  for (auto bad :
       {"", "0a:58:c0:a8:fe", "0a:58:c0:a8:fe:0g", "0a:58:c0:a8:fe:011", "0a58c0a8fe01xx"})
    BOOST_TEST(!mac_address::parse(bad).has_value(), bad);
}

BOOST_AUTO_TEST_SUITE_END()
