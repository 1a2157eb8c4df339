"""Integration 11: bad Nodes never hurt the others. A Node without an
InternalIP waits (logged once, not at every sync, with a full sync every
second here), the other nodes are published; once the Node gets its
address, it is published. A Node without a pod CIDR neither crashes nor
blocks anyone."""

import time

import harness as H


def body(h):
    inst = h.instance("node-0000", "--config-sync-period", "1s")
    H.wait_for(lambda: len(H.own_entries(h.cluster.data())) == 6 * 5, 10,
               "5 nodes published")
    h.cluster.create_node({
        "metadata": {"name": "no-address"},
        "spec": {"podCIDR": "10.92.1.0/24", "podCIDRs": ["10.92.1.0/24"]},
        "status": {"addresses": [{"type": "Hostname",
                                  "address": "no-address"}]}})
    h.cluster.create_node({
        "metadata": {"name": "no-cidr"},
        "status": {"addresses": [{"type": "InternalIP",
                                  "address": "203.0.113.72"}]}})
    h.add_node("good", "203.0.113.73", "10.92.3.0/24")
    data, _ = H.wait_for(lambda: (d := h.cluster.data()).get("Node-203.0.113.73")
                         and d, 5, "the good node published")
    H.check(True, "a good node added next to bad ones is published")
    time.sleep(3.5)  # several full syncs
    H.check(inst.alive(), "the binary survives Nodes without address / CIDR")
    lines = [l for l in inst.logs().splitlines() if "no-address" in l]
    print(f"     {len(lines)} log line(s) about no-address: "
          f"{lines[0] if lines else ''}")
    H.check(1 <= len(lines) <= 2, "the address-less Node is logged once "
            "(not at every sync)", lines)
    events = [e for e in h.cluster.events()
              if e.get("involvedObject", {}).get("name") == "no-address"]
    print(f"     Events about no-address: "
          f"{[(e.get('type'), e.get('reason'), e.get('count')) for e in events]}")
    H.check(any(e.get("type") == "Warning" and e.get("involvedObject", {})
                .get("kind") == "Node" for e in events),
            "a Warning Event on the Node says why it waits",
            [(e.get("type"), e.get("reason")) for e in events])
    data = h.cluster.data()
    H.check(not any(v == "no-address" for v in data.values()),
            "no entry for the address-less Node")
    seeded = [n for n in h.cluster.nodes()
              if n["metadata"]["name"].startswith("node-")
              or n["metadata"]["name"] == "good"]
    probs = H.seed_format_problems(data, seeded)
    no_cidr = {k: v for k, v in data.items() if k.endswith("203.0.113.72")}
    print(f"     entry of the CIDR-less node: {no_cidr}")
    probs = [p for p in probs if "203.0.113.72" not in p]
    H.check(not probs, "the good nodes' entries are complete", probs)

    h.cluster.patch_node("no-address", {"status": {"addresses": [
        {"type": "InternalIP", "address": "203.0.113.71"},
        {"type": "Hostname", "address": "no-address"}]}})
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()).get("Node-203.0.113.71") and d, 5,
        "no-address published once it has an InternalIP")
    print(f"     published {secs * 1000:.0f} ms after it got an InternalIP")
    H.check(data.get("CNI-203.0.113.71") == "10.92.1.1/24"
            and data.get("Name-203.0.113.71") == "no-address",
            "its entry is complete", {k: v for k, v in data.items()
                                      if k.endswith("203.0.113.71")})


if __name__ == "__main__":
    H.run_test(body, seed_nodes=5)
