"""Integration (issue 13): pod ranges are checked before the real binary
publishes them, on the real control plane. A Node's pod ranges come from
objects a node may edit (a kubelet can change its own Node's annotations),
and the device routes whatever it is given: 0.0.0.0/0 from one node would
pull all of the device's traffic into that node's tunnel.

A refused range makes the node's WHOLE entry wait: no key at all, a Warning
Event PodRangeRefused on the Node whose message holds the range (as the
Node wrote it) and the reason, a log line with both, and the gauge
kube_chorus_router_pod_ranges_refused{node,range,reason} = 1. Other nodes'
entries do not change. One scenario per run (--scenario):

  refused      no --pod-network: 0.0.0.0/0 (in a Cilium annotation, before
               the start, and in spec.podCIDR), ::/0, 10.0.0.0/8, a /32 next
               to a good /24 (dual stack), a range in the overlay network, one
               holding other nodes' underlay IPs; then a range overlapping
               another node's: the first owner keeps it, the second waits and
               is published once the first is deleted.
  pod-network  --pod-network 10.244.0.0/16,10.128.0.0/9: inside ranges are
               published (a /12 too: the width limit is replaced), ranges
               outside (or straddling) are refused.
(The real kube-apiserver accepts all of these in spec.podCIDR(s).)
"""

import harness as H
import cni_objects as X

REFUSED = "PodRangeRefused"
GAUGE = "kube_chorus_router_pod_ranges_refused"


def refused_events(h, name, rng):
    return [e for e in H.node_events(h.cluster, name, REFUSED)
            if e.get("type") == "Warning" and rng in e.get("message", "")]


def gauge(inst, name, rng):
    return H.metric_sum(inst.metrics_text(), GAUGE, node=name, range=rng)


def check_refused(h, inst, name, ip, rng, hints):
    """Node `name` (underlay `ip`) waits because of `rng`: Event (its message
    naming one of `hints` as the reason), no key, gauge 1, log line."""
    events, secs = H.wait_for(lambda: refused_events(h, name, rng), 10,
                              f"a Warning {REFUSED} Event on {name} naming "
                              f"{rng}")
    msg = events[0]["message"]
    print(f"     {name}: {REFUSED} after {secs * 1000:.0f} ms: {msg}")
    H.check(any(k in msg for k in hints),
            f"{name}: the Event says why ({' or '.join(hints)})", msg)
    uid = h.cluster.node(name)["metadata"]["uid"]
    entry = H.entry_of(h.cluster.data(), ip, uid)
    H.check(not entry, f"{name} ({rng}) publishes nothing", entry)
    value, _ = H.wait_for(lambda: gauge(inst, name, rng), 5,
                          f'{GAUGE}{{node="{name}",range="{rng}"}}')
    H.check(value == 1, f'{GAUGE}{{node="{name}",range="{rng}"}} 1', value)
    line = next((l for l in inst.logs().splitlines()
                 if name in l and rng in l), None)
    print(f"     log: {(line or '').strip()}")
    H.check(line is not None, f"a log line names {name} and {rng}")


def untouched(h, before, what):
    after = h.cluster.data()
    changed = sorted(k for k in before if after.get(k) != before[k])
    H.check(not changed, f"{what}: the other nodes' entries are unchanged",
            {k: (before[k], after.get(k)) for k in changed})


# --- no --pod-network -------------------------------------------------------------
# name, underlay IP, spec.podCIDRs, the refused range, words of the reason.
BAD = [
    ("wide-v4", "203.0.113.51", ["0.0.0.0/0"], "0.0.0.0/0", ("/16", "wide")),
    ("wide-v6", "203.0.113.53", ["::/0"], "::/0", ("/48", "wide")),
    ("wide-8", "203.0.113.54", ["10.0.0.0/8"], "10.0.0.0/8",
     ("/16", "wide", "node-000")),
    ("half", "203.0.113.59", ["10.244.41.0/24", "fd00::/32"], "fd00::/32",
     ("/48", "wide")),
    ("in-overlay", "203.0.113.55", ["192.168.254.128/25"],
     "192.168.254.128/25", ("overlay",)),
    ("eats-underlay", "203.0.113.56", ["198.18.0.0/24"], "198.18.0.0/24",
     ("underlay", "node-000")),
]


