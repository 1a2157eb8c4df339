// Route-only mode (--overlay-type none) and several device VTEPs (--remote-vtep A,B): the flags
// (tables of accepted and refused values) and what `render` makes of such ConfigMaps on every
// target (route-only routes via node IPs; --local-ip against RemoteVTEPs).
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "app/options.hpp"
#include "app/render.hpp"
#include "kube/configmap_codec.hpp"
#include "test/app/values.hpp"

using namespace kcr;
using app::render_options;
using app::render_target;

namespace {

app::command_line parse(const std::vector<std::string>& args) {
  std::vector<std::string> storage{"kube-chorus-router"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (auto& s : storage)
    argv.push_back(s.c_str());
  return app::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

using kcr::test::cidr;
using kcr::test::ip;
using kcr::test::joined;

struct clean_env {
  clean_env() { unset(); }
  ~clean_env() { unset(); }
  static void unset() {
    for (auto* v : {"TYPE", "NETWORK", "REMOTE_VTEPIP"})
      unsetenv(v);
  }
};

const std::string net_flag = "--overlay-network=192.168.254.0/24";

// Two nodes published in route-only mode (no Mac- keys, no VNID/Port).
kube::published_state route_only_state() {
  kube::published_state s;
  s.endpoint_ip = ip("192.168.254.254");
  s.type = net::overlay_type::none;
  s.network = cidr("192.168.254.0/24");
  s.entries = {
      {"a", "", ip("198.51.100.11"), ip("192.168.254.1"), {}, {cidr("10.244.1.0/24")}},
      {"b",
       "",
       ip("198.51.100.12"),
       ip("192.168.254.2"),
       {},
       {cidr("10.244.2.0/24"), cidr("fd00:10:244:2::/64")}},
  };
  return s;
}

kube::published_state two_vtep_state() {
  kube::published_state s;
  s.endpoint_ip = ip("192.168.254.254");
  s.type = net::overlay_type::vxlan;
  s.network = cidr("192.168.254.0/24");
  s.vni = 1;
  s.port = 4789;
  s.remote_vtep = ip("198.51.100.1");
  s.remote_vteps = {ip("198.51.100.1"), ip("198.51.100.200")};
  s.entries = {{"a", "", ip("198.51.100.11"), ip("192.168.254.1"), {}, {cidr("10.244.1.0/24")}}};
  return s;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(overlay_mode_flags, clean_env)

BOOST_AUTO_TEST_CASE(accepted_values) {
  struct row {
    std::vector<std::string> args;
    net::overlay_type type;
    std::vector<std::string> vteps; // every device VTEP, in order
  };
  const std::vector<row> rows = {
      {{net_flag, "--remote-vtep=192.0.2.10"}, net::overlay_type::vxlan, {"192.0.2.10"}},
      {{net_flag, "--remote-vtep=192.0.2.10,192.0.2.11"},
       net::overlay_type::vxlan,
       {"192.0.2.10", "192.0.2.11"}},
      {{net_flag, "--remote-vtep=2001:db8::1,2001:db8::2,2001:db8::3"},
       net::overlay_type::vxlan,
       {"2001:db8::1", "2001:db8::2", "2001:db8::3"}},
      {{net_flag, "--remote-vtep=192.0.2.10", "--overlay-type=ipip"},
       net::overlay_type::ipip,
       {"192.0.2.10"}},
      {{net_flag, "--overlay-type=none"}, net::overlay_type::none, {}},
      {{net_flag, "--overlay-type=NONE", "--remote-vtep=192.0.2.10,192.0.2.11"},
       net::overlay_type::none,
       {"192.0.2.10", "192.0.2.11"}},
  };
  for (const auto& r : rows) {
    auto cl = parse(r.args);
    BOOST_TEST_CONTEXT(r.args.back()) {
      BOOST_TEST_REQUIRE(!cl.exit_now, cl.err);
      BOOST_TEST((cl.opts.overlay_type == r.type));
      std::vector<std::string> got;
      for (const auto& v : cl.opts.remote_vteps)
        got.push_back(v.to_string());
      BOOST_TEST(got == r.vteps, boost::test_tools::per_element());
      if (!r.vteps.empty())
        BOOST_TEST(cl.opts.remote_vtep.to_string() == r.vteps.front());
    }
  }
}

BOOST_AUTO_TEST_CASE(environment_carries_a_list_and_none) {
  setenv("TYPE", "none", 1);
  setenv("NETWORK", "192.168.254.0/24", 1);
  setenv("REMOTE_VTEPIP", "192.0.2.10,192.0.2.11", 1);
  auto cl = parse({});
  BOOST_TEST_REQUIRE(!cl.exit_now, cl.err);
  BOOST_TEST((cl.opts.overlay_type == net::overlay_type::none));
  BOOST_TEST(cl.opts.remote_vteps.size() == 2u);
}

BOOST_AUTO_TEST_CASE(refused_values_exit_2_with_one_line) {
  struct row {
    std::vector<std::string> args;
    std::string must_contain;
  };
  const std::vector<row> rows = {
      {{net_flag, "--remote-vtep=192.0.2.10,"}, "comma-separated"},
      {{net_flag, "--remote-vtep=,192.0.2.10"}, "comma-separated"},
      {{net_flag, "--remote-vtep=192.0.2.10,,192.0.2.11"}, "comma-separated"},
      {{net_flag, "--remote-vtep=192.0.2.10,banana"}, "comma-separated"},
      {{net_flag, "--remote-vtep=192.0.2.10,192.0.2.10"}, "given twice"},
      {{net_flag, "--remote-vtep=192.0.2.10,2001:db8::1"}, "one family"},
      {{net_flag, "--remote-vtep=192.0.2.10,192.0.2.11", "--overlay-type=ipip"},
       "an IPIP tunnel has one remote"},
      {{net_flag}, "--remote-vtep (env REMOTE_VTEPIP) is required"},
      {{"--overlay-type=none"}, "--overlay-network (env NETWORK) is required"},
  };
  for (const auto& r : rows) {
    auto cl = parse(r.args);
    BOOST_TEST_CONTEXT(r.args.back() << " -> " << cl.err) {
      BOOST_TEST(cl.exit_now);
      BOOST_TEST(cl.exit_code == 2);
      BOOST_TEST(cl.err.find(r.must_contain) != std::string::npos);
      BOOST_TEST(cl.err.find('\n') == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(render_route_only)

BOOST_AUTO_TEST_CASE(every_target_routes_each_pod_range_via_its_node_ip) {
  struct row {
    render_target target;
    std::string underlay_dev;
    std::string want;
  };
  const std::vector<row> rows = {
      {render_target::linux_host, "",
       "ip route replace 10.244.1.0/24 via 198.51.100.11\n"
       "ip route replace 10.244.2.0/24 via 198.51.100.12\n"},
      {render_target::linux_host, "eth0",
       "ip route replace 10.244.1.0/24 via 198.51.100.11 dev eth0\n"
       "ip route replace 10.244.2.0/24 via 198.51.100.12 dev eth0\n"},
      {render_target::netscaler, "",
       "add route 10.244.1.0 255.255.255.0 198.51.100.11\n"
       "add route 10.244.2.0 255.255.255.0 198.51.100.12\n"},
      {render_target::bigip, "",
       "tmsh create net route kcr-10.244.1.0_24 network 10.244.1.0/24 gw 198.51.100.11\n"
       "tmsh create net route kcr-10.244.2.0_24 network 10.244.2.0/24 gw 198.51.100.12\n"},
  };
  for (const auto& r : rows) {
    render_options o;
    o.target = r.target;
    o.underlay_dev = r.underlay_dev;
    auto out = app::render(route_only_state(), o); // no RemoteVTEP, no --local-ip: not needed
    BOOST_TEST_CONTEXT(app::target_name(r.target) << " " << r.underlay_dev) {
      BOOST_TEST(joined(out.commands) == r.want);
      // The IPv6 range of an IPv4 node cannot go via that node's IP: left out, said so.
      BOOST_TEST_REQUIRE(out.warnings.size() == 1u);
      BOOST_TEST(out.warnings[0].find("fd00:10:244:2::/64") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(ipv6_nodes_get_ipv6_routes) {
  auto s = route_only_state();
  s.entries = {{"v6", "", ip("2001:db8::11"), ip("192.168.254.1"), {}, {cidr("fd00:1::/64")}}};
  render_options o;
  o.target = render_target::netscaler;
  BOOST_TEST(joined(app::render(s, o).commands) == "add route6 fd00:1::/64 2001:db8::11\n");
  o.target = render_target::linux_host;
  BOOST_TEST(joined(app::render(s, o).commands) ==
             "ip route replace fd00:1::/64 via 2001:db8::11\n");
}

BOOST_AUTO_TEST_CASE(diff_moves_a_route_to_the_new_node_ip) {
  auto before = route_only_state();
  auto after = before;
  after.entries[0].node_ip = ip("198.51.100.21");
  render_options o;
  auto out = app::render_diff(before, after, o);
  BOOST_TEST(joined(out.commands) == "ip route del 10.244.1.0/24 via 198.51.100.11\n"
                                     "ip route replace 10.244.1.0/24 via 198.51.100.21\n");
}

BOOST_AUTO_TEST_CASE(switching_vxlan_to_none_removes_the_tunnel_and_adds_node_routes) {
  auto none = route_only_state();
  none.entries.pop_back();
  auto vxlan = none;
  vxlan.type = net::overlay_type::vxlan;
  vxlan.remote_vtep = ip("198.51.100.1");
  render_options o;
  auto out = app::render_diff(vxlan, none, o);
  BOOST_TEST(joined(out.commands) == "ip link del kcrdev0\n"
                                     "ip route replace 10.244.1.0/24 via 198.51.100.11\n");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(render_several_vteps)

BOOST_AUTO_TEST_CASE(local_ip_must_name_one_of_the_remote_vteps) {
  struct row {
    std::optional<const char*> local_ip;
    std::string error; // empty: renders, bound to local_ip
  };
  const std::vector<row> rows = {
      {"198.51.100.1", ""},
      {"198.51.100.200", ""},
      {"198.51.100.7", "is not one of the ConfigMap's RemoteVTEPs (198.51.100.1, 198.51.100.200)"},
      {std::nullopt, "lists several device VTEPs"},
  };
  for (const auto& r : rows) {
    render_options o;
    if (r.local_ip)
      o.local_ip = ip(*r.local_ip);
    BOOST_TEST_CONTEXT(r.local_ip.value_or("(none)")) {
      if (r.error.empty()) {
        auto out = app::render(two_vtep_state(), o);
        BOOST_TEST_REQUIRE(!out.commands.empty());
        BOOST_TEST(out.commands[0].find(std::string(" local ") + *r.local_ip + " ") !=
                   std::string::npos);
        continue;
      }
      try {
        app::render(two_vtep_state(), o);
        BOOST_ERROR("rendered without an error");
      } catch (const app::render_error& e) {
        BOOST_TEST(std::string(e.what()).find(r.error) != std::string::npos, e.what());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(one_vtep_state_keeps_the_remote_vtep_default) {
  auto s = two_vtep_state();
  s.remote_vteps.clear();
  auto out = app::render(s, render_options{});
  BOOST_TEST_REQUIRE(!out.commands.empty());
  BOOST_TEST(out.commands[0].find(" local 198.51.100.1 ") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
