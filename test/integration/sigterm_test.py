"""Integration 8: SIGTERM leaves the ConfigMap intact and releases the Lease
(holderIdentity empty), exit status 0; a waiting follower then takes over
at its next retry, without waiting for the lease to expire."""

import signal

import harness as H


def body(h):
    inst = h.instance("node-0000")
    nodes = h.cluster.nodes()
    before, _ = H.wait_for(
        lambda: (d := h.cluster.data()) and not H.seed_format_problems(d, nodes)
        and d, 10, "10 nodes published")
    H.wait_for(lambda: h.cluster.lease()["spec"].get("holderIdentity"), 5,
               "a Lease holder")
    cm_before = h.cluster.configmap()
    h.cluster.clear_requests()

    rc, secs = H.term_and_wait(inst, 5)
    print(f"     SIGTERM -> exit {rc} after {secs * 1000:.0f} ms")
    H.check(rc == 0, "exit status 0 within 5 s", rc)
    cm = h.cluster.configmap()
    H.check(cm["data"] == before, "the ConfigMap data is intact")
    H.check(cm["metadata"]["uid"] == cm_before["metadata"]["uid"]
            and cm["metadata"]["resourceVersion"]
            == cm_before["metadata"]["resourceVersion"],
            "the ConfigMap was neither recreated nor written",
            (cm_before["metadata"], cm["metadata"]))
    writes = [r for r in h.cluster.requests()
              if r["method"] != "GET" and "/configmaps" in r["path"]]
    H.check(not writes, "no ConfigMap request other than reads on shutdown",
            writes)
    spec = h.cluster.lease()["spec"]
    H.check(spec.get("holderIdentity", "") == "",
            "the Lease is released (holderIdentity empty)", spec)

    # With the Lease released, a follower takes over at once.
    a = h.instance("node-0001")
    b = h.instance("node-0002")
    holder, _ = H.wait_for(lambda: h.cluster.lease()["spec"]
                           .get("holderIdentity"), 5, "a new Lease holder")
    leader, follower = (a, b) if holder.startswith("node-0001_") else (b, a)
    H.wait_for(lambda: H.metric(follower.metrics_text(),
                                "kube_chorus_router_leader") == 0, 5,
               "the follower's metrics")
    leader.signal(signal.SIGTERM)
    new, took = H.wait_for(
        lambda: (x := h.cluster.lease()["spec"].get("holderIdentity", ""))
        .startswith(follower.node + "_") and x, 5, "the follower leading")
    rc = leader.wait(5)
    H.check(rc == 0, f"the leader {leader.node} exits 0 on SIGTERM", rc)
    print(f"     follower {follower.node} leads {took * 1000:.0f} ms after "
          f"the leader's SIGTERM (lease 2 s, retry 0.5 s)")
    H.check(took < 1.5, "takeover after a released Lease within one retry "
            "period + margin (1.5 s), not the lease duration", took)
    h.add_node("after-term", "203.0.113.61", "10.94.1.0/24")
    H.wait_for(lambda: h.cluster.data().get("Node-203.0.113.61"), 5,
               "after-term published by the new leader")
    H.check(True, "the new leader publishes")


if __name__ == "__main__":
    H.run_test(body, seed_nodes=10)
