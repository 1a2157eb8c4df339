// Privileged tests of netlink_tunnel_manager: each case runs in a fresh network namespace with a
// veth underlay (198.51.100.10/24 on ul0). The link monitor's are in
// link_monitor_privileged_test.cpp.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "net/netlink_tunnel.hpp"
#include "test/net/netns_fixture.hpp"
#include "test/net/tunnel_check.hpp"
#include "test/net/tunnel_node.hpp"

using namespace kcr::net;
using namespace kcr::test;

BOOST_TEST_GLOBAL_FIXTURE(require_root);

namespace {

void check_converged(const netns& ns) {
  observed o = observe(ns, vx);
  BOOST_TEST_REQUIRE(o.exists);
  BOOST_TEST(o.kind == "vxlan");
  BOOST_TEST(o.alias == "kube-chorus-router");
  BOOST_TEST(o.vni == 42);
  BOOST_TEST(o.port == 4789);
  BOOST_TEST(o.local == "198.51.100.10");
  BOOST_TEST(o.lower == "ul0");
  BOOST_TEST(o.mtu == 1450);
  BOOST_TEST(o.mac == "0a:58:c0:a8:fe:01");
  BOOST_TEST(o.up);
  BOOST_TEST(o.inet == std::vector<std::string>{"192.168.254.1/24"},
             boost::test_tools::per_element());
  BOOST_TEST(o.fdb_zero == std::vector<std::string>{"198.51.100.1"},
             boost::test_tools::per_element());
  BOOST_TEST(o.perm_neigh == std::vector<std::string>{"192.168.254.254 0a:58:c0:a8:fe:fe"},
             boost::test_tools::per_element());
  BOOST_TEST(o.rp_filter == "2");
}

} // namespace

BOOST_AUTO_TEST_SUITE(tunnel_privileged)

BOOST_AUTO_TEST_CASE(create_from_nothing_then_no_writes) {
  node_ns n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m;
  auto first = must_converge(m, node_spec());
  BOOST_TEST_MESSAGE("first converge: " << first.netlink_writes << " writes "
                                        << changes_text(first));
  BOOST_TEST(first.created);
  BOOST_TEST(first.netlink_writes > 0);
  BOOST_TEST(has_change(first, "created vxlan on ul0"));
  check_converged(n.ns);
  auto second = must_converge(m, node_spec());
  BOOST_TEST(second.netlink_writes == 0);
  BOOST_TEST(second.changes.empty(), changes_text(second));
  BOOST_TEST(!second.created);
  // A fresh manager (new socket) sees the same: nothing to do.
  netlink_tunnel_manager m2;
  BOOST_TEST(must_converge(m2, node_spec()).netlink_writes == 0);
  auto st = m.current_state(vx);
  BOOST_TEST_REQUIRE(st.ok());
  BOOST_TEST_REQUIRE(st.value().has_value());
  BOOST_TEST(st.value()->ours);
  BOOST_TEST(st.value()->vni == 42u);
  BOOST_TEST(st.value()->lower_ifindex > 0);
}

