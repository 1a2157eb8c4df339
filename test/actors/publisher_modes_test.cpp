// The publisher's own keys for issue 17 (its state driven directly, no actor): Type NONE without
// Mac-/VNID/Port keys and without RemoteVTEP when none was given; RemoteVTEPs only with several
// device VTEPs.
#include <boost/test/unit_test.hpp>

#include "actors/publisher.hpp"
#include "tunnel_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace kcr::test;

BOOST_AUTO_TEST_SUITE(publisher_modes)

BOOST_AUTO_TEST_CASE(own_keys_per_mode) {
  struct row {
    const char* what;
    net::overlay_type type;
    std::vector<const char*> vteps;             // --remote-vtep; empty: not given
    std::map<std::string, std::string> present; // key -> value
    std::vector<std::string> absent;
  };
  const std::string mac = "Mac-198.51.100.7";
  const std::vector<row> rows = {
      {"vxlan, one device",
       net::overlay_type::vxlan,
       {"203.0.113.10"},
       {{"Type", "VXLAN"},
        {"RemoteVTEP", "203.0.113.10"},
        {"VNID", "42"},
        {mac, "0a:58:c0:a8:fe:01"}},
       {"RemoteVTEPs"}},
      {"vxlan, two devices",
       net::overlay_type::vxlan,
       {"203.0.113.10", "203.0.113.11"},
       {{"RemoteVTEP", "203.0.113.10"}, {"RemoteVTEPs", "203.0.113.10,203.0.113.11"}},
       {}},
      {"none with a device address",
       net::overlay_type::none,
       {"203.0.113.10"},
       {{"Type", "NONE"},
        {"RemoteVTEP", "203.0.113.10"},
        {"Node-198.51.100.7", "198.51.100.7"},
        {"Interface-198.51.100.7", "192.168.254.1"},
        {"CNI-198.51.100.7", "10.244.1.1/24"}},
       {mac, "VNID", "Port", "RemoteVTEPs"}},
      {"none without one",
       net::overlay_type::none,
       {},
       {{"Type", "NONE"}, {"Node-198.51.100.7", "198.51.100.7"}},
       {"RemoteVTEP", "RemoteVTEPs", mac}},
  };
  for (const auto& r : rows) {
    publisher_state st;
    st.settings = tunnel_settings();
    st.settings.overlay_type = r.type;
    st.settings.remote_vtep = {};
    for (const auto* v : r.vteps)
      st.settings.remote_vteps.push_back(ip(v));
    if (!r.vteps.empty())
      st.settings.remote_vtep = st.settings.remote_vteps.front();
    st.reset_own();
    st.add_own(make_entry("node-a", "198.51.100.7", "192.168.254.1"));
    BOOST_TEST_CONTEXT(r.what) {
      for (const auto& [k, v] : r.present) {
        auto it = st.own.find(k);
        BOOST_TEST((it != st.own.end()), k << " missing");
        if (it != st.own.end())
          BOOST_TEST(it->second == v, k);
      }
      for (const auto& k : r.absent)
        BOOST_TEST(st.own.count(k) == 0u, k << " present");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
