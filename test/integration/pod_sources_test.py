"""Integration (issue 13): where the real binary takes a node's pod ranges
from (--pod-cidr-source, env KCR_POD_CIDR_SOURCE), on the real control plane
with the CNIs' own CustomResourceDefinitions (crds/) and objects shaped as
the CNIs write them (cni_objects.py). One scenario per run (--scenario):

  calico  Calico IPAM: every confirmed, not deleted BlockAffinity of the node
          (several per node, pending / pendingDeletion / deleted "true" left
          out, spec.podCIDR ignored), followed live (a new block within 2 s,
          a deleted or pendingDeletion block withdrawn); a node without a
          confirmed block has no entry and a NodeNotReadyForOverlay Event
          naming BlockAffinity. Started with auto, which must choose
          calico-ipam although the CiliumNode CRD is installed too; then
          restarted with an explicit --pod-cidr-source calico-ipam.
  cilium  CiliumNode spec.ipam.podCIDRs (IPv4 + IPv6), an update followed
          live; a Node without CiliumNode falls back to the Cilium
          annotations; a CiliumNode wins over them; a node with neither waits
          (Event naming CiliumNode) until its CiliumNode appears. auto with
          only the CiliumNode CRD installed must choose cilium.
  ovn     KCR_POD_CIDR_SOURCE=ovn: k8s.ovn.org/node-subnets in both JSON
          forms (string, list), taking precedence over spec.podCIDR; a node
          without it waits (Event) until it is annotated.
  node    no CRDs, auto -> node: spec.podCIDRs (dual stack), spec.podCIDR,
          the Cilium and OVN annotations as fallbacks; still node after the
          BlockAffinity CRD is installed with no object in it.

Every CNI- value lists first host addresses sorted by address, IPv4 first.
"""

import time

import cni_objects as X
import harness as H

NOT_READY = "NodeNotReadyForOverlay"


def source_line(inst, source):
    """The log line announcing where pod ranges come from, or None."""
    for line in inst.logs().splitlines():
        if f"pod ranges from {source}" in line:
            return line
    return None


def check_source(inst, source, why=None):
    line, _ = H.wait_for(lambda: source_line(inst, source), 10,
                         f"the log line 'pod ranges from {source}'")
    print(f"     {line.strip()}")
    H.check(why is None or why in line,
            f"the binary logs 'pod ranges from {source}'"
            + (f" and why ({why})" if why else ""), line)


def wait_cni(h, ip, want, what, timeout=5):
    """Waits until CNI-<ip> is `want`; -> (data, seconds)."""
    key = "CNI-" + ip.replace(":", "_")
    return H.wait_for(lambda: (d := h.cluster.data()).get(key) == want and d,
                      timeout, f"{what}: {key} = {want}", interval=0.005)


def check_waits(h, name, ip, missing):
    """The node has no key at all and a Warning NodeNotReadyForOverlay
    Event on its Node whose message names `missing`."""
    events, _ = H.wait_for(
        lambda: [e for e in H.node_events(h.cluster, name, NOT_READY)
                 if e.get("type") == "Warning"], 10,
        f"a Warning {NOT_READY} Event on Node {name}")
    msg = events[0].get("message", "")
    print(f"     {name}: {NOT_READY}: {msg}")
    H.check(missing in msg, f"the Event on {name} names {missing}", msg)
    uid = h.cluster.node(name)["metadata"]["uid"]
    entry = H.entry_of(h.cluster.data(), ip, uid)
    H.check(not entry, f"{name} has no key in the ConfigMap", entry)


def timed(h, ip, want, what, change):
    """Runs change(), waits for CNI-<ip> = want; prints and checks the
    latency (< 2 s)."""
    t0 = time.monotonic()
    change()
    data, _ = wait_cni(h, ip, want, what)
    secs = time.monotonic() - t0
    print(f"     {what}: visible in the ConfigMap after {secs * 1000:.0f} ms")
    H.check(secs < 2, f"{what}: published within 2 s", f"{secs:.2f} s")
    return data


# --- calico -------------------------------------------------------------------------
C1, C2, C3 = "203.0.113.11", "203.0.113.12", "203.0.113.13"


