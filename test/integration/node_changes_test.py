"""Integration 2: the real binary follows Node adds, updates and deletes:
an added Node is published (latency printed), a new InternalIP moves its
keys and keeps its overlay IP, a pod CIDR assigned later fills CNI-, a
delete removes its keys and frees its address, which the next new Node gets
(lowest first)."""

import time

import harness as H


def entry(data, ip):
    return {k: v for k, v in data.items() if k.endswith("-" + ip)}


def body(h):
    h.instance("node-0000")
    seeded = h.cluster.nodes()
    H.wait_for(lambda: not H.seed_format_problems(h.cluster.data(), seeded), 10,
               "the 5 seeded nodes published")
    H.check(True, "5 seeded nodes published")
    h.cluster.clear_writes()

    # Add: measure from the POST to the ConfigMap write and to its visibility.
    t0 = time.time()
    m0 = time.monotonic()
    node = h.add_node("extra-1", "203.0.113.7", "10.99.1.0/24")
    uid = node["metadata"]["uid"]
    data, _ = H.wait_for(lambda: (d := h.cluster.data()).get("Node-203.0.113.7")
                         and d, 5, "extra-1 published", interval=0.005)
    seen = time.monotonic() - m0
    writes = h.cluster.writes()
    write_ms = (writes[0]["t"] - t0) * 1000 if writes else float("nan")
    print(f"     add latency: ConfigMap write {write_ms:.1f} ms after the "
          f"Node POST, visible to a reader after {seen * 1000:.1f} ms")
    H.check(seen < 2, "an added Node is published within 2 s", seen)
    probs = H.seed_format_problems(data, seeded + [node])
    H.check(not probs, "extra-1 has a complete seed-format entry", probs)
    overlay = data["Interface-203.0.113.7"]
    H.check(overlay == "192.168.254.6", "extra-1 gets the lowest free "
            "address 192.168.254.6", overlay)

    # New InternalIP: keys move, overlay address stays.
    h.cluster.patch_node("extra-1", {"status": {"addresses": [
        {"type": "InternalIP", "address": "203.0.113.8"},
        {"type": "Hostname", "address": "extra-1"}]}})
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()).get("Node-203.0.113.8")
        and not entry(d, "203.0.113.7") and d, 5, "keys moved to 203.0.113.8")
    print(f"     InternalIP change published after {secs * 1000:.0f} ms")
    H.check(not entry(data, "203.0.113.7"), "no key of the old IP is left",
            entry(data, "203.0.113.7"))
    H.check(data.get(f"Host-{uid}") == "203.0.113.8",
            "Host-<uid> holds the new IP", data.get(f"Host-{uid}"))
    H.check(data.get("Interface-203.0.113.8") == overlay,
            "the overlay IP is unchanged", data.get("Interface-203.0.113.8"))
    node = h.cluster.node("extra-1")
    probs = H.seed_format_problems(data, seeded + [node])
    H.check(not probs, "the moved entry is complete", probs)

    # A pod CIDR assigned after registration: CNI- follows. (Only empty ->
    # set: a real API server refuses any other change of spec.podCIDR(s),
    # 422 "node updates may not change podCIDR except from "" to valid".)
    h.add_node("late-cidr", "203.0.113.12", None)
    H.wait_for(lambda: h.cluster.node("late-cidr"), 5, "late-cidr exists")
    h.cluster.patch_node("late-cidr", {"spec": {
        "podCIDR": "10.99.2.0/25", "podCIDRs": ["10.99.2.0/25"]}})
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()).get("CNI-203.0.113.12") == "10.99.2.1/25"
        and d, 5, "CNI-203.0.113.12 = 10.99.2.1/25")
    print(f"     podCIDR assignment published after {secs * 1000:.0f} ms")
    H.check(True, "CNI- follows a pod CIDR assigned later (10.99.2.1/25)")
    late = h.cluster.node("late-cidr")
    probs = H.seed_format_problems(data, seeded + [node, late])
    H.check(not probs, "every entry is complete, extra-1's overlay IP "
            "unchanged", probs)
    H.check(data.get("Interface-203.0.113.8") == overlay,
            "extra-1's overlay IP is unchanged",
            data.get("Interface-203.0.113.8"))

    # Delete: every key of the node goes, including Host-<uid>.
    h.cluster.delete_node("extra-1")
    h.cluster.delete_node("node-0002")  # holds 192.168.254.3
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()) and not entry(d, "203.0.113.8")
        and not entry(d, "198.18.0.3") and d, 5, "deleted nodes' keys gone")
    print(f"     deletes published after {secs * 1000:.0f} ms")
    H.check(f"Host-{uid}" not in data, "Host-<uid> of the deleted node is gone")
    rest = [n for n in seeded if n["metadata"]["name"] != "node-0002"]
    probs = H.seed_format_problems(data, rest + [late])
    H.check(not probs, "the remaining 5 nodes are intact", probs)

    # Freed addresses are reused, lowest first.
    h.add_node("extra-2", "203.0.113.9", "10.99.3.0/24")
    data, _ = H.wait_for(lambda: (d := h.cluster.data()).get("Node-203.0.113.9")
                         and d, 5, "extra-2 published")
    H.check(data["Interface-203.0.113.9"] == "192.168.254.3",
            "a new node gets the lowest freed address 192.168.254.3",
            data["Interface-203.0.113.9"])
    h.add_node("extra-3", "203.0.113.10", "10.99.4.0/24")
    data, _ = H.wait_for(lambda: (d := h.cluster.data()).get("Node-203.0.113.10")
                         and d, 5, "extra-3 published")
    H.check(data["Interface-203.0.113.10"] == "192.168.254.6",
            "the next new node gets the other freed address 192.168.254.6",
            data["Interface-203.0.113.10"])


if __name__ == "__main__":
    H.run_test(body, seed_nodes=5)
