"""Integration 10: the real binary survives API server trouble and keeps
following Nodes: watches cut mid-stream, all history compacted (410 Expired
on resume), the API server restarting (connections refused for 2 s), a
burst of 500 errors on writes; after each, a newly added Node is published
and no address changes.

Runs on the fake API server only: a real kube-apiserver cannot cut its
watches, fail a chosen number of requests with 500 or refuse connections for
two seconds on demand (etcd compaction alone would be possible, see
cp.compact(), but not the rest)."""

import time

import harness as H


def add_and_wait(h, i, deadline, what):
    ip = f"203.0.113.{100 + i}"
    h.add_node(f"fault-{i}", ip, f"10.93.{i}.0/24")
    _, secs = H.wait_for(lambda: h.cluster.data().get(f"Node-{ip}"), deadline,
                         f"fault-{i} published after {what}")
    print(f"     after {what}: a new node published in {secs * 1000:.0f} ms")
    H.check(True, f"a node added after {what} is published")


def body(h):
    inst = h.instance("node-0000")
    nodes = h.cluster.nodes()
    base, _ = H.wait_for(
        lambda: (d := h.cluster.data()) and not H.seed_format_problems(d, nodes)
        and d, 10, "10 nodes published")

    h.fake.ctl("POST", "/faults", {"drop_watches": True})
    add_and_wait(h, 1, 10, "all watches were cut")

    h.fake.ctl("POST", "/faults", {"expire": True})
    h.fake.ctl("POST", "/faults", {"drop_watches": True})
    add_and_wait(h, 2, 10, "history compaction (resume -> 410 Expired)")

    h.fake.ctl("POST", "/faults", {"refuse_seconds": 2})
    time.sleep(0.2)
    h.cluster.create_node({  # while refused: seen after reconnecting
        "metadata": {"name": "fault-3"},
        "spec": {"podCIDR": "10.93.3.0/24", "podCIDRs": ["10.93.3.0/24"]},
        "status": {"addresses": [{"type": "InternalIP",
                                  "address": "203.0.113.103"}]}})
    _, secs = H.wait_for(lambda: h.cluster.data().get("Node-203.0.113.103"), 15,
                         "fault-3 published after the API server restart")
    print(f"     a node added while the API server was down: published "
          f"{secs * 1000:.0f} ms later")
    H.check(True, "a node added during an API server restart is published")

    h.fake.ctl("POST", "/faults", {"fail": {"status": 500, "count": 3,
                                            "path_prefix": "/api/v1/namespaces"}})
    add_and_wait(h, 4, 15, "three 500 errors on ConfigMap requests")

    H.check(inst.alive(), "the binary is still running")
    data = h.cluster.data()
    moved = {k: (v, data.get(k)) for k, v in base.items()
             if data.get(k) != v}
    H.check(not moved, "no earlier entry changed through the faults", moved)
    nodes = h.cluster.nodes()
    probs = H.seed_format_problems(data, nodes)
    H.check(not probs, "all 14 entries complete, distinct addresses", probs)


if __name__ == "__main__":
    H.run_test(body, backend="fake", seed_nodes=10)
