"""Integration 7: health and metrics endpoints of the real binary
(--run-tunnel=false): /healthz 200 from the start, /readyz 200 only once the
nodes are listed (listing is refused with 403 until the ServiceAccount may
`list` and `watch` nodes), /metrics with the ConfigMap write counter and
kube_chorus_router_nodes 50."""

import harness as H


def body(h):
    # Listing nodes is forbidden (run_test below) until the rule is added:
    # /readyz must say so.
    inst = h.instance("node-0000")
    H.wait_for(lambda: inst.healthz("/healthz")[0] == 200, 5,
               "/healthz answering")
    H.check(True, "/healthz 200 while the nodes cannot be listed")
    H.wait_for(lambda: any(r["path"] == "/api/v1/nodes" and r["status"] == 403
                           for r in h.cluster.requests()), 5,
               "a refused node list attempt")
    status, text = inst.healthz("/readyz")
    print(f"     /readyz before listing: {status} {text.strip()!r}")
    H.check(status != 200, "/readyz not 200 before the nodes are listed",
            status)

    h.cluster.forbid([])
    (status, text), secs = H.wait_for(
        lambda: (r := inst.healthz("/readyz"))[0] == 200 and r, 35,
        "/readyz 200")
    print(f"     /readyz 200 {secs * 1000:.0f} ms after the rule was "
          f"added: {text.strip()!r}")
    H.check(True, "/readyz 200 once the nodes are listed")
    status, _ = inst.healthz("/healthz")
    H.check(status == 200, "/healthz 200", status)

    H.wait_for(lambda: len(H.own_entries(h.cluster.data())) == 6 * 50, 10,
               "50 nodes published")
    text, _ = H.wait_for(
        lambda: (t := inst.metrics_text()) and H.metric_sum(
            t, "kube_chorus_router_configmap_writes_total") and t, 2,
        "the write counter")
    writes = H.metric_sum(text, "kube_chorus_router_configmap_writes_total")
    H.check("# TYPE kube_chorus_router_configmap_writes_total counter" in text,
            "/metrics declares kube_chorus_router_configmap_writes_total "
            "as a counter")
    H.check(writes >= 1, "kube_chorus_router_configmap_writes_total >= 1",
            writes)
    nodes = H.metric(text, "kube_chorus_router_nodes")
    H.check(nodes == 50, "kube_chorus_router_nodes 50", nodes)
    H.check(H.metric(text, "kube_chorus_router_leader") == 1,
            "kube_chorus_router_leader 1")
    alloc = H.metric_sum(text, "kube_chorus_router_overlay_addresses",
                         state="allocated")
    H.check(alloc == 50, "kube_chorus_router_overlay_addresses"
            '{state="allocated"} 50', alloc)

    # A node more is counted.
    h.add_node("one-more", "203.0.113.51", "10.95.1.0/24")
    H.wait_for(lambda: H.metric(inst.metrics_text(),
                                "kube_chorus_router_nodes") == 51, 2,
               "kube_chorus_router_nodes 51")
    H.check(True, "kube_chorus_router_nodes follows an added node (51)")


if __name__ == "__main__":
    # The publisher lists Nodes with a watch list (authorized as "watch"),
    # falling back to LIST: both verbs must go for the nodes to be unlistable.
    H.run_test(body, seed_nodes=50, forbid=["list:nodes", "watch:nodes"])
