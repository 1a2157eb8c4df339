// Unit tests (pure): several device VTEPs in the tunnel spec (remotes(), validation) and the
// route-only overlay type (names, no tunnel to validate, no encapsulation).
#include <boost/test/unit_test.hpp>

#include "net/tunnel_spec.hpp"

using namespace kcr::net;

namespace {

ip_address ip(const char* s) {
  return *ip_address::parse(s);
}

tunnel_spec vxlan() {
  tunnel_spec s;
  s.vni = 42;
  s.local = ip("198.51.100.10");
  s.remote = ip("198.51.100.1");
  s.overlay = *cidr::parse("192.168.254.1/24");
  return s;
}

std::string all(const std::vector<std::string>& errs) {
  std::string out;
  for (const auto& e : errs)
    out += e + "; ";
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(tunnel_remotes)

BOOST_AUTO_TEST_CASE(remotes_lists_the_first_then_the_others_once) {
  struct row {
    std::vector<const char*> extra;
    std::vector<const char*> want;
  };
  const std::vector<row> rows = {
      {{}, {"198.51.100.1"}},
      {{"198.51.100.200"}, {"198.51.100.1", "198.51.100.200"}},
      {{"198.51.100.200", "198.51.100.1", "198.51.100.200", "198.51.100.3"},
       {"198.51.100.1", "198.51.100.200", "198.51.100.3"}},
  };
  for (const auto& r : rows) {
    auto s = vxlan();
    for (const auto* e : r.extra)
      s.extra_remotes.push_back(ip(e));
    std::vector<std::string> got;
    for (const auto& v : remotes(s))
      got.push_back(v.to_string());
    std::vector<std::string> want(r.want.begin(), r.want.end());
    BOOST_TEST(got == want, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(validation_of_further_remotes) {
  struct row {
    overlay_type type;
    std::vector<const char*> extra;
    const char* error; // nullptr: valid
  };
  const std::vector<row> rows = {
      {overlay_type::vxlan, {"198.51.100.200"}, nullptr},
      {overlay_type::vxlan, {"198.51.100.200", "198.51.100.201"}, nullptr},
      {overlay_type::vxlan, {"0.0.0.0"}, "further remote VTEP: not set"},
      {overlay_type::vxlan, {"2001:db8::1"}, "same address family"},
      {overlay_type::vxlan, {"198.51.100.10"}, "equals the local IP"},
      {overlay_type::ipip, {"198.51.100.200"}, "IPIP has one remote endpoint; got 2"},
      {overlay_type::none, {}, "route-only"},
  };
  for (const auto& r : rows) {
    auto s = vxlan();
    s.type = r.type;
    if (r.type != overlay_type::vxlan)
      s.vni = 0;
    for (const auto* e : r.extra)
      s.extra_remotes.push_back(ip(e));
    auto errs = validate(s);
    BOOST_TEST_CONTEXT(flag_name(r.type) << " " << all(errs)) {
      if (r.error == nullptr) {
        BOOST_TEST(errs.empty());
      } else {
        BOOST_TEST(errs.size() == 1u);
        BOOST_TEST(all(errs).find(r.error) != std::string::npos);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(route_only_names) {
  BOOST_TEST(flag_name(overlay_type::none) == "none");
  BOOST_TEST(configmap_name(overlay_type::none) == "NONE");
  for (const char* text : {"none", "NONE", "None"})
    BOOST_TEST((parse_overlay_type(text) == overlay_type::none), text);
  BOOST_TEST(!parse_overlay_type("nonee").has_value());
  BOOST_TEST(default_interface_name(overlay_type::none).empty());
  BOOST_TEST(encapsulation_overhead(overlay_type::none) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
