// ConfigMap codec for issue 17: Type NONE (route-only: no Mac- keys, every other entry key as
// always) and the additive RemoteVTEPs key (several device VTEPs): encode, decode, round trips,
// bad values reported, incremental decode agreeing with the full one.
#include <boost/test/unit_test.hpp>

#include "kube/configmap_codec.hpp"

using namespace kcr;
using kube::published_state;
using data_map = std::map<std::string, std::string>;

namespace {

net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

published_state two_nodes(net::overlay_type type) {
  published_state s;
  s.endpoint_ip = ip("192.168.254.254");
  s.type = type;
  s.network = *net::cidr::parse("192.168.254.0/24");
  s.entries = {{"node-1",
                "u1",
                ip("198.51.100.11"),
                ip("192.168.254.1"),
                std::nullopt,
                {*net::cidr::parse("10.244.1.0/24")}},
               {"node-2",
                "u2",
                ip("198.51.100.12"),
                ip("192.168.254.2"),
                std::nullopt,
                {*net::cidr::parse("10.244.2.0/24")}}};
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(configmap_modes)

BOOST_AUTO_TEST_CASE(route_only_keys) {
  auto data = kube::encode(two_nodes(net::overlay_type::none));
  const data_map want{{"EndpointIP", "192.168.254.254"},
                      {"Type", "NONE"},
                      {"Network", "192.168.254.0/24"},
                      {"Host-u1", "198.51.100.11"},
                      {"Host-u2", "198.51.100.12"},
                      {"Interface-198.51.100.11", "192.168.254.1"},
                      {"Interface-198.51.100.12", "192.168.254.2"},
                      {"CNI-198.51.100.11", "10.244.1.1/24"},
                      {"CNI-198.51.100.12", "10.244.2.1/24"},
                      {"Name-198.51.100.11", "node-1"},
                      {"Name-198.51.100.12", "node-2"},
                      {"Node-198.51.100.11", "198.51.100.11"},
                      {"Node-198.51.100.12", "198.51.100.12"}};
  BOOST_TEST(data == want);
  auto back = kube::decode(data);
  BOOST_TEST(back.problems.empty());
  BOOST_TEST(back.state == two_nodes(net::overlay_type::none));
}

BOOST_AUTO_TEST_CASE(remote_vteps_round_trip) {
  struct row {
    std::vector<const char*> vteps;
    const char* value; // nullptr: no RemoteVTEPs key
  };
  const std::vector<row> rows = {
      {{}, nullptr},
      {{"198.51.100.1", "198.51.100.200"}, "198.51.100.1,198.51.100.200"},
      {{"2001:db8::1", "2001:db8::2", "2001:db8::3"}, "2001:db8::1,2001:db8::2,2001:db8::3"},
  };
  for (const auto& r : rows) {
    auto s = two_nodes(net::overlay_type::vxlan);
    for (const auto* v : r.vteps)
      s.remote_vteps.push_back(ip(v));
    if (!s.remote_vteps.empty())
      s.remote_vtep = s.remote_vteps.front();
    auto data = kube::encode(s);
    auto it = data.find("RemoteVTEPs");
    BOOST_TEST_CONTEXT(std::string(r.value ? r.value : "(none)")) {
      BOOST_TEST((it != data.end()) == (r.value != nullptr));
      if (r.value && it != data.end())
        BOOST_TEST(it->second == r.value);
      auto back = kube::decode(data);
      BOOST_TEST(back.problems.empty());
      BOOST_TEST(back.state == s);
    }
  }
}

BOOST_AUTO_TEST_CASE(remote_vteps_is_own_and_checked) {
  BOOST_TEST(kube::is_own_key("RemoteVTEPs"));
  BOOST_TEST(!kube::is_own_key("RemoteVTEPsX"));
  // Spaces around items are tolerated (hand edits); anything not an address is reported.
  auto data = kube::encode(two_nodes(net::overlay_type::vxlan));
  data["RemoteVTEPs"] = "198.51.100.1, 198.51.100.200";
  auto ok = kube::decode(data);
  BOOST_TEST(ok.problems.empty());
  BOOST_TEST(ok.state.remote_vteps.size() == 2u);
  for (const char* bad : {"", "198.51.100.1,", "198.51.100.1,banana", ","}) {
    data["RemoteVTEPs"] = bad;
    auto r = kube::decode(data);
    BOOST_TEST_CONTEXT("\"" << bad << "\"") {
      BOOST_TEST_REQUIRE(r.problems.size() == 1u);
      BOOST_TEST(r.problems[0].starts_with("RemoteVTEPs: "), r.problems[0]);
      BOOST_TEST(r.state.remote_vteps.empty());
      BOOST_TEST(r.state.entries.size() == 2u); // the entries do not depend on it
    }
  }
}

BOOST_AUTO_TEST_CASE(incremental_decode_sees_a_changed_list_and_a_type_switch) {
  auto before_state = two_nodes(net::overlay_type::vxlan);
  before_state.remote_vtep = ip("198.51.100.1");
  auto before_data = kube::encode(before_state);
  auto before = kube::decode(before_data);
  auto after_state = before_state;
  after_state.remote_vteps = {ip("198.51.100.1"), ip("198.51.100.200")};
  auto after_data = kube::encode(after_state);
  BOOST_TEST(kube::decode_incremental(before_data, before, after_data).state == after_state);
  auto none_state = after_state;
  none_state.type = net::overlay_type::none;
  auto none_data = kube::encode(none_state); // the Mac- keys go
  BOOST_TEST(none_data.count("Mac-198.51.100.11") == 0u);
  BOOST_TEST(kube::decode_incremental(after_data, kube::decode(after_data), none_data).state ==
             none_state);
}

BOOST_AUTO_TEST_SUITE_END()
