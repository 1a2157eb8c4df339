"""Integration 5: two instances with leader election (lease 2 s, renew 1 s,
retry 500 ms): exactly one holds the Lease and writes, the follower reports
kube_chorus_router_leader 0 and writes nothing; kill -9 of the leader → the
follower takes over within the lease duration + a margin and publishes a
Node added afterwards."""

import signal
import time

import harness as H

LEASE = 2.0
TAKEOVER_DEADLINE = LEASE + 0.5 + 1.0  # lease + one retry period + margin


def leader_value(inst):
    return H.metric(inst.metrics_text(), "kube_chorus_router_leader")


def writes_total(inst):
    # Successful writes (results ok and created; conflicts and errors are
    # not writes). A counter never incremented may be absent: 0 writes.
    text = inst.metrics_text()
    name = "kube_chorus_router_configmap_writes_total"
    return ((H.metric_sum(text, name, result="ok") or 0)
            + (H.metric_sum(text, name, result="created") or 0))


def body(h):
    a = h.instance("node-0000")
    b = h.instance("node-0001")
    nodes = h.cluster.nodes()
    H.wait_for(lambda: not H.seed_format_problems(h.cluster.data(), nodes), 10,
               "10 nodes published")
    holder, _ = H.wait_for(lambda: h.cluster.lease()["spec"].get("holderIdentity"),
                           5, "a Lease holder")
    H.check(holder.startswith(("node-0000_", "node-0001_")),
            "the Lease holder is one instance, node name + suffix", holder)
    leader, follower = (a, b) if holder.startswith("node-0000_") else (b, a)
    print(f"     leader {leader.node} ({holder}), follower {follower.node}")

    # Watch both for 3 s (more than a lease duration): never two leaders.
    both, flips = 0, 0
    end = time.monotonic() + 3
    while time.monotonic() < end:
        lv, fv = leader_value(leader), leader_value(follower)
        both += lv == 1 and fv == 1
        flips += lv != 1 or fv != 0
        time.sleep(H.POLL)
    H.check(both == 0, "never both instances leading (metrics, 3 s)", both)
    H.check(flips == 0, "leader metric 1 / follower metric 0 throughout", flips)
    H.check(h.cluster.lease()["spec"]["holderIdentity"] == holder,
            "the Lease holder did not change", h.cluster.lease()["spec"])

    # Exactly one writer: every ConfigMap write the cluster saw is the leader's.
    h.add_node("while-led", "203.0.113.41", "10.96.1.0/24")
    H.wait_for(lambda: h.cluster.data().get("Node-203.0.113.41"), 5,
               "while-led published")
    seen = len(h.cluster.writes())
    # The counter moves when the write's answer is processed: allow 1 s.
    try:
        H.wait_for(lambda: writes_total(leader) >= seen, 1,
                   "the leader's write counter")
    except H.Failure:
        pass
    lw, fw = writes_total(leader), writes_total(follower)
    print(f"     the cluster saw {seen} ConfigMap writes; leader counts {lw:.0f}, "
          f"follower {fw:.0f}")
    H.check(fw == 0, "the follower made no ConfigMap write", fw)
    H.check(lw == seen, "the leader's writes are all the writes the cluster saw",
            (lw, seen))
    H.check("publisher:" not in follower.logs(),
            "the follower's log has no publisher activity")

    # kill -9 the leader: the follower takes over after the lease expires.
    h.cluster.clear_writes()
    leader.signal(signal.SIGKILL)
    leader.wait(5)
    new_holder, secs = H.wait_for(
        lambda: (x := h.cluster.lease()["spec"].get("holderIdentity", ""))
        .startswith(follower.node + "_") and x, TAKEOVER_DEADLINE + 1,
        "the follower holding the Lease")
    print(f"     takeover {secs * 1000:.0f} ms after kill -9 "
          f"(lease {LEASE:.0f} s), new holder {new_holder}")
    H.check(secs <= TAKEOVER_DEADLINE,
            f"the follower took over within {TAKEOVER_DEADLINE} s", secs)
    H.wait_for(lambda: leader_value(follower) == 1, 2,
               "the new leader's metric kube_chorus_router_leader 1")
    H.check(True, "the new leader reports kube_chorus_router_leader 1")
    # The leader renewed at most one retry period (0.5 s) before the kill.
    H.check(secs >= LEASE - 0.6,
            "no takeover before the old lease could expire", secs)

    # A node added after the takeover is published by the new leader.
    h.add_node("after-failover", "203.0.113.42", "10.96.2.0/24")
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()).get("Node-203.0.113.42") and d, 5,
        "after-failover published")
    print(f"     published {secs * 1000:.0f} ms after the Node POST")
    nodes = h.cluster.nodes()
    probs = H.seed_format_problems(data, nodes)
    H.check(not probs, "the new leader's ConfigMap is complete and keeps "
            "every earlier address", probs)
    H.check(data["Interface-203.0.113.41"] == "192.168.254.11"
            and data["Interface-203.0.113.42"] == "192.168.254.12",
            "addresses continue (.11 kept, .12 new)",
            (data["Interface-203.0.113.41"], data["Interface-203.0.113.42"]))
    H.check(writes_total(follower) >= 1 and len(h.cluster.writes()) >= 1,
            "the new leader wrote the ConfigMap", h.cluster.writes())


if __name__ == "__main__":
    H.run_test(body, seed_nodes=10)
