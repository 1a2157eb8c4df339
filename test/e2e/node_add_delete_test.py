"""e2e: a 4th node -> reachable within 2 s of its Node being created; a node
deleted -> its entries gone (ConfigMap and device) within 2 s, and its overlay
address goes to the next node added."""
import time

from e2e_common import all_reachable, check, run, timed


def body(c):
    all_reachable(c)
    # Latencies count from just before the Node's POST / DELETE (t0).
    i, t0 = c.add_node(4)
    timed(lambda: c.published(4), 2, "node-4 published")
    pub = time.monotonic() - t0
    timed(lambda: c.tcp_ok(4, 0.2) and c.ping_ok(4, wait=0.5), 2 - pub, "pod-4 reachable")
    reach = time.monotonic() - t0
    print(f"     node-4: published {c.overlay_ip(4)} in {pub * 1000:.0f} ms, "
          f"reachable in {reach * 1000:.0f} ms")
    check(reach <= 2, f"pod-4 reachable within 2 s of the Node ({reach:.3f} s)")

    freed = c.overlay_ip(2)
    t0 = c.delete_node(2, remove_host=False)
    timed(lambda: "Node-198.51.100.12" not in c.cm_data()
          and "Interface-198.51.100.12" not in c.cm_data(), 2, "node-2 entries removed")
    gone = time.monotonic() - t0
    timed(lambda: "10.244.2.0/24" not in c.device_routes(), 2 - gone,
          "device route to 10.244.2.0/24 removed")
    dev = time.monotonic() - t0
    print(f"     node-2 deleted: ConfigMap entries gone in {gone * 1000:.0f} ms, device route "
          f"gone in {dev * 1000:.0f} ms")
    check(dev <= 2, f"node-2's entries gone within 2 s ({dev:.3f} s)")
    c.remove_host(2)

    c.add_node(5)
    timed(lambda: c.published(5), 2, "node-5 published")
    check(c.overlay_ip(5) == freed, f"node-5 gets node-2's freed overlay IP {freed}",
          f"got {c.overlay_ip(5)}")
    all_reachable(c, timeout=2)


run(body, tag="e2add")