BOOST_AUTO_TEST_CASE(drift_is_repaired) {
  struct row {
    const char* what;
    const char* drift; // shell command run in the namespace
    const char* expect_change;
  };
  const row rows[] = {
      {"address removed", "ip addr del 192.168.254.1/24 dev routervxlan0",
       "added address 192.168.254.1/24"},
      {"extra address", "ip addr add 10.9.9.9/24 dev routervxlan0", "removed address 10.9.9.9/24"},
      {"link down", "ip link set routervxlan0 down", "link set up"},
      {"mtu changed", "ip link set routervxlan0 mtu 1300", "mtu 1300 -> 1450"},
      {"mac changed", "ip link set routervxlan0 address 02:11:22:33:44:55",
       "mac 02:11:22:33:44:55 -> 0a:58:c0:a8:fe:01"},
      {"fdb entry deleted", "bridge fdb del 00:00:00:00:00:00 dev routervxlan0 dst 198.51.100.1",
       "added FDB 00:00:00:00:00:00 dst 198.51.100.1"},
      {"stray fdb entry", "bridge fdb append 00:00:00:00:00:00 dev routervxlan0 dst 198.51.100.99",
       "removed FDB 00:00:00:00:00:00 dst 198.51.100.99"},
      {"neighbour deleted", "ip neigh del 192.168.254.254 dev routervxlan0",
       "neighbour 192.168.254.254 lladdr 0a:58:c0:a8:fe:fe"},
      {"neighbour changed",
       "ip neigh replace 192.168.254.254 lladdr 02:00:00:00:00:01 dev routervxlan0 nud permanent",
       "neighbour 192.168.254.254"},
      {"rp_filter strict", "echo 1 > /proc/sys/net/ipv4/conf/routervxlan0/rp_filter",
       "rp_filter 1 -> 2"},
      {"link deleted", "ip link del routervxlan0", "created vxlan"},
      {"VNI changed (ours)",
       "ip link del routervxlan0 && ip link add routervxlan0 type vxlan id 7 dstport 4789 "
       "local 198.51.100.10 dev ul0 && ip link set routervxlan0 alias kube-chorus-router",
       "deleted to recreate (VNI 7 -> 42)"},
      {"port changed (ours)",
       "ip link del routervxlan0 && ip link add routervxlan0 type vxlan id 42 dstport 8472 "
       "local 198.51.100.10 dev ul0 && ip link set routervxlan0 alias kube-chorus-router",
       "deleted to recreate (port 8472 -> 4789)"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("drift: " << r.what) {
      node_ns n;
      enter_netns in(n.ns);
      netlink_tunnel_manager m;
      must_converge(m, node_spec());
      n.ns.must(r.drift);
      auto rep = must_converge(m, node_spec());
      BOOST_TEST_MESSAGE(r.what << ": " << rep.netlink_writes << " writes " << changes_text(rep));
      BOOST_TEST(has_change(rep, r.expect_change), "changes: " << changes_text(rep));
      // rp_filter is a sysctl, not netlink: reported, but no netlink write.
      if (std::string(r.what) == "rp_filter strict")
        BOOST_TEST(rep.netlink_writes == 0);
      else
        BOOST_TEST(rep.netlink_writes > 0);
      check_converged(n.ns);
      BOOST_TEST(must_converge(m, node_spec()).netlink_writes == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(spec_changes_recreate_or_adapt) {
  node_ns n;
  enter_netns in(n.ns);
  n.ns.must("ip addr add 198.51.100.11/24 dev ul1");
  netlink_tunnel_manager m;
  must_converge(m, node_spec());
  auto s = node_spec();
  s.vni = 43;
  auto rep = must_converge(m, s);
  BOOST_TEST(has_change(rep, "deleted to recreate (VNI 42 -> 43)"), changes_text(rep));
  BOOST_TEST(observe(n.ns, vx).vni == 43);
  // The underlay IP moved to another device: recreated on it.
  s.local = *ip_address::parse("198.51.100.11");
  rep = must_converge(m, s);
  BOOST_TEST(has_change(rep, "local 198.51.100.10 -> 198.51.100.11"), changes_text(rep));
  BOOST_TEST(observe(n.ns, vx).lower == "ul1");
  // New remote VTEP: the FDB follows, the link stays.
  s.remote = *ip_address::parse("198.51.100.2");
  rep = must_converge(m, s);
  BOOST_TEST(!rep.created);
  BOOST_TEST(has_change(rep, "added FDB 00:00:00:00:00:00 dst 198.51.100.2"), changes_text(rep));
  BOOST_TEST(has_change(rep, "removed FDB 00:00:00:00:00:00 dst 198.51.100.1"), changes_text(rep));
  BOOST_TEST(observe(n.ns, vx).fdb_zero == std::vector<std::string>{"198.51.100.2"},
             boost::test_tools::per_element());
  // Explicit MTU and explicit lower device.
  s.mtu = 1400;
  s.lower_device = "ul1";
  rep = must_converge(m, s);
  BOOST_TEST(has_change(rep, "mtu 1450 -> 1400"), changes_text(rep));
  BOOST_TEST(observe(n.ns, vx).mtu == 1400);
  BOOST_TEST(must_converge(m, s).netlink_writes == 0);
}

BOOST_AUTO_TEST_CASE(errors_are_classified) {
  node_ns n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m;
  auto s = node_spec();
  s.local = *ip_address::parse("198.51.100.77"); // nobody holds it
  auto r = m.converge(s);
  BOOST_TEST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().code == tunnel_errc::lower_device_not_found);
  BOOST_TEST(r.error().message.find("198.51.100.77") != std::string::npos, r.error().message);
  s = node_spec();
  s.lower_device = "nosuch0";
  r = m.converge(s);
  BOOST_TEST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().code == tunnel_errc::lower_device_not_found);
  BOOST_TEST(r.error().message.find("nosuch0") != std::string::npos, r.error().message);
  s = node_spec();
  s.vni = 0;
  r = m.converge(s);
  BOOST_TEST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().code == tunnel_errc::invalid_spec);
  BOOST_TEST(r.error().message.find("VNI 0") != std::string::npos, r.error().message);
  BOOST_TEST(!observe(n.ns, vx).exists);
}

BOOST_AUTO_TEST_CASE(foreign_interface_is_left_alone) {
  node_ns n;
  enter_netns in(n.ns);
  n.ns.must("ip link add routervxlan0 type vxlan id 9 dstport 4789 local 198.51.100.10 dev ul0");
  netlink_tunnel_manager m;
  auto r = m.converge(node_spec());
  BOOST_TEST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().code == tunnel_errc::foreign_interface);
  BOOST_TEST(r.error().message.find("routervxlan0") != std::string::npos, r.error().message);
  BOOST_TEST(r.error().message.find("not ours") != std::string::npos, r.error().message);
  BOOST_TEST_MESSAGE("foreign: " << r.error());
  auto c = m.cleanup();
  BOOST_TEST_REQUIRE(c.ok());
  BOOST_TEST(c->removed.empty());
  BOOST_TEST(c->netlink_writes == 0);
  auto rm = m.remove(vx);
  BOOST_TEST_REQUIRE(!rm.ok());
  BOOST_TEST(rm.error().code == tunnel_errc::foreign_interface);
  observed o = observe(n.ns, vx);
  BOOST_TEST(o.exists);
  BOOST_TEST(o.vni == 9);
  BOOST_TEST(o.alias == "");
  BOOST_TEST(o.inet.empty());
  BOOST_TEST(o.fdb_zero.empty());
}

BOOST_AUTO_TEST_CASE(cleanup_removes_ours_only_and_is_idempotent) {
  node_ns n;
  enter_netns in(n.ns);
  n.ns.must("ip link add other0 type vxlan id 77 dstport 4790 local 198.51.100.10 dev ul0");
  netlink_tunnel_manager m;
  must_converge(m, node_spec());
  auto c1 = m.cleanup();
  BOOST_TEST_REQUIRE(c1.ok());
  BOOST_TEST(c1->removed == std::vector<std::string>{vx}, boost::test_tools::per_element());
  BOOST_TEST(c1->netlink_writes == 1);
  BOOST_TEST(!observe(n.ns, vx).exists);
  BOOST_TEST(observe(n.ns, "other0").exists);
  auto c2 = m.cleanup();
  BOOST_TEST_REQUIRE(c2.ok());
  BOOST_TEST(c2->removed.empty());
  BOOST_TEST(c2->netlink_writes == 0);
  BOOST_TEST(observe(n.ns, "other0").exists);
  // Single-interface removal: ours goes, absent is fine.
  must_converge(m, node_spec());
  auto r1 = m.remove(vx);
  BOOST_TEST_REQUIRE(r1.ok());
  BOOST_TEST(r1->removed.size() == 1u);
  auto r2 = m.remove(vx);
  BOOST_TEST_REQUIRE(r2.ok());
  BOOST_TEST(r2->removed.empty());
  BOOST_TEST(r2->netlink_writes == 0);
  auto st = m.current_state(vx);
  BOOST_TEST_REQUIRE(st.ok());
  BOOST_TEST(!st.value().has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// In a container /proc/sys is read-only: rp_filter cannot be set, but the tunnel must still
// converge (with a warning) instead of failing every sync.
BOOST_AUTO_TEST_CASE(read_only_proc_sys_is_a_warning_not_a_failure) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("kcr-ro-sys-" + std::to_string(::getpid()));
  fs::create_directories(dir / "net/ipv4/conf/routervxlan0");
  { std::ofstream(dir / "net/ipv4/conf/routervxlan0/rp_filter") << "0\n"; }
  struct unmount_at_exit {
    fs::path d;
    ~unmount_at_exit() {
      std::system(("umount " + d.string() + " 2>/dev/null").c_str());
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } guard{dir};
  BOOST_TEST_REQUIRE(std::system(("mount --bind " + dir.string() + " " + dir.string() +
                                  " && mount -o remount,ro,bind " + dir.string())
                                     .c_str()) == 0);
  node_ns n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m(dir.string());
  auto first = must_converge(m, node_spec());
  BOOST_TEST(first.created);
  BOOST_TEST_REQUIRE(first.warnings.size() == 1u);
  BOOST_TEST(first.warnings[0].find("read-only") != std::string::npos, first.warnings[0]);
  auto second = must_converge(m, node_spec());
  BOOST_TEST(second.netlink_writes == 0);
  BOOST_TEST(second.changes.empty(), changes_text(second));
  BOOST_TEST(second.warnings == first.warnings, boost::test_tools::per_element());
}

// The effective rp_filter where /proc/sys is read-only, for every all x interface value: the
// tunnel converges, nothing is written, and the report says what the kernel applies (the max;
// 1 = strict, which the tunnel actor turns into an Event, a metric and a readiness detail). The
// values are written through a writable path to the directory the manager sees read-only.
BOOST_AUTO_TEST_CASE(read_only_proc_sys_reports_the_effective_rp_filter) {
  namespace fs = std::filesystem;
  fs::path base = fs::temp_directory_path() / ("kcr-rp-base-" + std::to_string(::getpid()));
  fs::path ro = fs::temp_directory_path() / ("kcr-rp-ro-" + std::to_string(::getpid()));
  fs::create_directories(base / "net/ipv4/conf/all");
  fs::create_directories(base / "net/ipv4/conf/routervxlan0");
  fs::create_directories(ro);
  struct unmount_at_exit {
    fs::path b, r;
    ~unmount_at_exit() {
      std::system(("umount " + r.string() + " 2>/dev/null").c_str());
      std::error_code ec;
      fs::remove_all(r, ec);
      fs::remove_all(b, ec);
    }
  } guard{base, ro};
  BOOST_TEST_REQUIRE(std::system(("mount --bind " + base.string() + " " + ro.string() +
                                  " && mount -o remount,ro,bind " + ro.string())
                                     .c_str()) == 0);
  auto put = [&](const char* iface, int v) {
    std::ofstream(base / "net/ipv4/conf" / iface / "rp_filter") << v << "\n";
  };
  node_ns n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m(ro.string());
  for (int all = 0; all <= 2; ++all)
    for (int iface = 0; iface <= 2; ++iface) {
      BOOST_TEST_CONTEXT("all=" << all << " interface=" << iface) {
        put("all", all);
        put("routervxlan0", iface);
        auto r = must_converge(m, node_spec());
        BOOST_TEST(r.rp_filter.all == all);
        BOOST_TEST(r.rp_filter.interface == iface);
        BOOST_TEST(r.rp_filter.writable == (iface == 2)); // 2 is not rewritten: no write tried
        BOOST_TEST(r.rp_filter.effective() == std::max(all, iface));
        BOOST_TEST(r.rp_filter.strict() == (std::max(all, iface) == 1));
        // Strict is reported through rp_filter alone; a read-only non-strict value is a note.
        BOOST_TEST(r.warnings.size() == (iface != 2 && std::max(all, iface) != 1 ? 1u : 0u),
                   r.warnings.size());
        std::ifstream f(base / "net/ipv4/conf/routervxlan0/rp_filter");
        int now = -1;
        f >> now;
        BOOST_TEST(now == iface); // nothing written
      }
    }
}

// With a writable /proc/sys (the namespace's own), a strict "all" is made harmless by setting the
// interface to 2: the report reads back an effective 2.
BOOST_AUTO_TEST_CASE(writable_proc_sys_makes_strict_all_loose_on_the_tunnel) {
  node_ns n;
  n.ns.must("sysctl -qw net.ipv4.conf.all.rp_filter=1");
  enter_netns in(n.ns);
  netlink_tunnel_manager m;
  auto r = must_converge(m, node_spec());
  BOOST_TEST(r.rp_filter.writable);
  BOOST_TEST(r.rp_filter.all == 1);
  BOOST_TEST(r.rp_filter.interface == 2);
  BOOST_TEST(r.rp_filter.effective() == 2);
  BOOST_TEST(!r.rp_filter.strict());
  BOOST_TEST(r.warnings.empty());
}

// Several device VTEPs (issue 17): one all-zero FDB entry each, a missing one repaired, a VTEP
// dropped from the list removed, and nothing written when nothing drifted.
BOOST_AUTO_TEST_CASE(several_vteps_get_one_fdb_entry_each) {
  node_ns n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m;
  auto s = node_spec();
  s.extra_remotes = {*ip_address::parse("198.51.100.200"), *ip_address::parse("198.51.100.201")};
  auto sorted_fdb = [&] {
    auto v = observe(n.ns, vx).fdb_zero;
    std::sort(v.begin(), v.end());
    return v;
  };
  const std::vector<std::string> three{"198.51.100.1", "198.51.100.200", "198.51.100.201"};
  must_converge(m, s);
  BOOST_TEST(sorted_fdb() == three, boost::test_tools::per_element());
  BOOST_TEST(must_converge(m, s).netlink_writes == 0);

  n.ns.must("bridge fdb del 00:00:00:00:00:00 dev routervxlan0 dst 198.51.100.200");
  auto rep = must_converge(m, s);
  BOOST_TEST(has_change(rep, "added FDB 00:00:00:00:00:00 dst 198.51.100.200"), changes_text(rep));
  BOOST_TEST(rep.netlink_writes == 1);
  BOOST_TEST(sorted_fdb() == three, boost::test_tools::per_element());

  s.extra_remotes.pop_back();
  rep = must_converge(m, s);
  BOOST_TEST(has_change(rep, "removed FDB 00:00:00:00:00:00 dst 198.51.100.201"),
             changes_text(rep));
  BOOST_TEST(!rep.created);
  BOOST_TEST(sorted_fdb() == (std::vector<std::string>{"198.51.100.1", "198.51.100.200"}),
             boost::test_tools::per_element());
}
