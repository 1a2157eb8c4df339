// Issue 17 in the tunnel layer: the spec builder with several device VTEPs (table), and the local
// tunnel actor in route-only mode (--overlay-type none): it never builds a tunnel, it removes ours
// (a cluster switched from VXLAN), and it reports converged (ready) once none is left.
#include <boost/test/unit_test.hpp>

#include "actors/telemetry.hpp"
#include "actors/tunnel.hpp"
#include "actors/tunnel_spec_builder.hpp"
#include "fake_tunnel_manager.hpp"
#include "tunnel_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace kcr::test;

namespace {

// The fake, plus what cleanup() finds: the tunnels "left over" from an earlier mode.
class leftover_tunnel_manager : public fake_tunnel_manager {
public:
  std::vector<std::string> leftovers;
  std::optional<net::tunnel_error> cleanup_error;
  net::tunnel_result<net::cleanup_report> cleanup() override {
    fake_tunnel_manager::cleanup();
    if (cleanup_error)
      return *cleanup_error;
    net::cleanup_report r;
    r.removed = std::move(leftovers);
    r.netlink_writes = static_cast<int>(r.removed.size());
    leftovers.clear();
    return r;
  }
};

struct route_only_fixture : actor_fixture {
  controller_settings settings = [] {
    auto s = tunnel_settings();
    s.overlay_type = net::overlay_type::none;
    return s;
  }();
  std::shared_ptr<leftover_tunnel_manager> mgr = std::make_shared<leftover_tunnel_manager>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  std::shared_ptr<std::vector<node_event>> events = std::make_shared<std::vector<node_event>>();

  tunnel_actor spawn_tunnel() {
    tunnel_config cfg{"node-a", std::make_shared<const controller_settings>(settings), mgr, tel,
                      recording_events(*this, events)};
    auto h = track(sys->spawn(tunnel, std::move(cfg)));
    run();
    return h;
  }
  void observe(const tunnel_actor& h, std::optional<kube::node_entry> e) {
    caf::anon_send(h, entry_observed{std::move(e), "7"});
    run();
  }
};

const auto entry_a = make_entry("node-a", "198.51.100.7", "192.168.254.1");

} // namespace

BOOST_AUTO_TEST_SUITE(tunnel_modes_builder)

BOOST_AUTO_TEST_CASE(every_further_vtep_becomes_an_extra_remote) {
  struct row {
    net::overlay_type type;
    std::vector<const char*> vteps; // settings.remote_vteps; remote_vtep is the first
    std::vector<const char*> extra; // what the spec gets
  };
  const std::vector<row> rows = {
      {net::overlay_type::vxlan, {}, {}},
      {net::overlay_type::vxlan, {"203.0.113.10"}, {}},
      {net::overlay_type::vxlan, {"203.0.113.10", "203.0.113.11"}, {"203.0.113.11"}},
      {net::overlay_type::vxlan,
       {"203.0.113.10", "203.0.113.11", "203.0.113.12"},
       {"203.0.113.11", "203.0.113.12"}},
      // IPIP never gets a list (the flags refuse it); the builder leaves extras out anyway.
      {net::overlay_type::ipip, {"203.0.113.10", "203.0.113.11"}, {}},
  };
  for (const auto& r : rows) {
    auto s = tunnel_settings();
    s.overlay_type = r.type;
    for (const auto* v : r.vteps)
      s.remote_vteps.push_back(ip(v));
    auto spec = build_tunnel_spec(entry_a, s);
    std::vector<std::string> got;
    for (const auto& v : spec.extra_remotes)
      got.push_back(v.to_string());
    std::vector<std::string> want(r.extra.begin(), r.extra.end());
    BOOST_TEST_CONTEXT(net::flag_name(r.type) << " " << r.vteps.size() << " VTEPs") {
      BOOST_TEST(spec.remote.to_string() == "203.0.113.10");
      BOOST_TEST(got == want, boost::test_tools::per_element());
      BOOST_TEST(net::validate(spec).empty());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(tunnel_route_only, route_only_fixture)

BOOST_AUTO_TEST_CASE(removes_the_old_tunnel_and_never_builds_one) {
  mgr->leftovers = {"routervxlan0"};
  log_capture log;
  auto t = spawn_tunnel();
  BOOST_TEST(mgr->cleanups == 0); // waits for its entry like any agent
  observe(t, entry_a);
  BOOST_TEST(mgr->cleanups == 1);
  BOOST_TEST(mgr->converges.empty());
  BOOST_TEST(log.count("removed routervxlan0 (route-only mode has no tunnel)") == 1u,
             log.text.str());
  BOOST_TEST(tel->health.readyz().text.find("[+]local tunnel converged") != std::string::npos);
  auto st = ask<tunnel_status>(*this, t, status_atom::value);
  BOOST_TEST(st.node == "node-a");
  BOOST_TEST(st.phase == tunnel_phase::converged);
  // The periodic sync checks again (a tunnel of ours made meanwhile would go); no log when
  // nothing was there.
  advance(settings.tunnel_sync_period);
  BOOST_TEST(mgr->cleanups == 2);
  BOOST_TEST(mgr->converges.empty());
  BOOST_TEST(log.count("route-only mode has no tunnel") == 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_removal_is_reported_and_retried) {
  mgr->cleanup_error = net::tunnel_error{net::tunnel_errc::netlink_error, "injected failure"};
  auto t = spawn_tunnel();
  observe(t, entry_a);
  BOOST_TEST(mgr->cleanups == 1);
  BOOST_TEST(tel->health.readyz().text.find("[-]local tunnel converged") != std::string::npos);
  BOOST_TEST_REQUIRE(events->size() == 1u);
  BOOST_TEST(events->front().reason == "TunnelFailed");
  mgr->cleanup_error.reset();
  advance(settings.backoff_initial); // retryable: backoff, then success
  BOOST_TEST(mgr->cleanups == 2);
  BOOST_TEST(tel->health.readyz().text.find("[+]local tunnel converged") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