def calico_setup(h):
    h.cluster.install_crds([X.BLOCK_AFFINITY_CRD, X.CILIUM_NODE_CRD])
    # calico-1's spec.podCIDR must be ignored in this mode.
    h.cluster.create_node(X.node("calico-1", C1, ["10.99.0.0/24"]))
    h.cluster.create_node(X.node("calico-2", C2))
    h.cluster.create_node(X.node("calico-3", C3, ["10.99.3.0/24"]))
    blocks = [X.block_affinity("calico-1", "10.244.7.128/26"),
              X.block_affinity("calico-1", "10.244.1.64/26"),
              X.block_affinity("calico-1", "10.244.1.0/26"),
              X.block_affinity("calico-1", "10.244.1.128/26", "pending"),
              X.block_affinity("calico-1", "10.244.1.192/26",
                               "pendingDeletion"),
              X.block_affinity("calico-1", "10.244.2.0/26", deleted="true"),
              X.block_affinity("calico-2", "fd00:10:244:3::/122"),
              X.block_affinity("calico-2", "10.244.3.0/26"),
              X.block_affinity("calico-3", "10.244.5.0/26", "pending")]
    for b in blocks:
        X.create(h.cluster, b)
    print(f"     {len(blocks)} BlockAffinities, e.g. "
          f"{blocks[0]['metadata']['name']}: {blocks[0]['spec']}")


def calico_first_view(h, inst):
    want = {"calico-1": "10.244.1.1/26,10.244.1.65/26,10.244.7.129/26",
            "calico-2": "10.244.3.1/26,fd00:10:244:3::1/122"}
    check_source(inst, "calico-ipam", "auto")
    data, secs = H.wait_published(h.cluster, list(want), want)
    print(f"     published {secs * 1000:.0f} ms after the source line: "
          f"CNI-{C1}={data.get('CNI-' + C1)!r} CNI-{C2}="
          f"{data.get('CNI-' + C2)!r}")
    H.check(True, "calico-1: exactly its 3 confirmed blocks, sorted "
            "(pending, pendingDeletion, deleted and spec.podCIDR left out); "
            "calico-2: its IPv4 and IPv6 blocks, IPv4 first; complete "
            "entries, nothing else")
    check_waits(h, "calico-3", C3, "BlockAffinity")


def calico_live(h):
    new = X.block_affinity("calico-1", "10.244.9.0/26")
    timed(h, C1, "10.244.1.1/26,10.244.1.65/26,10.244.7.129/26,"
          "10.244.9.1/26", "a 4th confirmed block of calico-1",
          lambda: X.create(h.cluster, new))
    X.delete(h.cluster, X.block_affinity("calico-1", "10.244.1.64/26"))
    X.merge_patch(h.cluster, X.block_affinity("calico-1", "10.244.7.128/26"),
                  {"spec": {"state": "pendingDeletion"}})
    _, secs = wait_cni(h, C1, "10.244.1.1/26,10.244.9.1/26",
                       "a deleted and a pendingDeletion block withdrawn")
    print(f"     withdrawn after {secs * 1000:.0f} ms")
    H.check(True, "a deleted block and one set to pendingDeletion leave "
            "CNI- of calico-1")
    X.merge_patch(h.cluster, X.block_affinity("calico-1", "10.244.1.0/26"),
                  {"spec": {"deleted": "true"}})
    wait_cni(h, C1, "10.244.9.1/26", "a block marked deleted withdrawn")
    H.check(True, "a block whose deleted becomes \"true\" leaves CNI-")
    timed(h, C3, "10.244.5.1/26", "calico-3's pending block confirmed",
          lambda: X.merge_patch(
              h.cluster, X.block_affinity("calico-3", "10.244.5.0/26"),
              {"spec": {"state": "confirmed"}}))
    want = {"calico-1": "10.244.9.1/26",
            "calico-2": "10.244.3.1/26,fd00:10:244:3::1/122",
            "calico-3": "10.244.5.1/26"}
    H.wait_published(h.cluster, list(want), want, timeout=2)
    H.check(True, "three complete entries, calico-3's from its block "
            "(not its spec.podCIDR 10.99.3.0/24)")


