// The converge steps one at a time (net/netlink_steps.hpp), each in a fresh network namespace
// with a veth underlay (198.51.100.10/24 on ul0): each step writes only what differs in its own
// kernel object, one request per difference, and converge runs them in a fixed order.
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "net/netlink_steps.hpp"
#include "test/net/netns_fixture.hpp"
#include "test/net/tunnel_node.hpp"

using namespace kcr::net;
using namespace kcr::test;

BOOST_TEST_GLOBAL_FIXTURE(require_root);

namespace {

// The test node (test/net/tunnel_node.hpp) with a route socket in its namespace.
struct node : node_ns {
  nl::sock_ptr sk;
  void open_socket() {
    auto s = nl::open_route_socket();
    BOOST_TEST_REQUIRE(s.ok());
    sk = std::move(s.value());
  }
  link_request want(const tunnel_spec& spec) {
    auto lower = steps::resolve_lower(sk.get(), spec);
    BOOST_TEST_REQUIRE(lower.ok());
    return make_link_request(spec, lower->ifindex, lower->mtu);
  }
  tunnel_state observed() {
    auto link = nl::get_link(sk.get(), "routervxlan0");
    BOOST_TEST_REQUIRE((link.ok() && link.value()));
    auto st = steps::observe(sk.get(), link.value().get());
    BOOST_TEST_REQUIRE(st.ok());
    return st.value();
  }
};

// One step's report: a fresh context over the node's socket.
struct step_run {
  converge_report rep;
  nl::writer w;
  steps::context cx;
  explicit step_run(nl_sock* sk) : w(sk, rep.netlink_writes), cx{sk, w, rep} {
    rep.interface = "routervxlan0";
  }
};

// Converged, then drifted in three objects: MTU, an extra address, a stray FDB entry.
void converge_and_drift(node& n, tunnel_manager& m) {
  BOOST_TEST_REQUIRE(m.converge(node_spec()).ok());
  n.ns.must("ip link set routervxlan0 mtu 1300 && ip addr add 10.9.9.9/24 dev routervxlan0 && "
            "bridge fdb append 00:00:00:00:00:00 dev routervxlan0 dst 198.51.100.99");
}

std::vector<std::string> prefixed(std::vector<std::string> texts) {
  for (auto& t : texts)
    t = "routervxlan0: " + t;
  return texts;
}

} // namespace

BOOST_AUTO_TEST_SUITE(converge_steps)

// From nothing: one request per kernel object (the create, one attribute change, the address,
// the FDB entry, the neighbour; rp_filter is a sysctl), reported in step order.
BOOST_AUTO_TEST_CASE(converge_from_nothing_runs_the_steps_in_order) {
  node n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m;
  auto r = m.converge(node_spec());
  BOOST_TEST_REQUIRE(r.ok(), (r.ok() ? "" : r.error().message));
  BOOST_TEST(r->netlink_writes == 5);
  const auto expected =
      prefixed({"created vxlan on ul0 local 198.51.100.10 VNI 42 port 4789", "link set up",
                "added address 192.168.254.1/24", "added FDB 00:00:00:00:00:00 dst 198.51.100.1",
                "neighbour 192.168.254.254 lladdr 0a:58:c0:a8:fe:fe permanent"});
  BOOST_TEST_REQUIRE(r->changes.size() == expected.size() + 1);
  for (size_t i = 0; i < expected.size(); ++i)
    BOOST_TEST(r->changes[i] == expected[i]);
  // The namespace's initial rp_filter is the kernel's default; the step makes it 2.
  BOOST_TEST(r->changes.back().rfind("routervxlan0: rp_filter ", 0) == 0, r->changes.back());
  BOOST_TEST(r->changes.back().find(" -> 2") != std::string::npos, r->changes.back());
}

