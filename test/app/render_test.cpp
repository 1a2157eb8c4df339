// `render`: golden device configurations per target for the seed's two-node ConfigMap and an IPIP
// one, diffs (add, remove, change a node's IP / pod CIDR, recreate the tunnel), what is left out
// with a warning, and bad input through the subcommand (exit 2, one line).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "app/render.hpp"
#include "app/render_cli.hpp"
#include "kube/configmap_codec.hpp"
#include "test/app/values.hpp"

using namespace kcr;
using app::render_options;
using app::render_target;
using kube::node_entry;
using kube::published_state;

namespace {

using kcr::test::cidr;
using kcr::test::ip;
using kcr::test::joined;

// The seed's ConfigMap (README): two VXLAN nodes, no Network/VNID/Port/RemoteVTEP keys.
published_state seed_state() {
  published_state s;
  s.endpoint_ip = ip("192.168.254.254");
  s.type = net::overlay_type::vxlan;
  s.entries = {
      {"", "cb716e61", ip("10.106.170.62"), ip("192.168.254.1"), {}, {cidr("10.244.1.0/24")}},
      {"", "d666ca12", ip("10.106.170.63"), ip("192.168.254.2"), {}, {cidr("10.244.6.0/24")}},
  };
  return s;
}

published_state ipip_state() {
  published_state s;
  s.endpoint_ip = ip("192.168.254.254");
  s.type = net::overlay_type::ipip;
  s.network = cidr("192.168.254.0/24");
  s.remote_vtep = ip("192.0.2.10");
  s.entries = {
      {"a", "", ip("198.51.100.11"), ip("192.168.254.1"), {}, {cidr("10.244.1.0/24")}},
      {"b",
       "",
       ip("198.51.100.12"),
       ip("192.168.254.2"),
       {},
       {cidr("10.244.2.0/24"), cidr("10.245.0.0/16")}},
  };
  return s;
}

render_options seed_options(render_target t) {
  render_options o;
  o.target = t;
  o.local_ip = ip("10.106.170.10"); // the seed has no RemoteVTEP key
  return o;
}

render_options target(render_target t) {
  render_options o;
  o.target = t;
  return o;
}

std::string render_text(const published_state& s, const render_options& o) {
  return joined(app::render(s, o).commands);
}

std::string diff_text(const published_state& a, const published_state& b, const render_options& o) {
  return joined(app::render_diff(a, b, o).commands);
}

} // namespace

BOOST_AUTO_TEST_SUITE(render_golden)

