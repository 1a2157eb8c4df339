"""Integration 3: a restart keeps every assignment. SIGTERM makes the binary
exit 0 within 5 s; started again (after some nodes were deleted and added
while it was running, so that addresses are not simply 1..N), it publishes
identical data and makes NO ConfigMap write, since nothing changed."""

import time

import harness as H


def body(h):
    inst = h.instance("node-0000")
    H.wait_for(lambda: len(H.own_entries(h.cluster.data())) == 6 * 20, 10,
               "20 nodes published")
    # Holes in the pool: assignments that a fresh allocator would not redo.
    for name in ("node-0003", "node-0007", "node-0011"):
        h.cluster.delete_node(name)
    h.add_node("late-1", "203.0.113.21", "10.98.1.0/24")
    h.add_node("late-2", "203.0.113.22", "10.98.2.0/24")
    nodes = h.cluster.nodes()
    before, _ = H.wait_for(
        lambda: (d := h.cluster.data()) and not H.seed_format_problems(d, nodes)
        and d, 5, "19 nodes published after the changes")
    H.check(before["Interface-203.0.113.21"] == "192.168.254.4",
            "late-1 took the freed 192.168.254.4",
            before["Interface-203.0.113.21"])

    rc, secs = H.term_and_wait(inst, 5)
    print(f"     SIGTERM -> exit {rc} after {secs * 1000:.0f} ms")
    H.check(rc == 0, "SIGTERM: exit status 0 within 5 s", rc)

    rv_before = h.cluster.configmap()["metadata"]["resourceVersion"]
    h.cluster.clear_writes()
    inst.start()
    # The restarted instance is ready (it has listed and restored) once it
    # leads and its /readyz answers 200; then give it time to (wrongly) write.
    H.wait_for(lambda: h.cluster.lease()["spec"].get("holderIdentity", "")
               .startswith("node-0000"), 5, "the restarted instance leads")
    H.wait_for(lambda: inst.healthz("/readyz")[0] == 200, 5,
               "/readyz of the restarted instance")
    time.sleep(2)
    H.check(inst.alive(), "the restarted instance runs")
    after = h.cluster.configmap()
    H.check(after["data"] == before, "identical data after the restart",
            {k: (before.get(k), after["data"].get(k))
             for k in set(before) | set(after["data"])
             if before.get(k) != after["data"].get(k)})
    writes = h.cluster.writes()
    H.check(writes == [], "no ConfigMap write after the restart", writes)
    H.check(after["metadata"]["resourceVersion"] == rv_before,
            "the ConfigMap's resourceVersion is unchanged",
            (rv_before, after["metadata"]["resourceVersion"]))

    # And it still works: a node added now is published with a fresh address.
    h.add_node("late-3", "203.0.113.23", "10.98.3.0/24")
    data, _ = H.wait_for(lambda: (d := h.cluster.data()).get("Node-203.0.113.23")
                         and d, 5, "late-3 published after the restart")
    H.check(data["Interface-203.0.113.23"] == "192.168.254.12",
            "late-3 gets the lowest free address 192.168.254.12",
            data["Interface-203.0.113.23"])


    # Changes while it is down are applied at the next start, without
    # moving anybody else.
    rc, _ = H.term_and_wait(inst, 5)
    H.check(rc == 0, "second SIGTERM: exit 0", rc)
    before = h.cluster.data()
    h.cluster.delete_node("late-1")  # frees 192.168.254.4
    h.add_node("down-1", "203.0.113.24", "10.98.4.0/24")
    h.add_node("down-2", "203.0.113.25", "10.98.5.0/24")
    inst.start()
    nodes = h.cluster.nodes()
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()) and not H.seed_format_problems(d, nodes)
        and d, 10, "the changes made while down published")
    print(f"     changes made while down published {secs * 1000:.0f} ms "
          "after the start")
    H.check("Node-203.0.113.21" not in data,
            "the node deleted while down is gone")
    got = (data["Interface-203.0.113.24"], data["Interface-203.0.113.25"])
    H.check(got == ("192.168.254.4", "192.168.254.21"),
            "nodes added while down get the lowest free addresses "
            "(.4 and .21)", got)
    moved = {k: (v, data.get(k)) for k, v in before.items()
             if not k.endswith("203.0.113.21") and v != "203.0.113.21"
             and data.get(k) != v}
    H.check(not moved, "every other entry is unchanged", moved)


if __name__ == "__main__":
    H.run_test(body, seed_nodes=20)
