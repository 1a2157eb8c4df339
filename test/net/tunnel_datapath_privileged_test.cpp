// Data path against a real peer, the Linux kernel: a node namespace (with a
// pod namespace behind bridge cni0 holding 10.244.1.0/24) and an external
// device namespace joined by a veth underlay. The node's VXLAN comes from
// netlink_tunnel_manager::converge; the device is set up with plain
// `ip`/`bridge`. Ping and TCP from the device to the pod must work, and must
// stop working after cleanup().
#include <chrono>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "net/netlink_tunnel.hpp"
#include "test/net/netns_fixture.hpp"

using namespace kcr::net;
using namespace kcr::test;
using namespace std::chrono_literals;

BOOST_TEST_GLOBAL_FIXTURE(require_root);

namespace {

// Serves "hello-from-pod" to every connection on 10.244.1.10:8080.
const char* listener = R"(
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.244.1.10", 8080))
s.listen(8)
while True:
    c, _ = s.accept()
    c.sendall(b"hello-from-pod\n")
    c.close()
)";

// Exit 0 when the pod answered within 3 s.
const char* client = "import socket,sys\n"
                     "s=socket.create_connection((\"10.244.1.10\",8080),timeout=3)\n"
                     "sys.exit(0 if s.recv(64)==b\"hello-from-pod\\n\" else 1)\n";

struct topology {
  netns node, pod, dev;
  topology() {
    // Underlay: node ul0 198.51.100.10 <-> device ul1 198.51.100.1.
    node.must("ip link add ul0 type veth peer name ul1 netns " + dev.name());
    node.must("ip addr add 198.51.100.10/24 dev ul0 && ip link set ul0 up");
    dev.must("ip addr add 198.51.100.1/24 dev ul1 && ip link set ul1 up");
    // Pod network on the node: bridge cni0 with the pod CIDR gateway.
    node.must("ip link add cni0 type bridge && ip addr add 10.244.1.1/24 dev cni0 && "
              "ip link set cni0 up");
    node.must("ip link add vethpod type veth peer name eth0 netns " + pod.name());
    node.must("ip link set vethpod master cni0 && ip link set vethpod up");
    pod.must("ip addr add 10.244.1.10/24 dev eth0 && ip link set eth0 up && "
             "ip route add default via 10.244.1.1");
    node.must("echo 1 > /proc/sys/net/ipv4/ip_forward");
    // The device's side, as a vendor would configure it from the ConfigMap.
    dev.must("ip link add vx0 type vxlan id 42 dstport 4789 local 198.51.100.1 dev ul1 nolearning");
    dev.must("ip link set vx0 address 0a:58:c0:a8:fe:fe && "
             "ip addr add 192.168.254.254/24 dev vx0 && ip link set vx0 up");
    dev.must("bridge fdb append 00:00:00:00:00:00 dev vx0 dst 198.51.100.10");
    dev.must("ip neigh add 192.168.254.1 lladdr 0a:58:c0:a8:fe:01 dev vx0 nud permanent");
    dev.must("ip route add 10.244.1.0/24 via 192.168.254.1");
  }
};

tunnel_spec node_spec() {
  tunnel_spec s;
  s.vni = 42;
  s.port = 4789;
  s.local = *ip_address::parse("198.51.100.10");
  s.remote = *ip_address::parse("198.51.100.1");
  s.overlay = *cidr::parse("192.168.254.1/24");
  s.endpoint_neighbour = static_neighbour{*ip_address::parse("192.168.254.254"),
                                          *mac_address::parse("0a:58:c0:a8:fe:fe")};
  return s;
}

bool listening(const netns& ns) {
  for (int i = 0; i < 50; ++i) {
    if (ns.out("ss -ltnH").find("10.244.1.10:8080") != std::string::npos)
      return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

int tcp_from_device(const topology& t) {
  return run(t.dev.prefix() + "/usr/bin/python3 -c '" + client + "' 2>/dev/null");
}

} // namespace

BOOST_AUTO_TEST_CASE(device_reaches_pod_through_the_converged_vxlan) {
  topology t;
  background server(t.pod, {"/usr/bin/python3", "-c", listener});
  BOOST_TEST_REQUIRE(listening(t.pod), "pod listener did not start");
  {
    enter_netns in(t.node);
    netlink_tunnel_manager m;
    // Before the tunnel exists nothing gets through.
    BOOST_TEST(t.dev.exec("ping -c 1 -W 1 10.244.1.10 >/dev/null") != 0);

    auto r = m.converge(node_spec());
    BOOST_TEST_REQUIRE(r.ok(), (r.ok() ? tunnel_error{} : r.error()));
    BOOST_TEST(r->created);

    BOOST_TEST(t.dev.exec("ping -c 3 -W 1 -i 0.2 10.244.1.10") == 0, "ping device -> pod failed");
    BOOST_TEST(tcp_from_device(t) == 0, "TCP device -> pod failed");
    // Traffic made no drift: converging again writes nothing.
    BOOST_TEST(m.converge(node_spec())->netlink_writes == 0);

    auto c = m.cleanup();
    BOOST_TEST_REQUIRE(c.ok());
    BOOST_TEST(c->removed.size() == 1u);
    BOOST_TEST(t.dev.exec("ping -c 2 -W 1 -i 0.2 10.244.1.10 >/dev/null") != 0,
               "ping still works after cleanup");
    BOOST_TEST(tcp_from_device(t) != 0, "TCP still works after cleanup");
  }
}