def refused(h):
    # The threat as it comes: a kubelet writes 0.0.0.0/0 into the Cilium
    # annotation of its own Node (no spec.podCIDR: the annotation counts).
    h.cluster.create_node(X.node("wide-ann", "203.0.113.52", annotations=(
        X.cilium_annotations(v4="0.0.0.0/0"))))
    inst = h.instance("node-0000")
    data, _ = H.wait_published(h.cluster, [f"node-000{i}" for i in range(3)])
    H.check(True, "the 3 seeded nodes are published, nothing else")
    check_refused(h, inst, "wide-ann", "203.0.113.52", "0.0.0.0/0",
                  ("/16", "wide"))
    before = H.own_entries(data)

    for name, ip, cidrs, _, _ in BAD:
        h.cluster.create_node(X.node(name, ip, cidrs))
    h.cluster.create_node(X.node("good-1", "203.0.113.60",
                                 ["10.244.42.0/24"]))
    H.wait_for(lambda: h.cluster.data().get("CNI-203.0.113.60") ==
               "10.244.42.1/24", 10, "good-1 published after them")
    H.check(True, "a good node created after the bad ones is published")
    for name, ip, _, rng, hints in BAD:
        check_refused(h, inst, name, ip, rng, hints)
    untouched(h, before, "after six refused nodes")
    before = H.own_entries(h.cluster.data())
    overlap(h, inst)
    untouched(h, before, "after the overlap sequence")


def overlap(h, inst):
    """The first owner of a range keeps it; an overlapping node waits until
    the first one is gone."""
    h.cluster.create_node(X.node("owner-a", "203.0.113.57",
                                 ["10.244.40.0/24"]))
    data, _ = H.wait_for(lambda: (d := h.cluster.data()).get(
        "CNI-203.0.113.57") == "10.244.40.1/24" and d, 10,
        "owner-a published")
    a_entry = H.entry_of(data, "203.0.113.57")
    h.cluster.create_node(X.node("owner-b", "203.0.113.58",
                                 ["10.244.40.128/25"]))
    check_refused(h, inst, "owner-b", "203.0.113.58", "10.244.40.128/25",
                  ("owner-a",))
    H.check(H.entry_of(h.cluster.data(), "203.0.113.57") == a_entry,
            "owner-a (the first owner) keeps its entry", a_entry)
    h.cluster.delete_node("owner-a")
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()).get("CNI-203.0.113.58") ==
        "10.244.40.129/25" and d, 10, "owner-b published once owner-a left")
    print(f"     owner-b published {secs * 1000:.0f} ms after owner-a's "
          "delete")
    H.check(not H.entry_of(data, "203.0.113.57"), "owner-a's keys are gone")
    probs = H.seed_format_problems(
        {k: v for k, v in data.items() if not k.startswith(H.OWN_PREFIXES)
         or k.endswith("203.0.113.58") or v == "203.0.113.58"},
        [h.cluster.node("owner-b")])
    H.check(not probs, "owner-b's entry is complete", probs)
    H.wait_for(lambda: not gauge(inst, "owner-b", "10.244.40.128/25"), 5,
               f"{GAUGE} of owner-b gone")
    H.check(True, f"{GAUGE} of owner-b is gone (or 0) once it is published")


# --- --pod-network ----------------------------------------------------------------
def pod_network(h):
    h.cluster.create_node(X.node("in-1", "203.0.113.61", ["10.244.50.0/24"]))
    h.cluster.create_node(X.node("big-1", "203.0.113.62", ["10.128.0.0/12"]))
    inst = h.instance("in-1", "--pod-network", "10.244.0.0/16,10.128.0.0/9")
    want = {"in-1": "10.244.50.1/24", "big-1": "10.128.0.1/12"}
    data, _ = H.wait_published(h.cluster, list(want), want)
    H.check(True, "ranges inside the pod networks are published, a /12 too")
    before = H.own_entries(data)
    outside = [("out-1", "203.0.113.63", "10.99.0.0/24"),
               # holds both pod networks, but is not inside either
               ("straddle", "203.0.113.64", "10.0.0.0/8")]
    for name, ip, rng in outside:
        h.cluster.create_node(X.node(name, ip, [rng]))
    for name, ip, rng in outside:
        check_refused(h, inst, name, ip, rng, ("10.244.0.0/16", "pod network"))
    untouched(h, before, "after two refused nodes")


if __name__ == "__main__":
    H.run_scenario({
        "refused": (H.showing_refusals(refused), {"seed_nodes": 3}),
        "pod-network": (H.showing_refusals(pod_network), {}),
    })