BOOST_AUTO_TEST_CASE(seed_vxlan_per_target) {
  struct golden {
    render_target target;
    const char* text;
  };
  const golden cases[] = {
      {render_target::linux_host,
       "ip link add kcrdev0 type vxlan id 1 dstport 4789 local 10.106.170.10 nolearning\n"
       "ip link set kcrdev0 up\n"
       "ip addr add 192.168.254.254/24 dev kcrdev0\n"
       "bridge fdb append 0a:58:c0:a8:fe:01 dev kcrdev0 dst 10.106.170.62\n"
       "ip neigh replace 192.168.254.1 lladdr 0a:58:c0:a8:fe:01 dev kcrdev0 nud permanent\n"
       "ip route replace 10.244.1.0/24 via 192.168.254.1 dev kcrdev0 onlink\n"
       "bridge fdb append 0a:58:c0:a8:fe:02 dev kcrdev0 dst 10.106.170.63\n"
       "ip neigh replace 192.168.254.2 lladdr 0a:58:c0:a8:fe:02 dev kcrdev0 nud permanent\n"
       "ip route replace 10.244.6.0/24 via 192.168.254.2 dev kcrdev0 onlink\n"},
      {render_target::netscaler,
       "add vxlan 1 -port 4789\n"
       "bind vxlan 1 -SrcIP 10.106.170.10\n"
       "add ns ip 192.168.254.254 255.255.255.0 -vServer DISABLED\n"
       "add bridgetable -mac 0a:58:c0:a8:fe:01 -vxlan 1 -vtep 10.106.170.62\n"
       "add arp -IPAddress 192.168.254.1 -mac 0a:58:c0:a8:fe:01 -vxlan 1 -vtep 10.106.170.62\n"
       "add route 10.244.1.0 255.255.255.0 192.168.254.1\n"
       "add bridgetable -mac 0a:58:c0:a8:fe:02 -vxlan 1 -vtep 10.106.170.63\n"
       "add arp -IPAddress 192.168.254.2 -mac 0a:58:c0:a8:fe:02 -vxlan 1 -vtep 10.106.170.63\n"
       "add route 10.244.6.0 255.255.255.0 192.168.254.2\n"},
      {render_target::bigip,
       "tmsh create net tunnels vxlan kcr-vxlan-profile port 4789 flooding-type none\n"
       "tmsh create net tunnels tunnel kcr-tunnel key 1 profile kcr-vxlan-profile local-address "
       "10.106.170.10\n"
       "tmsh create net self kcr-self address 192.168.254.254/24 vlan kcr-tunnel allow-service "
       "none\n"
       "tmsh modify net fdb tunnel kcr-tunnel records add { 0a:58:c0:a8:fe:01 { endpoint "
       "10.106.170.62 } }\n"
       "tmsh create net arp kcr-192.168.254.1 ip-address 192.168.254.1 mac-address "
       "0a:58:c0:a8:fe:01\n"
       "tmsh create net route kcr-10.244.1.0_24 network 10.244.1.0/24 gw 192.168.254.1\n"
       "tmsh modify net fdb tunnel kcr-tunnel records add { 0a:58:c0:a8:fe:02 { endpoint "
       "10.106.170.63 } }\n"
       "tmsh create net arp kcr-192.168.254.2 ip-address 192.168.254.2 mac-address "
       "0a:58:c0:a8:fe:02\n"
       "tmsh create net route kcr-10.244.6.0_24 network 10.244.6.0/24 gw 192.168.254.2\n"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(app::target_name(c.target)) {
      auto r = app::render(seed_state(), seed_options(c.target));
      BOOST_TEST(joined(r.commands) == c.text);
      BOOST_TEST(r.warnings.empty(), joined(r.warnings));
    }
  }
}

BOOST_AUTO_TEST_CASE(ipip_per_target) {
  struct golden {
    render_target target;
    const char* text;
  };
  const golden cases[] = {
      {render_target::linux_host, "ip link add kcrdev0 type ipip local 192.0.2.10\n"
                                  "ip link set kcrdev0 up\n"
                                  "ip addr add 192.168.254.254/24 dev kcrdev0\n"
                                  "ip route replace 10.244.1.0/24 via 198.51.100.11 dev kcrdev0 "
                                  "onlink\n"
                                  "ip route replace 10.244.2.0/24 via 198.51.100.12 dev kcrdev0 "
                                  "onlink\n"
                                  "ip route replace 10.245.0.0/16 via 198.51.100.12 dev kcrdev0 "
                                  "onlink\n"},
      {render_target::netscaler,
       "add ns ip 192.168.254.254 255.255.255.0 -vServer DISABLED\n"
       "add iptunnel kcr-198.51.100.11 198.51.100.11 255.255.255.255 192.0.2.10\n"
       "add ns pbr kcr-10.244.1.0_24 ALLOW -destIP = 10.244.1.0-10.244.1.255 -ipTunnel "
       "kcr-198.51.100.11\n"
       "add iptunnel kcr-198.51.100.12 198.51.100.12 255.255.255.255 192.0.2.10\n"
       "add ns pbr kcr-10.244.2.0_24 ALLOW -destIP = 10.244.2.0-10.244.2.255 -ipTunnel "
       "kcr-198.51.100.12\n"
       "add ns pbr kcr-10.245.0.0_16 ALLOW -destIP = 10.245.0.0-10.245.255.255 -ipTunnel "
       "kcr-198.51.100.12\n"
       "apply ns pbrs\n"},
      {render_target::bigip,
       "tmsh create net tunnels tunnel kcr-ipip-198.51.100.11 profile ipip local-address "
       "192.0.2.10 remote-address 198.51.100.11\n"
       "tmsh create net route kcr-10.244.1.0_24 network 10.244.1.0/24 interface "
       "kcr-ipip-198.51.100.11\n"
       "tmsh create net tunnels tunnel kcr-ipip-198.51.100.12 profile ipip local-address "
       "192.0.2.10 remote-address 198.51.100.12\n"
       "tmsh create net route kcr-10.244.2.0_24 network 10.244.2.0/24 interface "
       "kcr-ipip-198.51.100.12\n"
       "tmsh create net route kcr-10.245.0.0_16 network 10.245.0.0/16 interface "
       "kcr-ipip-198.51.100.12\n"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(app::target_name(c.target)) {
      BOOST_TEST(render_text(ipip_state(), target(c.target)) == c.text);
    }
  }
}

BOOST_AUTO_TEST_CASE(configmap_keys_and_overrides) {
  auto s = seed_state();
  s.network = cidr("192.168.254.0/23");
  s.vni = 42;
  s.port = 8472;
  s.remote_vtep = ip("192.0.2.10");
  s.entries[0].mac = *net::mac_address::parse("76:13:e1:c7:4b:f6"); // the seed's foreign MAC
  auto text = render_text(s, target(render_target::linux_host));
  BOOST_TEST(text.starts_with("ip link add kcrdev0 type vxlan id 42 dstport 8472 local 192.0.2.10 "
                              "nolearning\n"));
  BOOST_TEST(text.find("ip addr add 192.168.254.254/23 dev kcrdev0\n") != std::string::npos);
  BOOST_TEST(text.find("bridge fdb append 76:13:e1:c7:4b:f6 dev kcrdev0 dst 10.106.170.62\n") !=
             std::string::npos);

  render_options o = target(render_target::linux_host);
  o.local_ip = ip("203.0.113.5");
  o.vni = 7;
  o.port = 4790;
  o.device_interface = "vxlan-adc";
  o.underlay_dev = "eth1";
  o.device_mac = *net::mac_address::parse("02:42:c6:33:64:01");
  auto r = app::render(s, o);
  BOOST_TEST(r.commands.at(0) == "ip link add vxlan-adc address 02:42:c6:33:64:01 type vxlan id 7 "
                                 "dstport 4790 local 203.0.113.5 nolearning dev eth1");
  BOOST_TEST(r.commands.at(1) == "ip link set vxlan-adc up");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(render_diffs)

BOOST_AUTO_TEST_CASE(node_changes_per_target) {
  auto base = seed_state();
  auto added = base;
  added.entries.push_back(
      {"", "", ip("10.106.170.64"), ip("192.168.254.3"), {}, {cidr("10.244.7.0/24")}});
  auto removed = base;
  removed.entries.erase(removed.entries.begin());
  auto moved = base; // the node got a new underlay IP, keeping its overlay IP
  moved.entries[1].node_ip = ip("10.106.170.70");
  auto recidr = base;
  recidr.entries[1].pod_cidrs = {cidr("10.244.9.0/24")};

  struct diff_case {
    const char* name;
    render_target target;
    const published_state& to;
    const char* text;
  };
  const diff_case cases[] = {
      {"add linux", render_target::linux_host, added,
       "bridge fdb append 0a:58:c0:a8:fe:03 dev kcrdev0 dst 10.106.170.64\n"
       "ip neigh replace 192.168.254.3 lladdr 0a:58:c0:a8:fe:03 dev kcrdev0 nud permanent\n"
       "ip route replace 10.244.7.0/24 via 192.168.254.3 dev kcrdev0 onlink\n"},
      {"remove linux", render_target::linux_host, removed,
       "ip route del 10.244.1.0/24 via 192.168.254.1 dev kcrdev0\n"
       "ip neigh del 192.168.254.1 dev kcrdev0\n"
       "bridge fdb del 0a:58:c0:a8:fe:01 dev kcrdev0 dst 10.106.170.62\n"},
      {"move linux", render_target::linux_host, moved,
       "bridge fdb del 0a:58:c0:a8:fe:02 dev kcrdev0 dst 10.106.170.63\n"
       "bridge fdb append 0a:58:c0:a8:fe:02 dev kcrdev0 dst 10.106.170.70\n"},
      {"cidr linux", render_target::linux_host, recidr,
       "ip route del 10.244.6.0/24 via 192.168.254.2 dev kcrdev0\n"
       "ip route replace 10.244.9.0/24 via 192.168.254.2 dev kcrdev0 onlink\n"},
      {"add netscaler", render_target::netscaler, added,
       "add bridgetable -mac 0a:58:c0:a8:fe:03 -vxlan 1 -vtep 10.106.170.64\n"
       "add arp -IPAddress 192.168.254.3 -mac 0a:58:c0:a8:fe:03 -vxlan 1 -vtep 10.106.170.64\n"
       "add route 10.244.7.0 255.255.255.0 192.168.254.3\n"},
      {"remove netscaler", render_target::netscaler, removed,
       "rm route 10.244.1.0 255.255.255.0 192.168.254.1\n"
       "rm arp 192.168.254.1\n"
       "rm bridgetable -mac 0a:58:c0:a8:fe:01 -vxlan 1 -vtep 10.106.170.62\n"},
      {"move netscaler", render_target::netscaler, moved,
       "rm arp 192.168.254.2\n"
       "rm bridgetable -mac 0a:58:c0:a8:fe:02 -vxlan 1 -vtep 10.106.170.63\n"
       "add bridgetable -mac 0a:58:c0:a8:fe:02 -vxlan 1 -vtep 10.106.170.70\n"
       "add arp -IPAddress 192.168.254.2 -mac 0a:58:c0:a8:fe:02 -vxlan 1 -vtep 10.106.170.70\n"},
      {"cidr netscaler", render_target::netscaler, recidr,
       "rm route 10.244.6.0 255.255.255.0 192.168.254.2\n"
       "add route 10.244.9.0 255.255.255.0 192.168.254.2\n"},
      {"add bigip", render_target::bigip, added,
       "tmsh modify net fdb tunnel kcr-tunnel records add { 0a:58:c0:a8:fe:03 { endpoint "
       "10.106.170.64 } }\n"
       "tmsh create net arp kcr-192.168.254.3 ip-address 192.168.254.3 mac-address "
       "0a:58:c0:a8:fe:03\n"
       "tmsh create net route kcr-10.244.7.0_24 network 10.244.7.0/24 gw 192.168.254.3\n"},
      {"remove bigip", render_target::bigip, removed,
       "tmsh delete net route kcr-10.244.1.0_24\n"
       "tmsh delete net arp kcr-192.168.254.1\n"
       "tmsh modify net fdb tunnel kcr-tunnel records delete { 0a:58:c0:a8:fe:01 }\n"},
      {"move bigip", render_target::bigip, moved,
       "tmsh modify net fdb tunnel kcr-tunnel records delete { 0a:58:c0:a8:fe:02 }\n"
       "tmsh modify net fdb tunnel kcr-tunnel records add { 0a:58:c0:a8:fe:02 { endpoint "
       "10.106.170.70 } }\n"},
      {"cidr bigip", render_target::bigip, recidr,
       "tmsh delete net route kcr-10.244.6.0_24\n"
       "tmsh create net route kcr-10.244.9.0_24 network 10.244.9.0/24 gw 192.168.254.2\n"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      BOOST_TEST(diff_text(base, c.to, seed_options(c.target)) == c.text);
    }
  }
}

BOOST_AUTO_TEST_CASE(same_state_gives_nothing) {
  for (auto t : {render_target::linux_host, render_target::netscaler, render_target::bigip}) {
    BOOST_TEST(diff_text(seed_state(), seed_state(), seed_options(t)).empty());
    BOOST_TEST(diff_text(ipip_state(), ipip_state(), target(t)).empty());
  }
}

BOOST_AUTO_TEST_CASE(a_changed_tunnel_is_recreated_with_everything_on_it) {
  auto before = seed_state();
  auto after = seed_state();
  after.vni = 5;
  // Linux: deleting the link takes its address, FDB, neighbours and routes along.
  auto linux_diff = app::render_diff(before, after, seed_options(render_target::linux_host));
  auto full = app::render(after, seed_options(render_target::linux_host)).commands;
  full.insert(full.begin(), "ip link del kcrdev0");
  BOOST_TEST(joined(linux_diff.commands) == joined(full));

  // NetScaler: the vxlan's dependents go first, explicitly; the SNIP and routes stay.
  BOOST_TEST(diff_text(before, after, seed_options(render_target::netscaler)) ==
             "rm arp 192.168.254.2\n"
             "rm bridgetable -mac 0a:58:c0:a8:fe:02 -vxlan 1 -vtep 10.106.170.63\n"
             "rm arp 192.168.254.1\n"
             "rm bridgetable -mac 0a:58:c0:a8:fe:01 -vxlan 1 -vtep 10.106.170.62\n"
             "unbind vxlan 1 -SrcIP 10.106.170.10\n"
             "rm vxlan 1\n"
             "add vxlan 5 -port 4789\n"
             "bind vxlan 5 -SrcIP 10.106.170.10\n"
             "add bridgetable -mac 0a:58:c0:a8:fe:01 -vxlan 5 -vtep 10.106.170.62\n"
             "add arp -IPAddress 192.168.254.1 -mac 0a:58:c0:a8:fe:01 -vxlan 5 -vtep "
             "10.106.170.62\n"
             "add bridgetable -mac 0a:58:c0:a8:fe:02 -vxlan 5 -vtep 10.106.170.63\n"
             "add arp -IPAddress 192.168.254.2 -mac 0a:58:c0:a8:fe:02 -vxlan 5 -vtep "
             "10.106.170.63\n");

  // A new EndpointIP: the address changes; on BIG-IP the routes through the self IP follow it.
  after = seed_state();
  after.endpoint_ip = ip("192.168.254.253");
  BOOST_TEST(diff_text(before, after, seed_options(render_target::linux_host)) ==
             "ip addr del 192.168.254.254/24 dev kcrdev0\n"
             "ip addr add 192.168.254.253/24 dev kcrdev0\n");
  BOOST_TEST(diff_text(before, after, seed_options(render_target::bigip)) ==
             "tmsh delete net route kcr-10.244.6.0_24\n"
             "tmsh delete net route kcr-10.244.1.0_24\n"
             "tmsh delete net self kcr-self\n"
             "tmsh create net self kcr-self address 192.168.254.253/24 vlan kcr-tunnel "
             "allow-service none\n"
             "tmsh create net route kcr-10.244.1.0_24 network 10.244.1.0/24 gw 192.168.254.1\n"
             "tmsh create net route kcr-10.244.6.0_24 network 10.244.6.0/24 gw 192.168.254.2\n");
}

BOOST_AUTO_TEST_CASE(ipip_node_removal_and_pbr_apply) {
  auto after = ipip_state();
  after.entries.pop_back();
  BOOST_TEST(diff_text(ipip_state(), after, target(render_target::netscaler)) ==
             "rm ns pbr kcr-10.245.0.0_16\n"
             "rm ns pbr kcr-10.244.2.0_24\n"
             "rm iptunnel kcr-198.51.100.12\n"
             "apply ns pbrs\n");
  BOOST_TEST(diff_text(ipip_state(), after, target(render_target::linux_host)) ==
             "ip route del 10.245.0.0/16 via 198.51.100.12 dev kcrdev0\n"
             "ip route del 10.244.2.0/24 via 198.51.100.12 dev kcrdev0\n");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(render_bad_input)

BOOST_AUTO_TEST_CASE(unrenderable_states_throw) {
  struct bad_case {
    const char* name;
    published_state state;
    render_options opts;
    const char* message_part;
  };
  auto no_endpoint = seed_state();
  no_endpoint.endpoint_ip.reset();
  auto v6_endpoint = seed_state();
  v6_endpoint.endpoint_ip = ip("fd00::1");
  auto ipip_v6 = ipip_state();
  ipip_v6.remote_vtep = ip("2001:db8::10");
  auto long_name = seed_options(render_target::linux_host);
  long_name.device_interface = "a-very-long-interface";
  auto slash = seed_options(render_target::linux_host);
  slash.underlay_dev = "eth0/1";
  const bad_case cases[] = {
      {"no EndpointIP", no_endpoint, seed_options(render_target::linux_host), "no EndpointIP"},
      {"IPv6 EndpointIP", v6_endpoint, seed_options(render_target::bigip), "IPv4"},
      {"no underlay IP", seed_state(), target(render_target::netscaler), "--local-ip"},
      {"IPIP over IPv6", ipip_v6, target(render_target::linux_host), "IPIP carries IPv4"},
      {"long interface", seed_state(), long_name, "--device-interface"},
      {"slash in underlay", seed_state(), slash, "--underlay-dev"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      try {
        app::render(c.state, c.opts);
        BOOST_ERROR("no render_error");
      } catch (const app::render_error& e) {
        BOOST_TEST(std::string{e.what()}.find(c.message_part) != std::string::npos, e.what());
      }
      BOOST_CHECK_THROW(app::render_diff(seed_state(), c.state, c.opts), app::render_error);
    }
  }
}

BOOST_AUTO_TEST_CASE(unusable_parts_are_left_out_with_a_warning) {
  auto s = seed_state();
  s.entries[0].pod_cidrs.push_back(cidr("fd00:10:244:1::/64"));
  s.entries[1].pod_cidrs = {cidr("10.244.1.0/24")}; // claimed by node .62 already
  s.entries.push_back({"", "", ip("2001:db8::5"), ip("192.168.254.5"), {}, {}});
  s.entries.push_back({"", "", ip("10.106.170.99"), ip("192.168.254.1"), {}, {}});
  auto r = app::render(s, seed_options(render_target::linux_host));
  BOOST_TEST(r.warnings.size() == 4u, joined(r.warnings));
  auto w = joined(r.warnings);
  BOOST_TEST(w.find("pod CIDR fd00:10:244:1::/64 skipped") != std::string::npos, w);
  BOOST_TEST(w.find("node 10.106.170.63: route 10.244.1.0/24 is already configured") !=
                 std::string::npos,
             w);
  BOOST_TEST(w.find("node 2001:db8::5: its address family differs") != std::string::npos, w);
  BOOST_TEST(w.find("node 10.106.170.99: overlay IP 192.168.254.1 is already") != std::string::npos,
             w);
  auto text = joined(r.commands);
  BOOST_TEST(text.find("fd00") == std::string::npos);
  BOOST_TEST(text.find("2001:db8") == std::string::npos);
  BOOST_TEST(text.find("10.106.170.99") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(configmap_json_forms) {
  auto kubectl = app::configmap_data_from_json(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"EndpointIP":"192.168.254.254"}})");
  BOOST_TEST(kubectl.at("EndpointIP") == "192.168.254.254");
  auto bare = app::configmap_data_from_json(R"({"EndpointIP":"192.168.254.254","Type":"IPIP"})");
  BOOST_TEST(bare.size() == 2u);
  BOOST_TEST(app::configmap_data_from_json(R"({"kind":"ConfigMap","metadata":{}})").empty());

  const std::pair<const char*, const char*> bad[] = {
      {R"({"EndpointIP": )", "not JSON"},
      {"[1,2]", "an array"},
      {"42", "a scalar"},
      {R"({"EndpointIP": 5})", "expected a string value"},
      {R"({"kind":"Secret","data":{}})", "expected kind ConfigMap"},
      {R"({"kind":"ConfigMap","data":[]})", "data is not an object"},
  };
  for (const auto& [text, part] : bad) {
    BOOST_TEST_CONTEXT(text) {
      try {
        app::configmap_data_from_json(text);
        BOOST_ERROR("accepted");
      } catch (const app::render_input_error& e) {
        BOOST_TEST(std::string{e.what()}.find(part) != std::string::npos, e.what());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(subcommand_exit_codes) {
  std::string dir =
      std::string{std::getenv("KCR_SOURCE_DIR") ? std::getenv("KCR_SOURCE_DIR") : "."} +
      "/test/app/data/";
  auto seed = dir + "seed-configmap.json";
  struct cli_case {
    std::vector<std::string> args;
    int code;
    const char* out_part; // in stdout (code 0) or the one stderr line (code 2)
  };
  const cli_case cases[] = {
      {{"-f", seed, "--local-ip", "10.106.170.10"}, 0, "ip link add kcrdev0 type vxlan id 1"},
      {{"-f", seed, "--local-ip", "10.106.170.10", "-t", "netscaler"}, 0, "add vxlan 1"},
      {{"-f", seed, "--local-ip", "10.106.170.10", "--diff", dir + "seed-third-node.json"},
       0,
       "ip route del 10.244.7.0/24"},
      {{"-f", seed, "--local-ip", "10.106.170.10", "--target", "a10"}, 2, "--target"},
      {{"-f", seed}, 2, "--local-ip"},
      {{"-f", dir + "does-not-exist.json"}, 2, "does-not-exist.json: cannot read"},
      {{"-f", dir + "not-json.json"}, 2, "not-json.json: not JSON"},
      {{"-f", dir + "no-endpoint.json"}, 2, "no-endpoint.json: the ConfigMap has no EndpointIP"},
      {{"-f", seed, "--local-ip", "10.106.170.10", "--diff", dir + "not-json.json"}, 2, "not JSON"},
      {{"-f", seed, "--local-ip", "not-an-ip"}, 2, "--local-ip"},
      {{"-f", seed, "--vni", "0"}, 2, "--vni"},
      {{"-f", seed, "--bogus"}, 2, "--bogus"},
      {{"--help"}, 0, "--target"},
  };
  for (const auto& c : cases) {
    std::vector<const char*> argv{"render"};
    std::string shown;
    for (const auto& a : c.args) {
      argv.push_back(a.c_str());
      shown += a + " ";
    }
    BOOST_TEST_CONTEXT(shown) {
      std::ostringstream out, err;
      int code = app::run_render(static_cast<int>(argv.size()), argv.data(), out, err);
      BOOST_TEST(code == c.code, err.str());
      if (c.code == 0) {
        BOOST_TEST(out.str().find(c.out_part) != std::string::npos, out.str());
      } else {
        auto e = err.str();
        BOOST_TEST(out.str().empty());
        BOOST_TEST(std::count(e.begin(), e.end(), '\n') == 1, e);
        BOOST_TEST(e.find(c.out_part) != std::string::npos, e);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_fixed_key_is_fatal_bad_entry_only_warned) {
  std::string dir =
      std::string{std::getenv("KCR_SOURCE_DIR") ? std::getenv("KCR_SOURCE_DIR") : "."} +
      "/test/app/data/";
  auto tmp = std::string{std::getenv("KCR_BINARY_DIR") ? std::getenv("KCR_BINARY_DIR") : "."} +
             "/render-test-input.json";
  auto run_on = [&](const std::string& json, std::ostringstream& out, std::ostringstream& err) {
    std::ofstream(tmp) << json;
    const char* argv[] = {"render", "-f", tmp.c_str(), "--local-ip", "192.0.2.10"};
    return app::run_render(5, argv, out, err);
  };
  std::ostringstream out1, err1;
  BOOST_TEST(run_on(R"({"EndpointIP":"192.168.254.254","Type":"GRE"})", out1, err1) == 2);
  BOOST_TEST(err1.str().find("Type: \"GRE\" is not VXLAN, IPIP or NONE") != std::string::npos,
             err1.str());

  std::ostringstream out2, err2;
  BOOST_TEST(run_on(R"({"EndpointIP":"192.168.254.254","Interface-10.0.0.1":"garbage",
                        "CNI-10.0.0.1":"10.244.1.1/24","Node-10.0.0.1":"10.0.0.1",
                        "Interface-10.0.0.2":"192.168.254.2","CNI-10.0.0.2":"10.244.2.1/24"})",
                    out2, err2) == 0);
  BOOST_TEST(err2.str().find("warning") != std::string::npos, err2.str());
  BOOST_TEST(err2.str().find("node 10.0.0.2 has no Node- key") != std::string::npos, err2.str());
  BOOST_TEST(out2.str().find("10.0.0.1") == std::string::npos, out2.str());
  BOOST_TEST(out2.str().find("ip addr add 192.168.254.254/24") != std::string::npos);
  std::remove(tmp.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