// Drift in three objects at once; each step alone repairs only its own, with one write, and
// finds nothing to do afterwards.
BOOST_AUTO_TEST_CASE(each_step_writes_only_its_own_drift) {
  node n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m;
  converge_and_drift(n, m);
  n.open_socket();
  const tunnel_spec spec = node_spec();
  const link_request want = n.want(spec);
  struct row {
    const char* step;
    int writes;
    const char* change; // "" for none
  };
  const row rows[] = {
      {"attributes", 1, "mtu 1300 -> 1450"},
      {"addresses", 1, "removed address 10.9.9.9/24"},
      {"fdb", 1, "removed FDB 00:00:00:00:00:00 dst 198.51.100.99"},
      {"neighbour", 0, ""},
  };
  auto run_step = [&](const std::string& step, steps::context& cx, const tunnel_state& cur) {
    auto link = nl::get_link(cx.sk, "routervxlan0");
    BOOST_TEST_REQUIRE((link.ok() && link.value()));
    steps::step_error err;
    if (step == "attributes")
      err = steps::converge_attributes(cx, link.value().get(), cur, want);
    else if (step == "addresses")
      err = steps::converge_addresses(cx, cur, spec.overlay);
    else if (step == "fdb")
      err = steps::converge_fdb(cx, cur, spec);
    else
      err = steps::converge_neighbour(cx, cur, spec);
    BOOST_TEST_REQUIRE(!err.has_value(), (err ? err->message : ""));
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("step " << r.step) {
      step_run first(n.sk.get());
      run_step(r.step, first.cx, n.observed());
      BOOST_TEST(first.rep.netlink_writes == r.writes);
      const auto want_changes = *r.change ? prefixed({r.change}) : std::vector<std::string>{};
      BOOST_TEST(first.rep.changes == want_changes, boost::test_tools::per_element());
      step_run again(n.sk.get());
      run_step(r.step, again.cx, n.observed());
      BOOST_TEST(again.rep.netlink_writes == 0);
      BOOST_TEST(again.rep.changes.empty());
    }
  }
  BOOST_TEST(m.converge(spec)->netlink_writes == 0);
}

// The whole converge over the same drift: the same writes, reported in step order.
BOOST_AUTO_TEST_CASE(converge_repairs_several_objects_in_step_order) {
  node n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m;
  converge_and_drift(n, m);
  auto r = m.converge(node_spec());
  BOOST_TEST_REQUIRE(r.ok(), (r.ok() ? "" : r.error().message));
  BOOST_TEST(r->netlink_writes == 3);
  BOOST_TEST(r->changes == prefixed({"mtu 1300 -> 1450", "removed address 10.9.9.9/24",
                                     "removed FDB 00:00:00:00:00:00 dst 198.51.100.99"}),
             boost::test_tools::per_element());
}

// The link step: a creation-time attribute that differs means delete and create (two writes);
// a link without our mark is refused before any write.
BOOST_AUTO_TEST_CASE(the_link_step_recreates_ours_and_refuses_a_foreign_one) {
  node n;
  enter_netns in(n.ns);
  netlink_tunnel_manager m;
  BOOST_TEST_REQUIRE(m.converge(node_spec()).ok());
  n.open_socket();
  tunnel_spec spec = node_spec();
  spec.vni = 43;
  step_run recreate(n.sk.get());
  auto link = steps::converge_link(recreate.cx, n.want(spec), "ul0");
  BOOST_TEST_REQUIRE(link.ok(), (link.ok() ? "" : link.error().message));
  BOOST_TEST(link.value() != nullptr);
  BOOST_TEST(recreate.rep.created);
  BOOST_TEST(recreate.rep.netlink_writes == 2);
  BOOST_TEST(recreate.rep.changes ==
                 prefixed({"deleted to recreate (VNI 42 -> 43)",
                           "created vxlan on ul0 local 198.51.100.10 VNI 43 port 4789"}),
             boost::test_tools::per_element());
  BOOST_TEST(n.observed().vni == 43u);

  n.ns.must("ip link del routervxlan0 && ip link add routervxlan0 type vxlan id 43 dstport 4789 "
            "local 198.51.100.10 dev ul0");
  step_run refuse(n.sk.get());
  auto foreign = steps::converge_link(refuse.cx, n.want(spec), "ul0");
  BOOST_TEST_REQUIRE(!foreign.ok());
  BOOST_TEST(foreign.error().code == tunnel_errc::foreign_interface);
  BOOST_TEST(refuse.rep.netlink_writes == 0);
  BOOST_TEST(refuse.rep.changes.empty());
}

BOOST_AUTO_TEST_SUITE_END()
