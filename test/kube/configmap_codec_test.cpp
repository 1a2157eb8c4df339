// ConfigMap codec: the seed's ConfigMap as a golden test, round trips, IPv6 keys, merge with
// foreign keys, and what decode reports for garbage and half-written entries.
#include <algorithm>
#include <random>
#include <regex>

#include <boost/test/unit_test.hpp>

#include "kube/configmap_codec.hpp"

using namespace kcr;
using kube::node_entry;
using kube::published_state;
using data_map = std::map<std::string, std::string>;

namespace {

net::ip_address ip(const char* text) {
  auto a = net::ip_address::parse(text);
  BOOST_TEST_REQUIRE(a.has_value(), text);
  return *a;
}

net::cidr cidr(const char* text) {
  auto c = net::cidr::parse(text);
  BOOST_TEST_REQUIRE(c.has_value(), text);
  return *c;
}

// The seed's two nodes with overlay IPs from 192.168.254.0/24.
published_state seed_state() {
  published_state s;
  s.endpoint_ip = ip("192.168.254.254");
  s.type = net::overlay_type::vxlan;
  s.entries = {
      node_entry{"",
                 "cb716e61-cab6-437e-a84a-d26a908260bc",
                 ip("10.106.170.62"),
                 ip("192.168.254.1"),
                 std::nullopt,
                 {cidr("10.244.1.0/24")}},
      node_entry{"",
                 "d666ca12-5b2e-4716-a243-ece13e780122",
                 ip("10.106.170.63"),
                 ip("192.168.254.2"),
                 std::nullopt,
                 {cidr("10.244.6.0/24")}},
  };
  return s;
}

std::string lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v)
    s += l + "\n";
  return s;
}

