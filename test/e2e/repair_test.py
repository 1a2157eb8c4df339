"""e2e: the tunnel interface deleted by hand on a node -> reachable again within 1 s."""

from e2e_common import all_reachable, check, cl, run, timed


def body(c):
    all_reachable(c)
    cl.netns.ip(c.node_ns(2), "link", "del", "routervxlan0")
    took = timed(lambda: c.tcp_ok(2, 0.1), 1, "pod-2 reachable again")
    back = cl.netns.ip(c.node_ns(2), "link", "show", "routervxlan0", check=False).returncode == 0
    print(f"     routervxlan0 deleted on node-2; pod-2 reachable again after {took * 1000:.0f} ms")
    check(back and took <= 1, f"pod-2 reachable again within 1 s ({took:.3f} s)")
    all_reachable(c, timeout=1)


run(body, tag="e2rep")
