"""Integration 4: a hand-edited ConfigMap is repaired within 2 s: garbage in
own keys, deleted own keys and a stolen overlay address go back to the
truth, a foreign key is kept."""

import harness as H

DEADLINE = 2.0  # seconds: "repaired within a second or two"


def edit(h, change):
    """A user's edit (kubectl edit style: PUT with the current RV)."""
    cm = h.cluster.configmap()
    change(cm["data"])
    h.cluster.put_configmap(cm)


def body(h):
    h.instance("node-0000")
    nodes = h.cluster.nodes()
    truth, _ = H.wait_for(
        lambda: (d := h.cluster.data()) and not H.seed_format_problems(d, nodes)
        and d, 10, "10 nodes published")
    ip = [H.internal_ip(n) for n in nodes]

    def repaired(foreign):
        d = h.cluster.data()
        want = dict(truth, **foreign)
        return d if d == want else None

    def report(what, foreign):
        try:
            _, secs = H.wait_for(lambda: repaired(foreign), DEADLINE, what)
            print(f"     repaired after {secs * 1000:.0f} ms")
            H.check(True, what)
        except H.Failure:
            d = h.cluster.data()
            want = dict(truth, **foreign)
            H.check(False, what, {k: (d.get(k), want.get(k))
                                  for k in set(d) | set(want)
                                  if d.get(k) != want.get(k)})

    # 1. garbage values, deleted keys and a foreign key.
    def vandalize(d):
        d[f"Interface-{ip[1]}"] = "garbage!"
        d[f"CNI-{ip[2]}"] = "not/a/cidr"
        d["Type"] = "GRE"
        del d[f"Mac-{ip[3]}"]
        del d[f"Node-{ip[4]}"]
        del d["EndpointIP"]
        d["device.example.com-note"] = "keep me"
    edit(h, vandalize)
    report("garbage values and deleted keys repaired within 2 s, "
           "the foreign key kept", {"device.example.com-note": "keep me"})

    # 2. a node's address set to another node's (a duplicate next hop).
    def steal(d):
        d[f"Interface-{ip[5]}"] = d[f"Interface-{ip[6]}"]
        d[f"Mac-{ip[5]}"] = d[f"Mac-{ip[6]}"]
    edit(h, steal)
    report("a duplicated overlay address repaired within 2 s",
           {"device.example.com-note": "keep me"})

    # 3. a stale entry of a node that does not exist is removed; the foreign
    # key is still kept.
    def stale(d):
        d["Node-203.0.113.99"] = "203.0.113.99"
        d["Interface-203.0.113.99"] = "192.168.254.200"
        d["Host-00000000-0000-0000-0000-000000000099"] = "203.0.113.99"
    edit(h, stale)
    report("entries of a non-existent node removed within 2 s",
           {"device.example.com-note": "keep me"})

    # A new node after the repairs gets a fresh address, not a stolen one.
    h.add_node("after-edit", "203.0.113.31", "10.97.1.0/24")
    data, _ = H.wait_for(lambda: (d := h.cluster.data()).get("Node-203.0.113.31")
                         and d, 5, "after-edit published")
    H.check(data["Interface-203.0.113.31"] == "192.168.254.11",
            "a node added after the edits gets 192.168.254.11",
            data["Interface-203.0.113.31"])


if __name__ == "__main__":
    H.run_test(body, seed_nodes=10)