bool has_line(const std::vector<std::string>& v, std::string_view part) {
  return std::any_of(v.begin(), v.end(),
                     [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

// Differences between two data maps, for failure messages.
std::string diff(const data_map& got, const data_map& want) {
  std::string s;
  for (const auto& [k, v] : got)
    if (auto it = want.find(k); it == want.end())
      s += "unexpected " + k + "=" + v + "\n";
    else if (it->second != v)
      s += "wrong " + k + "=" + v + " (want " + it->second + ")\n";
  for (const auto& [k, v] : want)
    if (!got.contains(k))
      s += "missing " + k + "=" + v + "\n";
  return s;
}

void check_keys_valid(const data_map& data) {
  static const std::regex valid{"^[-._a-zA-Z0-9]+$"};
  for (const auto& [k, v] : data) {
    BOOST_TEST(std::regex_match(k, valid), "invalid ConfigMap key " << k);
    BOOST_TEST(k.size() <= 253u);
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(configmap_codec)

BOOST_AUTO_TEST_CASE(golden_seed_configmap) {
  const data_map expected{
      {"CNI-10.106.170.62", "10.244.1.1/24"},
      {"CNI-10.106.170.63", "10.244.6.1/24"},
      {"EndpointIP", "192.168.254.254"},
      {"Host-cb716e61-cab6-437e-a84a-d26a908260bc", "10.106.170.62"},
      {"Host-d666ca12-5b2e-4716-a243-ece13e780122", "10.106.170.63"},
      {"Interface-10.106.170.62", "192.168.254.1"},
      {"Interface-10.106.170.63", "192.168.254.2"},
      {"Mac-10.106.170.62", "0a:58:c0:a8:fe:01"},
      {"Mac-10.106.170.63", "0a:58:c0:a8:fe:02"},
      {"Node-10.106.170.62", "10.106.170.62"},
      {"Node-10.106.170.63", "10.106.170.63"},
      {"Type", "VXLAN"},
  };
  auto data = kube::encode(seed_state());
  BOOST_TEST((data == expected), diff(data, expected));

  // With node names, exactly the two additive Name- keys join.
  auto named = seed_state();
  named.entries[0].name = "worker-a";
  named.entries[1].name = "worker-b";
  auto with_names = expected;
  with_names.emplace("Name-10.106.170.62", "worker-a");
  with_names.emplace("Name-10.106.170.63", "worker-b");
  BOOST_TEST((kube::encode(named) == with_names), diff(kube::encode(named), with_names));
}

BOOST_AUTO_TEST_CASE(decode_seed_literal_data) {
  // Verbatim from the seed's `kubectl get cm` output: foreign MACs and another EndpointIP.
  const data_map seed{
      {"CNI-10.106.170.62", "10.244.1.1/24"},
      {"CNI-10.106.170.63", "10.244.6.1/24"},
      {"EndpointIP", "192.168.1.254"},
      {"Host-cb716e61-cab6-437e-a84a-d26a908260bc", "10.106.170.62"},
      {"Host-d666ca12-5b2e-4716-a243-ece13e780122", "10.106.170.63"},
      {"Interface-10.106.170.62", "192.168.254.1"},
      {"Interface-10.106.170.63", "192.168.254.2"},
      {"Mac-10.106.170.62", "76:13:e1:c7:4b:f6"},
      {"Mac-10.106.170.63", "b2:30:00:b1:88:49"},
      {"Node-10.106.170.62", "10.106.170.62"},
      {"Node-10.106.170.63", "10.106.170.63"},
  };
  auto r = kube::decode(seed);
  BOOST_TEST(r.problems.empty(), lines(r.problems));
  BOOST_TEST(r.partial.empty());
  auto want = seed_state();
  want.endpoint_ip = ip("192.168.1.254");
  want.type.reset(); // the seed's output has no Type key
  want.entries[0].mac = *net::mac_address::parse("76:13:e1:c7:4b:f6");
  want.entries[1].mac = *net::mac_address::parse("b2:30:00:b1:88:49");
  BOOST_TEST(r.state == want);
  // Re-encoding keeps the foreign MACs: nothing changes for devices already configured.
  want.type = net::overlay_type::vxlan;
  auto again = kube::encode(want);
  BOOST_TEST(again.at("Mac-10.106.170.62") == "76:13:e1:c7:4b:f6");
}

BOOST_AUTO_TEST_CASE(entry_key_order) {
  auto e = seed_state().entries[0];
  e.name = "worker-a";
  std::vector<std::string> keys;
  for (const auto& [k, v] : kube::encode_entry(e, net::overlay_type::vxlan))
    keys.push_back(k);
  BOOST_TEST(keys == (std::vector<std::string>{"Host-cb716e61-cab6-437e-a84a-d26a908260bc",
                                               "Interface-10.106.170.62", "Mac-10.106.170.62",
                                               "CNI-10.106.170.62", "Name-10.106.170.62",
                                               "Node-10.106.170.62"}),
             boost::test_tools::per_element());
  keys.clear();
  for (const auto& [k, v] : kube::encode_entry(e, net::overlay_type::ipip))
    keys.push_back(k);
  BOOST_TEST(keys == (std::vector<std::string>{"Host-cb716e61-cab6-437e-a84a-d26a908260bc",
                                               "Interface-10.106.170.62", "CNI-10.106.170.62",
                                               "Name-10.106.170.62", "Node-10.106.170.62"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cni_values) {
  struct row {
    std::vector<const char*> in;
    const char* out;
  };
  for (const auto& r :
       {row{{"10.244.1.0/24"}, "10.244.1.1/24"},
        row{{"10.244.1.0/24", "fd00:10:244:1::/64"}, "10.244.1.1/24,fd00:10:244:1::1/64"},
        row{{"10.42.0.0/16"}, "10.42.0.1/16"}, row{{"10.0.0.7/32"}, "10.0.0.7/32"}, row{{}, ""}}) {
    std::vector<net::cidr> cidrs;
    for (auto c : r.in)
      cidrs.push_back(cidr(c));
    BOOST_TEST(kube::cni_value(cidrs) == r.out);
  }
}

BOOST_AUTO_TEST_CASE(round_trips) {
  auto ipv6 = published_state{};
  ipv6.endpoint_ip = ip("fd00:254::fe");
  ipv6.type = net::overlay_type::vxlan;
  ipv6.entries = {node_entry{"v6-node",
                             "u-6",
                             ip("fd00::10"),
                             ip("192.168.254.3"),
                             std::nullopt,
                             {cidr("fd00:10:244:1::/64")}}};

  auto full = seed_state();
  full.network = cidr("192.168.254.0/24");
  full.vni = 5001;
  full.port = 4789;
  full.remote_vtep = ip("203.0.113.9");
  full.entries[0].name = "worker-a";
  full.entries[0].pod_cidrs.push_back(cidr("fd00:10:244:1::/64"));
  full.entries[1].mac = *net::mac_address::parse("b2:30:00:b1:88:49");
  full.entries.push_back(node_entry{
      "v6", "u-3", ip("fd00::10"), ip("192.168.254.3"), std::nullopt, {cidr("10.244.9.0/24")}});

  auto ipip = seed_state();
  ipip.type = net::overlay_type::ipip;

  auto empty = published_state{};

  for (const auto* s : {&ipv6, &full, &ipip, &empty}) {
    BOOST_TEST_CONTEXT(*s) {
      auto data = kube::encode(*s);
      check_keys_valid(data);
      auto r = kube::decode(data);
      BOOST_TEST(r.problems.empty(), lines(r.problems));
      BOOST_TEST(r.partial.empty());
      BOOST_TEST(r.state == *s);
      BOOST_TEST((kube::encode(r.state) == data)); // and back to the same bytes
    }
  }
  auto data = kube::encode(ipip);
  BOOST_TEST(!data.contains("Mac-10.106.170.62")); // IPIP publishes no MAC
  BOOST_TEST(data.at("Type") == "IPIP");
}

BOOST_AUTO_TEST_CASE(ipv6_node_keys) {
  published_state s;
  s.entries = {node_entry{"n6",
                          "u-6",
                          ip("2001:db8::a:10"),
                          ip("192.168.254.7"),
                          std::nullopt,
                          {cidr("10.244.1.0/24"), cidr("fd00:10:244:1::/64")}}};
  auto data = kube::encode(s);
  check_keys_valid(data);
  BOOST_TEST(data.at("Node-2001_db8__a_10") == "2001:db8::a:10"); // values keep ':'
  BOOST_TEST(data.at("Host-u-6") == "2001:db8::a:10");
  BOOST_TEST(data.at("Interface-2001_db8__a_10") == "192.168.254.7");
  BOOST_TEST(data.at("CNI-2001_db8__a_10") == "10.244.1.1/24,fd00:10:244:1::1/64");
  BOOST_TEST(kube::ip_key(ip("2001:db8::a:10")) == "2001_db8__a_10");
}

BOOST_AUTO_TEST_CASE(own_keys) {
  for (auto k : {"EndpointIP", "Type", "Network", "VNID", "Port", "RemoteVTEP", "Host-x",
                 "Interface-10.0.0.1", "Mac-10.0.0.1", "CNI-10.0.0.1", "Name-10.0.0.1",
                 "Node-10.0.0.1", "Node-"})
    BOOST_TEST(kube::is_own_key(k), k);
  for (auto k : {"endpointip", "vendor.example.com-route-1", "Hosts", "Typed", "F5-partition", ""})
    BOOST_TEST(!kube::is_own_key(k), k);
}

BOOST_AUTO_TEST_CASE(merge_keeps_foreign_and_removes_stale_own_keys) {
  const data_map current{
      {"citrix.com-adc-vip", "10.0.0.100"},         // foreign: kept
      {"EndpointIP", "garbage"},                    // own, wrong value: replaced
      {"Node-10.106.170.99", "10.106.170.99"},      // stale node: removed
      {"Interface-10.106.170.99", "192.168.254.9"}, // stale node: removed
      {"Host-0000-gone", "10.106.170.99"},          // stale node: removed
      {"Mac-10.106.170.62", "zz:zz:zz:zz:zz:zz"},   // garbage: replaced
      {"VNID", "1"},                                // own key no longer desired: removed
  };
  auto desired = kube::encode(seed_state());
  auto merged = kube::merge(current, desired);
  auto want = desired;
  want.emplace("citrix.com-adc-vip", "10.0.0.100");
  BOOST_TEST((merged == want), diff(merged, want));
  // Merging again changes nothing: a sync without drift writes nothing.
  BOOST_TEST((kube::merge(merged, desired) == merged));
}

BOOST_AUTO_TEST_CASE(decode_reports_garbage_and_partial_entries) {
  auto data = kube::encode(seed_state());
  data["vendor-note"] = "not ours, not checked: 1.2.3"; // foreign: ignored
  data["Interface-10.106.170.63"] = "192.168.254.300";  // bad overlay IP
  data["Node-10.106.170.70"] = "10.106.170.70";         // complete but broken:
  data["Interface-10.106.170.70"] = "192.168.254.5";    //   bad MAC
  data["Mac-10.106.170.70"] = "0a:58:c0:a8:fe";
  data["CNI-10.106.170.70"] = "10.244.7.1/24";
  data["Interface-10.106.170.71"] = "192.168.254.6"; // partial: no Node- yet
  data["CNI-10.106.170.71"] = "10.244.8.1/24";
  data["Host-u-71"] = "10.106.170.71";
  data["Node-10.106.170.72"] = "10.106.170.72"; // bad CIDR
  data["Interface-10.106.170.72"] = "192.168.254.7";
  data["CNI-10.106.170.72"] = "10.244.9.1/24,nonsense";
  data["Node-10.106.170.73"] = "10.106.170.74"; // value does not match key
  data["Interface-10.106.170.73"] = "192.168.254.8";
  data["CNI-10.106.170.73"] = "10.244.10.1/24";
  data["Node-fd00::10"] = "fd00::10";            // ':' in a key
  data["Node-fd00_0_0_0_0_0_0_10"] = "fd00::10"; // not the canonical spelling
  data["Node-10.106.170.74"] = "10.106.170.74";  // no Interface-
  data["CNI-10.106.170.74"] = "10.244.11.1/24";
  data["VNID"] = "16777216";
  data["Port"] = "-1";
  data["Type"] = "GRE";

  auto r = kube::decode(data);
  for (auto want : {
           R"(Interface-10.106.170.63: "192.168.254.300" is not an IP address)",
           R"(Mac-10.106.170.70: "0a:58:c0:a8:fe" is not a MAC address)",
           R"(CNI-10.106.170.72: "10.244.9.1/24,nonsense" is not a comma-separated list of CIDRs)",
           R"(Node-10.106.170.73: "10.106.170.74" does not match the IP in its key)",
           R"(Node-fd00::10: "fd00::10" is not a node IP as written in keys)",
           R"(Node-fd00_0_0_0_0_0_0_10: "fd00_0_0_0_0_0_0_10" is not a node IP)",
           "Interface-10.106.170.74 is missing for node IP 10.106.170.74",
           R"(VNID: "16777216" is not a VNI in 1..16777215)",
           R"(Port: "-1" is not a port in 1..65535)",
           R"(Type: "GRE" is not VXLAN, IPIP or NONE)",
       })
    BOOST_TEST(has_line(r.problems, want), "want \"" << want << "\" in:\n" << lines(r.problems));
  BOOST_TEST(r.problems.size() == 10u, lines(r.problems));
  BOOST_TEST(!has_line(r.problems, "vendor-note"));

  // Only the intact seed node is complete; the broken ones are left out, not half-used.
  BOOST_TEST_REQUIRE(r.state.entries.size() == 1u);
  BOOST_TEST(r.state.entries[0] == seed_state().entries[0]);
  BOOST_TEST((r.state.endpoint_ip == ip("192.168.254.254")));
  BOOST_TEST(!r.state.type.has_value());
  BOOST_TEST(!r.state.vni.has_value());

  BOOST_TEST_REQUIRE(r.partial.size() == 1u);
  BOOST_TEST(r.partial[0] == (node_entry{"",
                                         "u-71",
                                         ip("10.106.170.71"),
                                         ip("192.168.254.6"),
                                         std::nullopt,
                                         {cidr("10.244.8.0/24")}}));
}

BOOST_AUTO_TEST_CASE(decode_conflicting_host_keys) {
  auto data = kube::encode(seed_state());
  data["Host-stale-uid"] = "10.106.170.62"; // a second uid claims the same node IP
  auto r = kube::decode(data);
  BOOST_TEST(has_line(r.problems, "Host-cb716e61-cab6-437e-a84a-d26a908260bc, Host-stale-uid all "
                                  "name node IP 10.106.170.62"),
             lines(r.problems));
  BOOST_TEST_REQUIRE(r.state.entries.size() == 1u);
  BOOST_TEST(r.state.entries[0].node_ip == ip("10.106.170.63"));
}

BOOST_AUTO_TEST_CASE(decode_ignores_foreign_keys_only_data) {
  auto r = kube::decode({{"a", "b"}, {"vendor.io-x", ""}});
  BOOST_TEST(r.problems.empty());
  BOOST_TEST(r.partial.empty());
  BOOST_TEST((r.state == published_state{}));
}

BOOST_AUTO_TEST_SUITE_END()

// decode_incremental must agree with decode after any sequence of edits: adds, removals, IP and
// CIDR changes, garbage values, deleted keys, foreign keys, fixed-key changes.
BOOST_AUTO_TEST_CASE(incremental_decode_agrees_with_full_decode) {
  using kcr::kube::decode;
  using kcr::kube::decode_incremental;
  std::mt19937 rng(42);
  auto entry_keys = [](int i, const std::string& ip) {
    std::map<std::string, std::string> m{
        {"Host-uid-" + std::to_string(i), ip},
        {"Interface-" + ip, "192.168.254." + std::to_string(i % 250 + 1)},
        {"Mac-" + ip, "0a:58:c0:a8:fe:01"},
        {"CNI-" + ip, "10.244." + std::to_string(i % 250) + ".1/24"},
        {"Name-" + ip, "node-" + std::to_string(i)},
        {"Node-" + ip, ip}};
    return m;
  };
  std::map<std::string, std::string> data{{"EndpointIP", "192.168.254.254"}, {"Type", "VXLAN"}};
  for (int i = 0; i < 40; ++i)
    for (auto& kv : entry_keys(i, "198.51.100." + std::to_string(i + 1)))
      data.insert(kv);
  auto same = [](const kcr::kube::decode_result& a, const kcr::kube::decode_result& b) {
    return a.state == b.state && a.partial == b.partial && a.problems == b.problems;
  };
  auto prev = data;
  auto prev_decoded = decode(prev);
  int mismatches = 0;
  int incremental_steps = 0; // steps that started from a problem-free decode (the fast path)
  int broken = -1;           // a node whose keys were damaged in the previous step
  for (int step = 0; step < 400; ++step) {
    incremental_steps += prev_decoded.problems.empty();
    auto next = prev;
    int i = static_cast<int>(rng() % 60);
    int op = static_cast<int>(rng() % 16);
    if (broken >= 0) { // a broken node is rewritten right away, as the publisher would
      i = broken;
      op = 0;
      broken = -1;
    } else if (op >= 8) {
      op = op % 3; // mostly the common changes: add, remove, new CIDR
    } else if (op == 3 || op == 4 || op == 6) {
      broken = i;
    }
    std::string ip = "198.51.100." + std::to_string(i + 1);
    switch (op) {
    case 0: // add or re-add a node
      for (auto& kv : entry_keys(i, ip))
        next[kv.first] = kv.second;
      break;
    case 1: // remove a node
      for (auto& kv : entry_keys(i, ip))
        next.erase(kv.first);
      break;
    case 2: // new pod CIDR
      if (next.count("CNI-" + ip))
        next["CNI-" + ip] = "10.99." + std::to_string(step % 200) + ".1/24";
      break;
    case 3: // garbage in an own key
      next["Interface-" + ip] = "garbage";
      break;
    case 4: // the completing key removed: partial entry
      next.erase("Node-" + ip);
      break;
    case 5: // foreign key
      next["Vendor-" + std::to_string(step)] = "x";
      break;
    case 6: // the Host- key moves to another IP
      if (next.count("Host-uid-" + std::to_string(i)))
        next["Host-uid-" + std::to_string(i)] = "198.51.100." + std::to_string(i + 100);
      break;
    case 7: // fixed key changes now and then
      next["EndpointIP"] = step % 2 ? "192.168.254.254" : "192.168.254.253";
      break;
    }
    auto full = decode(next);
    auto inc = decode_incremental(prev, prev_decoded, next);
    if (!same(full, inc))
      ++mismatches;
    prev = next;
    prev_decoded = inc;
  }
  BOOST_TEST(mismatches == 0);
  BOOST_TEST(incremental_steps > 100, incremental_steps);
}

// Issue 15: a key spelling an IPv6 node IP non-canonically (fd00_0_0_0_0_0_0_1 for fd00::1) is a
// problem in the full decode; the incremental decode took it for fd00::1, decoded only the
// canonical keys and lost the "malformed own keys" warning.
BOOST_AUTO_TEST_CASE(incremental_decode_reports_non_canonical_ipv6_keys) {
  using kcr::kube::decode;
  using kcr::kube::decode_incremental;
  std::map<std::string, std::string> before{{"EndpointIP", "fd00:ff::1"},
                                            {"Type", "VXLAN"},
                                            {"Interface-fd00__1", "fd00:ff::10"},
                                            {"CNI-fd00__1", "fd00:244:1::1/64"},
                                            {"Node-fd00__1", "fd00::1"}};
  auto before_decoded = decode(before);
  BOOST_TEST_REQUIRE(before_decoded.problems.empty());
  BOOST_TEST_REQUIRE(before_decoded.state.entries.size() == 1u);
  for (const char* key : {"Interface-fd00_0_0_0_0_0_0_1", "Mac-FD00__1", "Name-fd00_0__1",
                          "Node-fd00_0000__1", "CNI-fd00__0_1"}) {
    BOOST_TEST_CONTEXT(key) {
      auto now = before;
      now[key] = "x";
      auto full = decode(now);
      BOOST_TEST_REQUIRE(!full.problems.empty());
      auto inc = decode_incremental(before, before_decoded, now);
      BOOST_TEST(inc.problems == full.problems);
      BOOST_TEST((inc.state == full.state));
      BOOST_TEST((inc.partial == full.partial));
    }
  }
}