def calico_explicit(h, first):
    before = H.own_entries(h.cluster.data())
    rc, _ = H.term_and_wait(first)
    H.check(rc == 0, "the auto instance stops on SIGTERM", rc)
    inst = h.instance("calico-1", "--pod-cidr-source", "calico-ipam")
    check_source(inst, "calico-ipam")
    # The latency below is that of a change, not of the start: wait until it leads.
    H.wait_for(lambda: H.metric(inst.metrics_text(), "kube_chorus_router_leader") == 1, 10,
               "the restarted instance leads")
    timed(h, C2, "10.244.3.1/26,10.244.3.65/26,fd00:10:244:3::1/122",
          "calico-2's new block under --pod-cidr-source calico-ipam",
          lambda: X.create(h.cluster,
                           X.block_affinity("calico-2", "10.244.3.64/26")))
    after = H.own_entries(h.cluster.data())
    changed = {k for k in set(before) | set(after)
               if before.get(k) != after.get(k)}
    H.check(changed == {"CNI-" + C2}, "after the restart only CNI- of "
            "calico-2 changed (the same allocations)", sorted(changed))


def calico(h):
    calico_setup(h)
    inst = h.instance("calico-1", "--pod-cidr-source", "auto")
    calico_first_view(h, inst)
    calico_live(h)
    calico_explicit(h, inst)


# --- cilium ---------------------------------------------------------------------------
L1, L2, L3 = "203.0.113.21", "203.0.113.22", "203.0.113.23"


def cilium(h):
    h.cluster.install_crds([X.CILIUM_NODE_CRD])
    n1 = h.cluster.create_node(X.node("cilium-1", L1))
    X.create(h.cluster, X.cilium_node(
        "cilium-1", L1, ["fd00:10:244:11::/64", "10.244.11.0/24"],
        n1["metadata"]["uid"]))
    h.cluster.create_node(X.node("cilium-2", L2, annotations=X.cilium_annotations(
        "10.244.12.0/24", "fd00:10:244:12::/64")))
    h.cluster.create_node(X.node("cilium-3", L3))
    inst = h.instance("cilium-1")  # the default: auto
    want = {"cilium-1": "10.244.11.1/24,fd00:10:244:11::1/64",
            "cilium-2": "10.244.12.1/24,fd00:10:244:12::1/64"}
    check_source(inst, "cilium", "auto")
    H.wait_published(h.cluster, list(want), want)
    H.check(True, "cilium-1: its CiliumNode's podCIDRs (IPv4 first); "
            "cilium-2 (no CiliumNode): the Cilium annotations; complete "
            "entries, nothing else")
    check_waits(h, "cilium-3", L3, "CiliumNode")

    cn1 = {"apiVersion": "cilium.io/v2", "kind": "CiliumNode",
           "metadata": {"name": "cilium-1"}}
    timed(h, L1, "10.244.11.1/24,10.244.13.1/24,fd00:10:244:11::1/64",
          "cilium-1's CiliumNode gets a third range",
          lambda: X.merge_patch(h.cluster, cn1, {"spec": {"ipam": {
              "podCIDRs": ["fd00:10:244:11::/64", "10.244.11.0/24",
                           "10.244.13.0/24"]}}}))
    n3 = h.cluster.node("cilium-3")
    timed(h, L3, "10.244.14.1/24", "cilium-3's CiliumNode created",
          lambda: X.create(h.cluster, X.cilium_node(
              "cilium-3", L3, ["10.244.14.0/24"], n3["metadata"]["uid"])))
    n2 = h.cluster.node("cilium-2")
    timed(h, L2, "10.244.15.1/24", "cilium-2's CiliumNode (wins over its "
          "annotations)", lambda: X.create(h.cluster, X.cilium_node(
              "cilium-2", L2, ["10.244.15.0/24"], n2["metadata"]["uid"])))


# --- ovn ---------------------------------------------------------------------------------
O1, O2, O3 = "203.0.113.31", "203.0.113.32", "203.0.113.33"


