// tunnel_state and tunnel_supervisor_state without any actor: each input's step or outbox (what
// the behaviour would send, spawn or arm), as tables of steps against the fake tunnel manager.
// The actor-level tests (tunnel, tunnel_modes, tunnel_supervisor, readiness) cover the sending.
#include <functional>

#include <boost/test/unit_test.hpp>

#include "actors/tunnel.hpp"
#include "actors/tunnel_supervisor.hpp"
#include "fake_tunnel_manager.hpp"
#include "tunnel_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace kcr::test;

namespace {

const auto entry_a = make_entry("node-a", "198.51.100.7", "192.168.254.1");
const auto entry_b = make_entry("node-a", "198.51.100.7", "192.168.254.2");

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

/// The step as one line: Events, then the converge, then the timers.
std::string render(const tunnel_step& step) {
  std::string s;
  auto add = [&s](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  for (const auto& e : step.events)
    add("event:" + e.reason + (e.uid == "uid-node-a" && e.warning ? "" : "(?)"));
  if (step.converge)
    add("converge");
  if (step.retry_after)
    add("retry:" + ms(*step.retry_after));
  if (step.sync_after)
    add("sync:" + ms(*step.sync_after));
  return s;
}

struct tunnel_rig {
  std::shared_ptr<fake_tunnel_manager> mgr = std::make_shared<fake_tunnel_manager>();
  tunnel_state st;
  explicit tunnel_rig(controller_settings s) {
    st.setup(
        {"node-a", std::make_shared<const controller_settings>(std::move(s)), mgr, nullptr, {}});
  }
  /// Kernel calls so far (converges and cleanups).
  size_t calls() const { return mgr->converges.size() + static_cast<size_t>(mgr->cleanups); }
};

using tunnel_input = std::function<tunnel_step(tunnel_rig&)>;
struct tunnel_row {
  tunnel_input in;
  std::string sent; // render() of the step
  size_t calls = 0; // kernel calls after the step
};

tunnel_input observe(std::optional<kube::node_entry> e) {
  return [e](tunnel_rig& r) { return r.st.on_observed(entry_observed{e, "1"}); };
}
const tunnel_input converge = [](tunnel_rig& r) { return r.st.on_converge(); };
const tunnel_input link = [](tunnel_rig& r) {
  return r.st.on_link_changed(link_changed{"routervxlan0", "down"});
};
const tunnel_input sync = [](tunnel_rig& r) { return r.st.on_sync(); };
const tunnel_input retry = [](tunnel_rig& r) { return r.st.on_retry(); };
const tunnel_input start = [](tunnel_rig& r) { return r.st.start(); };
/// The next `n` converges fail with `code` (no step of its own: renders "").
tunnel_input fail(int n, net::tunnel_errc code, std::string message = "injected failure") {
  return [=](tunnel_rig& r) {
    r.mgr->fail_next(n, code, message);
    return tunnel_step{};
  };
}
/// Every later successful converge reports this rp_filter.
tunnel_input rp_filter(net::rp_filter_state rp) {
  return [=](tunnel_rig& r) {
    r.mgr->rp_filter = rp;
    return tunnel_step{};
  };
}

struct tunnel_scenario {
  const char* name;
  std::vector<tunnel_row> rows;
  net::overlay_type type = net::overlay_type::vxlan;
};

using errc = net::tunnel_errc;

const std::vector<tunnel_scenario> tunnel_scenarios = {
    {"Run arms the periodic sync", {{start, "sync:60000ms", 0}}},
    {"an entry is one converge",
     {{observe(entry_a), "converge", 0}, {converge, "", 1}, {observe(entry_a), "", 1}}},
    {"two entries before the converge: one converge",
     {{observe(entry_a), "converge", 0}, {observe(entry_b), "", 0}, {converge, "", 1}}},
    {"a link change and a sync while a converge is queued coalesce",
     {{observe(entry_a), "converge", 0},
      {link, "", 0},
      {sync, "sync:60000ms", 0},
      {converge, "", 1},
      {link, "converge", 1},
      {converge, "", 2}}},
    {"a converge without an entry calls nothing",
     {{sync, "converge sync:60000ms", 0}, {converge, "", 0}, {link, "converge", 0}}},
    {"a vanished entry keeps the tunnel",
     {{observe(entry_a), "converge", 0}, {converge, "", 1}, {observe(std::nullopt), "", 1}}},
    {"a retryable failure retries after the backoff, doubling, reset by a success",
     {{fail(2, errc::netlink_error), "", 0},
      {observe(entry_a), "converge", 0},
      {converge, "event:TunnelFailed retry:500ms", 1},
      {retry, "converge", 1},
      {converge, "retry:1000ms", 2}, // the same error: no second Event
      {retry, "converge", 2},
      {converge, "", 3},
      {fail(1, errc::lower_device_not_found), "", 3},
      {link, "converge", 3},
      {converge, "event:TunnelFailed retry:500ms", 4}}},
    {"a non-retryable failure arms no retry; the sync tries again",
     {{fail(2, errc::permission), "", 0},
      {observe(entry_a), "converge", 0},
      {converge, "event:TunnelFailed", 1},
      {sync, "converge sync:60000ms", 1},
      {converge, "", 2}, // the same error twice: one Event
      {sync, "converge sync:60000ms", 2},
      {converge, "", 3}}},
    {"a retry already armed is not armed twice",
     {{fail(3, errc::netlink_error), "", 0},
      {observe(entry_a), "converge", 0},
      {converge, "event:TunnelFailed retry:500ms", 1},
      {link, "converge", 1},
      {converge, "", 2},
      {retry, "converge", 2},
      {converge, "retry:1000ms", 3}}},
    {"a retry after a recovery converges nothing",
     {{fail(1, errc::netlink_error), "", 0},
      {observe(entry_a), "converge", 0},
      {converge, "event:TunnelFailed retry:500ms", 1},
      {link, "converge", 1},
      {converge, "", 2},
      {retry, "", 2}}},
    {"a strict rp_filter is one Event until it changes",
     {{rp_filter({1, 0, false}), "", 0},
      {observe(entry_a), "converge", 0},
      {converge, "event:RpFilterStrict", 1},
      {link, "converge", 1},
      {converge, "", 2},
      {rp_filter({0, 2, true}), "", 2},
      {link, "converge", 2},
      {converge, "", 3},
      {rp_filter({1, 1, true}), "", 3},
      {link, "converge", 3},
      {converge, "event:RpFilterStrict", 4}}},
    {"route-only: a converge removes our tunnels (no spec converged)",
     {{observe(entry_a), "converge", 0}, {converge, "", 1}, {sync, "converge sync:60000ms", 1}},
     net::overlay_type::none},
};

} // namespace

BOOST_AUTO_TEST_SUITE(tunnel_state_suite)

BOOST_AUTO_TEST_CASE(each_input_returns_what_to_send) {
  for (const auto& sc : tunnel_scenarios) {
    auto s = tunnel_settings();
    s.overlay_type = sc.type;
    tunnel_rig r{s};
    for (size_t i = 0; i < sc.rows.size(); ++i) {
      BOOST_TEST_CONTEXT(sc.name << ", row " << i) {
        auto step = sc.rows[i].in(r);
        BOOST_TEST(render(step) == sc.rows[i].sent);
        BOOST_TEST(step.empty() == sc.rows[i].sent.empty());
        BOOST_TEST(r.calls() == sc.rows[i].calls);
      }
    }
    if (sc.type == net::overlay_type::none) {
      BOOST_TEST(r.mgr->converges.empty());
      BOOST_TEST(r.mgr->cleanups == 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_queued_converge_uses_the_latest_entry) {
  tunnel_rig r{tunnel_settings()};
  r.st.on_observed({entry_a, "1"});
  r.st.on_observed({entry_b, "2"});
  r.st.on_converge();
  BOOST_REQUIRE(r.mgr->converges.size() == 1u);
  BOOST_TEST(r.mgr->converges[0].overlay.to_string() == "192.168.254.2/24");
  auto s = r.st.status();
  BOOST_TEST((s.phase == tunnel_phase::converged));
  BOOST_TEST(s.observed == 2u);
}

BOOST_AUTO_TEST_CASE(a_failure_is_said_in_the_event_and_the_status) {
  tunnel_rig r{tunnel_settings()};
  r.mgr->fail_next(1, errc::permission, "EPERM");
  r.st.on_observed({entry_a, "1"});
  auto step = r.st.on_converge();
  BOOST_REQUIRE(step.events.size() == 1u);
  BOOST_TEST(step.events[0].node == "node-a");
  BOOST_TEST(step.events[0].message == "tunnel routervxlan0: permission: EPERM");
  auto s = r.st.status();
  BOOST_TEST((s.phase == tunnel_phase::failed));
  BOOST_TEST(s.last_error == "permission: EPERM");
  BOOST_TEST(s.failures == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// The outbox as one line: Events, the spawn, then the local actor's messages.
std::string render(const tunnel_supervisor_outbox& out) {
  std::string s;
  auto add = [&s](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  for (const auto& e : out.events)
    add("event:" + e.reason);
  if (out.spawn_local)
    add("spawn");
  for (const auto& m : out.to_local) {
    if (const auto* o = std::get_if<entry_observed>(&m))
      add("entry:" + (o->entry ? o->entry->overlay_ip.to_string() : std::string("none")) + "@" +
          o->resource_version);
    else
      add("link:" + std::get<link_changed>(m).interface);
  }
  return s;
}

using supervisor_input = std::function<tunnel_supervisor_outbox(tunnel_supervisor_state&)>;
struct supervisor_row {
  supervisor_input in;
  std::string sent; // render() of the outbox
};

supervisor_input own(std::optional<std::string> annotation, std::string rv = "1") {
  return [=](tunnel_supervisor_state& st) {
    return st.on_own_node(test::own_node(annotation, false, rv));
  };
}
const supervisor_input node_gone = [](tunnel_supervisor_state& st) {
  return st.on_own_node(own_node_observed{});
};
const supervisor_input link_change = [](tunnel_supervisor_state& st) {
  return st.on_link_changed(link_changed{"routervxlan0", "down"});
};
const supervisor_input local_died = [](tunnel_supervisor_state& st) {
  return st.on_local_down("killed");
};

struct supervisor_scenario {
  const char* name;
  std::vector<supervisor_row> rows;
};

const std::vector<supervisor_scenario> supervisor_scenarios = {
    {"no annotation yet: no actor, nothing sent", {{own(std::nullopt), ""}, {link_change, ""}}},
    {"the first entry spawns the actor and tells it",
     {{own("192.168.254.3"), "spawn entry:192.168.254.3@1"},
      {own("192.168.254.3", "2"), ""}, // heartbeats: nothing for the tunnel
      {link_change, "link:routervxlan0"},
      {own("192.168.254.4", "3"), "entry:192.168.254.4@3"}}},
    {"a gone annotation is told once; its return is told again",
     {{own("192.168.254.3"), "spawn entry:192.168.254.3@1"},
      {own(std::nullopt, "2"), "entry:none@2"},
      {own(std::nullopt, "3"), ""},
      {own("192.168.254.3", "4"), "entry:192.168.254.3@4"}}},
    {"a gone Node is told once",
     {{own("192.168.254.3"), "spawn entry:192.168.254.3@1"},
      {node_gone, "entry:none@1"},
      {node_gone, ""}}},
    {"an invalid annotation: one Event per distinct value, nothing told",
     {{own("192.168.254.3"), "spawn entry:192.168.254.3@1"},
      {own("10.9.9.9", "2"), "event:OverlayAnnotationInvalid"},
      {own("10.9.9.9", "3"), ""},
      {own("not-an-ip", "4"), "event:OverlayAnnotationInvalid"},
      {own("192.168.254.3", "5"), ""}}}, // the entry the actor has: nothing new
    {"an invalid first annotation spawns nothing",
     {{own("10.9.9.9"), "event:OverlayAnnotationInvalid"}, {link_change, ""}}},
    {"a dead local actor is respawned with the last entry, also after the annotation went",
     {{own("192.168.254.3"), "spawn entry:192.168.254.3@1"},
      {local_died, "spawn entry:192.168.254.3@1"},
      {own(std::nullopt, "5"), "entry:none@5"},
      {local_died, "spawn entry:192.168.254.3@5"},
      {link_change, "link:routervxlan0"}}},
};

struct supervisor_rig {
  tunnel_supervisor_state st;
  supervisor_rig() {
    st.settings = std::make_shared<const controller_settings>(tunnel_settings("node-a"));
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(tunnel_supervisor_state_suite)

BOOST_AUTO_TEST_CASE(each_input_returns_what_to_do) {
  for (const auto& sc : supervisor_scenarios) {
    supervisor_rig r;
    for (size_t i = 0; i < sc.rows.size(); ++i) {
      BOOST_TEST_CONTEXT(sc.name << ", row " << i) {
        auto out = sc.rows[i].in(r.st);
        BOOST_TEST(render(out) == sc.rows[i].sent);
        BOOST_TEST(out.empty() == sc.rows[i].sent.empty());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(it_answers_status_itself_until_there_is_an_actor) {
  supervisor_rig r;
  r.st.on_own_node(own_node(std::nullopt));
  auto own_answer = r.st.own_tunnel_status();
  BOOST_REQUIRE(own_answer);
  BOOST_TEST(!own_answer->running);
  BOOST_TEST(own_answer->node == "node-a");
  BOOST_TEST(own_answer->problem ==
             std::string{"Node node-a has no annotation "} + overlay_ip_annotation +
                 " yet (the publisher writes it once the node is published)");
  r.st.on_own_node(own_node("192.168.254.3"));
  BOOST_TEST(!r.st.own_tunnel_status()); // the local actor answers now
  auto s = r.st.status();
  BOOST_TEST(s.observed_sent == 1u);
  BOOST_TEST(s.refused == 0u);
  r.st.on_local_down("killed");
  BOOST_TEST(r.st.status().respawns == 1u);
  BOOST_TEST(r.st.status().observed_sent == 1u); // a respawn's entry is not a new observation
}

BOOST_AUTO_TEST_SUITE_END()
