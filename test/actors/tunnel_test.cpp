// The tunnel spec builder (table), the own-Node entry (table) and the local tunnel actor driven
// directly: status transitions, convergence from its entry, coalescing, periodic sync, backoff.
#include <boost/test/unit_test.hpp>
#include <prometheus/metric_family.h>

#include "actors/telemetry.hpp"
#include "actors/tunnel.hpp"
#include "actors/tunnel_spec_builder.hpp"
#include "fake_tunnel_manager.hpp"
#include "tunnel_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace kcr::test;

BOOST_AUTO_TEST_SUITE(tunnel_spec_builder_suite)

BOOST_AUTO_TEST_CASE(builds_the_spec_from_entry_and_settings) {
  const auto entry = make_entry("node-a", "198.51.100.7", "192.168.254.3");
  auto vxlan = tunnel_settings();
  auto named = tunnel_settings();
  named.tunnel_interface = "kcr0";
  named.tunnel_mtu = 1400;
  named.remote_vtep_mac = net::mac_address::parse("02:00:00:00:00:fe");
  auto ipip = tunnel_settings();
  ipip.overlay_type = net::overlay_type::ipip;
  ipip.remote_vtep_mac = net::mac_address::parse("02:00:00:00:00:fe"); // ignored for IPIP
  auto foreign_mac = entry;
  foreign_mac.mac = net::mac_address::parse("02:aa:bb:cc:dd:ee");

  struct row {
    const char* what;
    kube::node_entry entry;
    controller_settings settings;
    net::tunnel_spec want;
  };
  net::tunnel_spec base;
  base.type = net::overlay_type::vxlan;
  base.name = "routervxlan0";
  base.vni = 42;
  base.port = 4789;
  base.local = ip("198.51.100.7");
  base.remote = ip("203.0.113.10");
  base.overlay = *net::cidr::parse("192.168.254.3/24");
  base.mac = net::mac_address::parse("0a:58:c0:a8:fe:03");

  auto with_name = base;
  with_name.name = "kcr0";
  with_name.mtu = 1400;
  with_name.endpoint_neighbour =
      net::static_neighbour{ip("192.168.254.254"), *net::mac_address::parse("02:00:00:00:00:fe")};
  auto ipip_spec = base;
  ipip_spec.type = net::overlay_type::ipip;
  ipip_spec.name = "routertun0";
  ipip_spec.vni = 0;
  ipip_spec.port = net::default_vxlan_port;
  ipip_spec.mac.reset();
  auto foreign = base;
  foreign.mac = net::mac_address::parse("02:aa:bb:cc:dd:ee");

  const std::vector<row> rows = {
      {"vxlan defaults", entry, vxlan, base},
      {"name, mtu, endpoint neighbour", entry, named, with_name},
      {"ipip: no vni/port/mac/neighbour", entry, ipip, ipip_spec},
      {"explicit entry mac", foreign_mac, vxlan, foreign},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      const auto got = build_tunnel_spec(r.entry, r.settings);
      BOOST_TEST((got.type == r.want.type));
      BOOST_TEST(got.name == r.want.name);
      BOOST_TEST(got.vni == r.want.vni);
      BOOST_TEST(got.port == r.want.port);
      BOOST_TEST(got.local == r.want.local);
      BOOST_TEST(got.remote == r.want.remote);
      BOOST_TEST(got.overlay == r.want.overlay);
      BOOST_TEST((got.mac == r.want.mac));
      BOOST_TEST((got.mtu == r.want.mtu));
      BOOST_TEST((got.endpoint_neighbour == r.want.endpoint_neighbour));
      BOOST_TEST((got == r.want));
      BOOST_TEST(net::validate(got).empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(own_entry_from_the_node_and_its_annotation) {
  const auto settings = tunnel_settings(); // 192.168.254.0/24, EndpointIP .254
  auto node = [](std::optional<std::string> annotation, bool with_ip = true) {
    kube::node_info n;
    n.name = "node-a";
    n.uid = "uid-node-a";
    if (with_ip)
      n.underlay_ip = ip("198.51.100.7");
    n.pod_cidrs = {*net::cidr::parse("10.244.1.0/24")};
    if (annotation)
      n.annotations[overlay_ip_annotation] = *annotation;
    return n;
  };
  auto good = own_entry(node("192.168.254.3"), settings);
  BOOST_TEST_REQUIRE(good.entry.has_value());
  BOOST_TEST((*good.entry == make_entry("node-a", "198.51.100.7", "192.168.254.3")));
  BOOST_TEST(good.entry->effective_mac().to_string() == "0a:58:c0:a8:fe:03");
  BOOST_TEST(good.problem.empty());

  struct row {
    const char* what;
    std::optional<std::string> annotation;
    bool with_ip;
    bool invalid;
    const char* says;
  };
  const std::vector<row> rows = {
      {"missing: wait", std::nullopt, true, false, "has no annotation"},
      {"outside the network", "10.0.0.1", true, true, "outside the overlay network"},
      {"garbage", "not-an-ip", true, true, "is not an IPv4 address"},
      {"IPv6", "fd00::1", true, true, "is not an IPv4 address"},
      {"network address", "192.168.254.0", true, true, "network or broadcast"},
      {"broadcast address", "192.168.254.255", true, true, "network or broadcast"},
      {"the device's", "192.168.254.254", true, true, "EndpointIP"},
      {"no underlay IP: wait", "192.168.254.3", false, false, "no usable InternalIP"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      auto got = own_entry(node(r.annotation, r.with_ip), settings);
      BOOST_TEST(!got.entry.has_value());
      BOOST_TEST(got.invalid == r.invalid);
      BOOST_TEST(got.problem.find(r.says) != std::string::npos, got.problem);
      BOOST_TEST(got.problem.find("node-a") != std::string::npos, got.problem);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

struct tunnel_fixture : actor_fixture {
  controller_settings settings = tunnel_settings();
  std::shared_ptr<fake_tunnel_manager> mgr = std::make_shared<fake_tunnel_manager>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  std::shared_ptr<std::vector<node_event>> events = std::make_shared<std::vector<node_event>>();

  tunnel_actor spawn_tunnel(const std::string& node) {
    tunnel_config cfg{node, std::make_shared<const controller_settings>(settings), mgr, tel,
                      recording_events(*this, events)};
    auto h = track(sys->spawn(tunnel, std::move(cfg)));
    run();
    return h;
  }
  tunnel_status status(const tunnel_actor& h) {
    return ask<tunnel_status>(*this, h, status_atom::value);
  }
  void observe(const tunnel_actor& h, std::optional<kube::node_entry> e) {
    caf::anon_send(h, entry_observed{std::move(e), "7"});
    run();
  }
};

const auto entry_a = make_entry("node-a", "198.51.100.7", "192.168.254.1");

// The value of an unlabelled gauge as a scrape would show it; -1 when absent.
double gauge(const telemetry& tel, const std::string& name) {
  for (const auto& f : tel.metrics.registry()->Collect())
    if (f.name == name && !f.metric.empty())
      return f.metric[0].gauge.value;
  return -1;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(tunnel_actor_suite, tunnel_fixture)

BOOST_AUTO_TEST_CASE(converges_to_its_entry_and_keeps_it_when_it_goes) {
  auto t = spawn_tunnel("node-a");
  BOOST_TEST(status(t) == (tunnel_status{.node = "node-a",
                                         .running = true,
                                         .problem = "",
                                         .phase = tunnel_phase::waiting,
                                         .overlay_ip = "",
                                         .announced = false,
                                         .converges = 0,
                                         .failures = 0,
                                         .observed = 0,
                                         .last_error = ""}));
  advance(settings.tunnel_sync_period);
  BOOST_TEST(mgr->converges.empty()); // nothing to converge to yet
  observe(t, entry_a);
  BOOST_REQUIRE(mgr->converges.size() == 1u);
  BOOST_TEST((mgr->converges[0] == build_tunnel_spec(entry_a, settings)));
  BOOST_TEST(status(t) == (tunnel_status{.node = "node-a",
                                         .running = true,
                                         .problem = "",
                                         .phase = tunnel_phase::converged,
                                         .overlay_ip = "192.168.254.1",
                                         .announced = true,
                                         .converges = 1,
                                         .failures = 0,
                                         .observed = 1,
                                         .last_error = ""}));
  BOOST_TEST(tel->health.readyz().text.find("[+]local tunnel converged") != std::string::npos);
  observe(t, entry_a); // unchanged: nothing to do
  BOOST_TEST(mgr->converges.size() == 1u);
  auto moved = entry_a;
  moved.overlay_ip = ip("192.168.254.5");
  observe(t, moved);
  BOOST_REQUIRE(mgr->converges.size() == 2u);
  BOOST_TEST(mgr->converges[1].overlay.to_string() == "192.168.254.5/24");
  observe(t, std::nullopt); // the annotation is gone: the tunnel stays as it is
  BOOST_TEST(mgr->converges.size() == 2u);
  BOOST_TEST(mgr->cleanups == 0);
  BOOST_TEST(mgr->removes.empty());
  auto kept = status(t);
  BOOST_TEST(kept.phase == tunnel_phase::converged);
  BOOST_TEST(kept.overlay_ip == "192.168.254.5");
  BOOST_TEST(!kept.announced);
  // The periodic sync keeps repairing the last tunnel.
  advance(settings.tunnel_sync_period);
  BOOST_REQUIRE(mgr->converges.size() == 3u);
  BOOST_TEST(mgr->converges[2].overlay.to_string() == "192.168.254.5/24");
  observe(t, moved); // back, unchanged: nothing to do
  BOOST_TEST(mgr->converges.size() == 3u);
}

BOOST_AUTO_TEST_CASE(link_change_converges_immediately_and_bursts_coalesce) {
  auto t = spawn_tunnel("node-a");
  caf::anon_send(t, link_changed{"routervxlan0", "deleted"});
  run();
  BOOST_TEST(mgr->converges.empty()); // nothing published yet
  observe(t, entry_a);
  BOOST_TEST(mgr->converges.size() == 1u);
  caf::anon_send(t, link_changed{"routervxlan0", "deleted"});
  run(); // no time advance needed
  BOOST_TEST(mgr->converges.size() == 2u);
  auto moved = entry_a;
  moved.overlay_ip = ip("192.168.254.6");
  caf::anon_send(t, entry_observed{moved, "9"});
  caf::anon_send(t, link_changed{"routervxlan0", "down"});
  caf::anon_send(t, link_changed{"routervxlan0", "mtu 1450 -> 1500"});
  run();
  BOOST_REQUIRE(mgr->converges.size() == 3u); // one converge for the whole burst
  BOOST_TEST(mgr->converges[2].overlay.to_string() == "192.168.254.6/24");
}

BOOST_AUTO_TEST_CASE(periodic_sync_converges_once_per_period) {
  auto t = spawn_tunnel("node-a");
  observe(t, entry_a);
  BOOST_TEST(mgr->converges.size() == 1u);
  advance(settings.tunnel_sync_period - 1s);
  BOOST_TEST(mgr->converges.size() == 1u);
  advance(1s);
  BOOST_TEST(mgr->converges.size() == 2u);
  advance(settings.tunnel_sync_period);
  BOOST_TEST(mgr->converges.size() == 3u);
}

BOOST_AUTO_TEST_CASE(retryable_failure_backs_off_doubling_and_success_resets) {
  log_capture logs;
  auto t = spawn_tunnel("node-a");
  mgr->fail_next(2, net::tunnel_errc::netlink_error, "RTM_NEWLINK routervxlan0: busy");
  observe(t, entry_a);
  BOOST_TEST(mgr->converges.size() == 1u);
  BOOST_TEST(status(t).phase == tunnel_phase::failed);
  BOOST_TEST(status(t).last_error == "netlink_error: RTM_NEWLINK routervxlan0: busy");
  BOOST_TEST(tel->health.readyz().text.find("[-]local tunnel converged") != std::string::npos);
  advance(settings.backoff_initial - 1ms);
  BOOST_TEST(mgr->converges.size() == 1u);
  advance(1ms); // retry after 500 ms: fails again
  BOOST_TEST(mgr->converges.size() == 2u);
  advance(settings.backoff_initial); // the next retry waits 1 s
  BOOST_TEST(mgr->converges.size() == 2u);
  advance(settings.backoff_initial);
  BOOST_TEST(mgr->converges.size() == 3u);
  auto healed = status(t);
  BOOST_TEST(healed.phase == tunnel_phase::converged);
  BOOST_TEST(healed.converges == 3u);
  BOOST_TEST(healed.failures == 2u);
  BOOST_TEST(healed.last_error == "");
  // One log line and one Event for the same error, whatever the number of attempts.
  BOOST_TEST(logs.count("cannot converge node node-a's tunnel") == 1u);
  BOOST_TEST(events->size() == 1u);
  // Success reset the backoff: the next failure retries after 500 ms again.
  mgr->fail_next(1, net::tunnel_errc::lower_device_not_found, "no link has 198.51.100.7");
  caf::anon_send(t, link_changed{"routervxlan0", "deleted"});
  run();
  BOOST_TEST(mgr->converges.size() == 4u);
  advance(settings.backoff_initial);
  BOOST_TEST(mgr->converges.size() == 5u);
  BOOST_TEST(status(t).phase == tunnel_phase::converged);
  advance(10s); // nothing further until the periodic sync
  BOOST_TEST(mgr->converges.size() == 5u);
}

BOOST_AUTO_TEST_CASE(backoff_is_capped) {
  auto t = spawn_tunnel("node-a");
  mgr->fail_next(100, net::tunnel_errc::netlink_error, "busy");
  observe(t, entry_a);
  // 500 ms, 1 s, 2 s, 4 s, then 4 s (cap) between attempts.
  const std::vector<std::chrono::milliseconds> gaps = {500ms, 1s, 2s, 4s, 4s, 4s};
  size_t want = 1;
  for (auto gap : gaps) {
    advance(gap - 1ms);
    BOOST_TEST(mgr->converges.size() == want);
    advance(1ms);
    BOOST_TEST(mgr->converges.size() == ++want);
  }
}

BOOST_AUTO_TEST_CASE(non_retryable_failure_waits_for_the_periodic_sync) {
  log_capture logs;
  auto t = spawn_tunnel("node-a");
  mgr->fail_next(2, net::tunnel_errc::foreign_interface,
                 "routervxlan0 exists and is not ours (no alias kube-chorus-router)");
  observe(t, entry_a);
  BOOST_TEST(mgr->converges.size() == 1u);
  BOOST_TEST(status(t).phase == tunnel_phase::failed);
  advance(settings.backoff_max);
  advance(settings.backoff_max);
  BOOST_TEST(mgr->converges.size() == 1u); // no retry loop
  advance(settings.tunnel_sync_period - 2 * settings.backoff_max);
  BOOST_TEST(mgr->converges.size() == 2u); // the periodic sync tries again: still failing
  BOOST_TEST(logs.count("cannot converge node node-a's tunnel") == 1u);
  BOOST_TEST(logs.count("routervxlan0 exists and is not ours") == 1u);
  BOOST_REQUIRE(events->size() == 1u);
  BOOST_TEST((*events)[0].node == "node-a");
  BOOST_TEST((*events)[0].uid == "uid-node-a");
  BOOST_TEST((*events)[0].warning);
  BOOST_TEST((*events)[0].reason == "TunnelFailed");
  BOOST_TEST((*events)[0].message.find("foreign_interface") != std::string::npos);
  advance(settings.tunnel_sync_period); // healed (the foreign interface was removed)
  BOOST_TEST(mgr->converges.size() == 3u);
  BOOST_TEST(status(t).phase == tunnel_phase::converged);
  BOOST_TEST(logs.count("after a failure") == 1u);
  // A different error is news: logged and evented again.
  mgr->fail_next(1, net::tunnel_errc::kernel_unsupported, "module ipip missing");
  advance(settings.tunnel_sync_period);
  BOOST_TEST(events->size() == 2u);
  BOOST_TEST(logs.count("cannot converge node node-a's tunnel") == 2u);
}

BOOST_AUTO_TEST_CASE(a_new_entry_retries_a_non_retryable_failure) {
  auto t = spawn_tunnel("node-a");
  mgr->fail_next(1, net::tunnel_errc::invalid_spec, "overlay address is the network address");
  observe(t, entry_a);
  BOOST_TEST(status(t).phase == tunnel_phase::failed);
  auto moved = entry_a;
  moved.overlay_ip = ip("192.168.254.7");
  observe(t, moved);
  BOOST_TEST(mgr->converges.size() == 2u);
  BOOST_TEST(status(t).phase == tunnel_phase::converged);
  BOOST_TEST(status(t).overlay_ip == "192.168.254.7");
}

BOOST_AUTO_TEST_CASE(converge_metrics_are_counted) {
  auto t = spawn_tunnel("node-a");
  observe(t, entry_a); // created
  caf::anon_send(t, link_changed{"routervxlan0", "up"});
  run(); // unchanged
  mgr->fail_next(1, net::tunnel_errc::permission, "EPERM");
  caf::anon_send(t, link_changed{"routervxlan0", "up"});
  run(); // error
  std::string text;
  for (const auto& fam : tel->metrics.registry()->Collect())
    if (fam.name.find("tunnel_converge") != std::string::npos)
      for (const auto& m : fam.metric)
        for (const auto& l : m.label)
          text += l.value + "=" + std::to_string(static_cast<int>(m.counter.value)) + " ";
  BOOST_TEST_MESSAGE("converge metrics: " << text);
  BOOST_TEST(text.find("created=1") != std::string::npos);
  BOOST_TEST(text.find("unchanged=1") != std::string::npos);
  BOOST_TEST(text.find("error=1") != std::string::npos);
}

// A strict effective rp_filter (all=1, interface=0 on a read-only /proc/sys) leaves the tunnel
// converged but is said three ways until it is fixed: one Warning Event naming the sysctl, the
// gauge at 1 and a red /readyz line with the command.
BOOST_AUTO_TEST_CASE(strict_rp_filter_is_an_event_a_metric_and_a_readiness_detail) {
  log_capture logs;
  const std::string rp = "kube_chorus_router_rp_filter_strict";
  const std::string fix = "sysctl -w net.ipv4.conf.routervxlan0.rp_filter=2";
  BOOST_TEST(gauge(*tel, rp) == 0); // the series exists from the start
  auto t = spawn_tunnel("node-a");
  mgr->rp_filter = net::rp_filter_state{1, 0, false};
  observe(t, entry_a);
  BOOST_TEST(status(t).phase == tunnel_phase::converged);
  BOOST_REQUIRE(events->size() == 1u);
  BOOST_TEST((*events)[0].warning);
  BOOST_TEST((*events)[0].reason == "RpFilterStrict");
  BOOST_TEST((*events)[0].uid == "uid-node-a");
  BOOST_TEST((*events)[0].message.find(fix) != std::string::npos, (*events)[0].message);
  BOOST_TEST(gauge(*tel, rp) == 1);
  auto ready = tel->health.readyz();
  BOOST_TEST(!ready.ok);
  BOOST_TEST(ready.text.find("[-]tunnel rp_filter not strict: net.ipv4.conf.all.rp_filter=1 and "
                             "net.ipv4.conf.routervxlan0.rp_filter=0 make it strict") !=
                 std::string::npos,
             ready.text);
  BOOST_TEST(ready.text.find("; on the node run: " + fix) != std::string::npos, ready.text);
  BOOST_TEST(ready.text.find("[+]local tunnel converged") != std::string::npos, ready.text);
  // Still strict at the next syncs: no more Events or warnings.
  advance(settings.tunnel_sync_period);
  advance(settings.tunnel_sync_period);
  BOOST_TEST(mgr->converges.size() == 3u);
  BOOST_TEST(events->size() == 1u);
  BOOST_TEST(logs.count(fix) == 1u);
  // The operator sets the interface to 2 on the node: max(1, 2) is loose.
  mgr->rp_filter = net::rp_filter_state{1, 2, false};
  advance(settings.tunnel_sync_period);
  BOOST_TEST(gauge(*tel, rp) == 0);
  ready = tel->health.readyz();
  BOOST_TEST(ready.ok, ready.text);
  BOOST_TEST(ready.text.find("[+]tunnel rp_filter not strict\n") != std::string::npos, ready.text);
  BOOST_TEST(logs.count("rp_filter is no longer strict (effective 2)") == 1u);
  // Strict again (e.g. the interface was recreated from a strict default): news again.
  mgr->rp_filter = net::rp_filter_state{0, 1, false};
  advance(settings.tunnel_sync_period);
  BOOST_TEST(events->size() == 2u);
  BOOST_TEST(gauge(*tel, rp) == 1);
  BOOST_TEST(!tel->health.readyz().ok);
}

// Unknown (unreadable) or loose values are not strict: ready, gauge 0, no Event.
BOOST_AUTO_TEST_CASE(loose_or_unknown_rp_filter_is_ready) {
  auto t = spawn_tunnel("node-a");
  for (auto rp : {net::rp_filter_state{}, net::rp_filter_state{2, 0, true},
                  net::rp_filter_state{0, 0, true}}) {
    mgr->rp_filter = rp;
    observe(t, entry_a);
    advance(settings.tunnel_sync_period);
    BOOST_TEST(tel->health.readyz().ok, tel->health.readyz().text);
    BOOST_TEST(gauge(*tel, "kube_chorus_router_rp_filter_strict") == 0);
  }
  BOOST_TEST(events->empty());
}

BOOST_AUTO_TEST_SUITE_END()