def ovn(h):
    # ovn-1 also has a spec.podCIDR: in this mode the annotation counts.
    h.cluster.create_node(X.node("ovn-1", O1, ["10.99.31.0/24"],
                                 X.ovn_annotations("10.244.21.0/24")))
    h.cluster.create_node(X.node("ovn-2", O2, annotations=X.ovn_annotations(
        "fd00:10:244:22::/64", "10.244.22.0/24")))
    h.cluster.create_node(X.node("ovn-3", O3))
    print(f"     annotations: {X.ovn_annotations('10.244.21.0/24')} "
          f"{X.ovn_annotations('fd00:10:244:22::/64', '10.244.22.0/24')}")
    inst = h.instance("ovn-1", env={"KCR_POD_CIDR_SOURCE": "ovn"})
    want = {"ovn-1": "10.244.21.1/24",
            "ovn-2": "10.244.22.1/24,fd00:10:244:22::1/64"}
    check_source(inst, "ovn")
    H.wait_published(h.cluster, list(want), want)
    H.check(True, "ovn-1: node-subnets as a JSON string (not its "
            "spec.podCIDR); ovn-2: as a JSON list (IPv4 first); complete "
            "entries, nothing else")
    check_waits(h, "ovn-3", O3, X.OVN_SUBNETS)
    timed(h, O3, "10.244.23.1/24", "ovn-3 annotated",
          lambda: h.cluster.patch_node("ovn-3", {"metadata": {
              "annotations": X.ovn_annotations("10.244.23.0/24")}}))
    timed(h, O1, "10.244.21.1/24,fd00:10:244:21::1/64",
          "ovn-1's node-subnets becomes a list of two",
          lambda: h.cluster.patch_node("ovn-1", {"metadata": {
              "annotations": X.ovn_annotations(
                  "10.244.21.0/24", "fd00:10:244:21::/64")}}))


# --- node -------------------------------------------------------------------------------
N = ["203.0.113.41", "203.0.113.42", "203.0.113.43", "203.0.113.44"]


def node_mode(h):
    h.cluster.create_node(X.node("plain-1", N[0], [
        "10.244.31.0/24", "fd00:10:244:31::/64"]))
    h.cluster.create_node({"metadata": {"name": "plain-2"},
                           "spec": {"podCIDR": "10.244.32.0/24"},
                           "status": X.node("plain-2", N[1])["status"]})
    h.cluster.create_node(X.node("plain-3", N[2], annotations=(
        X.cilium_annotations("10.244.33.0/24"))))
    h.cluster.create_node(X.node("plain-4", N[3], annotations=(
        X.ovn_annotations("10.244.34.0/24"))))
    want = {"plain-1": "10.244.31.1/24,fd00:10:244:31::1/64",
            "plain-2": "10.244.32.1/24", "plain-3": "10.244.33.1/24",
            "plain-4": "10.244.34.1/24"}
    inst = h.instance("plain-1", "--pod-cidr-source", "auto")
    check_source(inst, "node", "auto")
    data, _ = H.wait_published(h.cluster, list(want), want)
    H.check(True, "spec.podCIDRs (dual stack), spec.podCIDR, the Cilium "
            "and the OVN annotation: " + ", ".join(want.values()))

    # An installed but empty BlockAffinity CRD is no Calico IPAM.
    h.cluster.install_crds([X.BLOCK_AFFINITY_CRD])
    before = H.own_entries(data)
    rc, _ = H.term_and_wait(inst)
    H.check(rc == 0, "the instance stops on SIGTERM", rc)
    inst = h.instance("plain-1")
    check_source(inst, "node", "auto")
    h.cluster.create_node(X.node("plain-5", "203.0.113.45",
                                 ["10.244.35.0/24"]))
    data, _ = H.wait_for(lambda: (d := h.cluster.data()).get(
        "Node-203.0.113.45") and d, 10, "plain-5 published")
    H.check(H.own_entries(data) == dict(
        before, **H.entry_of(data, "203.0.113.45",
                             h.cluster.node("plain-5")["metadata"]["uid"])),
            "with an empty BlockAffinity CRD: the same entries, plus plain-5")


if __name__ == "__main__":
    H.run_scenario({
        "calico": (H.showing_refusals(calico), {}),
        "cilium": (H.showing_refusals(cilium), {}),
        "ovn": (H.showing_refusals(ovn), {}),
        "node": (H.showing_refusals(node_mode), {}),
    })
