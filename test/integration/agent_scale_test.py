"""Integration (real control plane, root): the two workloads of issue 12.

One publisher (--run-tunnel=false, the shipped controller ServiceAccount) and
one agent (--run-publisher=false, --run-tunnel, the shipped agent
ServiceAccount) against the real kube-apiserver. The agent runs in a network
namespace the test creates (a veth link holds its Node's InternalIP), so its
VXLAN interface is real and checked in the kernel; it reaches the API server
through a TCP proxy whose listening socket lives in that namespace (a process
in a netns cannot reach the host's 127.0.0.1).

Proves, from the API server's audit log and the kernel:
  - the agent never lists or watches all Nodes (every Node request carries
    fieldSelector=metadata.name=<its node>), never touches the ConfigMap or
    the Lease, and makes no other request than that and Events;
  - its own entry arrives: its interface carries the overlay IP the ConfigMap
    publishes for it (MAC derived from it), which is its Node's annotation;
  - hand edits of its annotation (another address, one outside the overlay
    network, a removal) are repaired by the publisher; the invalid one is
    refused by the agent with a Warning Event; the tunnel never moves;
  - with Nodes added and deleted meanwhile: every Node's annotation equals
    its ConfigMap entry, addresses are distinct, no allocation changed.
Exit 77 (skipped) with the reason when not root or the kernel lacks veth or
vxlan links."""

import json
import os
import sys

import harness as H

# Last, so that test/integration's cluster.py wins over the dev cluster's.
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "..", "deploy", "devcluster"))
import netns as nsutil  # noqa: E402 - LoopbackRelay, held once

ANNOTATION = "kube-chorus-router.io/overlay-ip"
AGENT_NODE, AGENT_IP, VTEP = "node-agent", "198.51.100.10", "198.51.100.1"
IFNAME = "routervxlan0"
AGENT_SA = "kube-chorus-router-agent"
NS = "kube-system"
DEADLINE = 15.0  # seconds for anything to converge on 2 busy cores


def make_netns(name):
    """The agent's node: `lo` up, veth0 holding AGENT_IP/24 (its peer veth1
    in the same namespace: nothing leaves it). Skips when the kernel cannot
    make veth or vxlan links."""
    H.sh("ip", "netns", "add", name)
    H.sh("ip", "-n", name, "link", "set", "lo", "up")
    r = H.sh("ip", "-n", name, "link", "add", "veth0", "type", "veth", "peer",
           "name", "veth1", check=False)
    if r.returncode != 0:
        raise SkipTest(f"cannot create a veth pair: {r.stderr.strip()}")
    H.sh("ip", "-n", name, "addr", "add", f"{AGENT_IP}/24", "dev", "veth0")
    for link in ("veth0", "veth1"):
        H.sh("ip", "-n", name, "link", "set", link, "up")
    r = H.sh("ip", "-n", name, "link", "add", "kcrprobe0", "type", "vxlan",
           "id", "9", "dstport", "4789", "dev", "veth0", check=False)
    if r.returncode != 0:
        raise SkipTest(f"the kernel cannot create vxlan links: "
                       f"{r.stderr.strip()}")
    H.sh("ip", "-n", name, "link", "del", "kcrprobe0")


class SkipTest(Exception):
    pass


def kernel_overlay(netns):
    """(overlay address with prefix, MAC) of the agent's interface, or None."""
    r = H.sh("ip", "-n", netns, "-j", "addr", "show", "dev", IFNAME,
           check=False)
    if r.returncode != 0:
        return None
    links = json.loads(r.stdout or "[]")
    if not links:
        return None
    addrs = [f"{a['local']}/{a['prefixlen']}" for a in
             links[0].get("addr_info", []) if a.get("family") == "inet"]
    return (addrs[0] if addrs else None, links[0].get("address"))


def annotations(h):
    return {n["metadata"]["name"]:
            (n["metadata"].get("annotations") or {}).get(ANNOTATION)
            for n in h.cluster.nodes()}


def published(h):
    """Node name -> overlay IP as the ConfigMap publishes it."""
    d = h.cluster.data()
    return {name: d.get(f"Interface-{k[len('Name-'):]}")
            for k, name in d.items() if k.startswith("Name-")}


def mirrored(h):
    """The ConfigMap's entries when every Node's annotation equals its entry
    and the entries cover every Node; else None."""
    pub, ann = published(h), annotations(h)
    return pub if pub and pub == ann else None


def annotate(h, value):
    h.cluster.patch_node(AGENT_NODE,
                         {"metadata": {"annotations": {ANNOTATION: value}}})


def body(h, netns):
    cp = h.cluster.cp
    h.cluster.add_node(AGENT_NODE, AGENT_IP, "10.244.200.0/24")
    h.cluster.create_nodes(20, "node-")
    proxy = nsutil.LoopbackRelay(netns, (cp.host, cp.port))
    try:
        run(h, netns, proxy)
    finally:
        proxy.close()


def run(h, netns, proxy):
    cp = h.cluster.cp
    h.cluster.clear_requests()
    h.instance("publisher-0", run_tunnel=False)
    truth, secs = H.wait_for(lambda: mirrored(h), DEADLINE,
                             "21 Nodes published and annotated")
    print(f"     published and annotated in {secs:.1f} s")
    H.check(not H.seed_format_problems(h.cluster.data(), h.cluster.nodes()),
            "the ConfigMap is in the seed format with distinct addresses")
    mine = truth[AGENT_NODE]

    agent = h.instance(
        AGENT_NODE, "--run-publisher=false", run_tunnel=True, leases=False,
        endpoints=False, remote_vtep=VTEP,
        token=cp.token(AGENT_SA, NS),
        prefix=("ip", "netns", "exec", netns),
        server=f"https://127.0.0.1:{proxy.port}")
    want = (f"{mine}/24", H.mac_of(mine))
    _, secs = H.wait_for(lambda: kernel_overlay(netns) == want, DEADLINE,
                         f"the agent's {IFNAME} carries {want}")
    print(f"     converged {secs:.1f} s after start")
    H.check(True, f"its own entry arrived: {IFNAME} has {want[0]}, MAC "
            f"{want[1]} (the ConfigMap's entry, read from its annotation)")

    # Hand edits of its annotation: repaired by the publisher. The agent
    # trusts a valid value while it is there (until the repair, a fraction of
    # a second), refuses an invalid one, keeps its tunnel on a removal.
    for what, value in (("another address", "192.168.254.200"),
                        ("an address outside the overlay network",
                         "10.9.9.9"),
                        ("a removal", None)):
        annotate(h, value)
        H.wait_for(lambda: annotations(h)[AGENT_NODE] == mine, DEADLINE,
                   f"the publisher to repair {what}")
        H.wait_for(lambda: kernel_overlay(netns) == want, DEADLINE,
                   f"the agent's tunnel back at {want[0]} after {what}")
        H.check(True, f"hand edit ({what}) of the annotation repaired; "
                f"the tunnel is at {want[0]}")
    reasons = [e.get("reason") for e in h.cluster.events()
               if (e.get("involvedObject") or {}).get("name") == AGENT_NODE]
    H.check("OverlayAnnotationInvalid" in reasons,
            "the agent refused 10.9.9.9 with a Warning Event "
            "OverlayAnnotationInvalid", reasons)
    H.check("outside the overlay network" in agent.logs(),
            "the agent's log names the refused value's problem")

    # Churn around the agent: Nodes come and go.
    h.cluster.create_nodes(10, "node-")
    for name in ("node-0001", "node-0003", "node-0005", "node-0007",
                 "node-0009"):
        h.cluster.delete_node(name)
    final, _ = H.wait_for(
        lambda: (m := mirrored(h)) and len(m) == 26 and m, DEADLINE,
        "26 Nodes published and annotated after adds and deletes")
    H.check(not H.seed_format_problems(h.cluster.data(), h.cluster.nodes()),
            "still the seed format, addresses distinct (no duplicate)")
    kept = {n: ip for n, ip in truth.items() if n in final}
    H.check(all(final[n] == ip for n, ip in kept.items()),
            "no allocation changed for the Nodes that stayed (none lost)",
            {n: (ip, final[n]) for n, ip in kept.items() if final[n] != ip})
    H.check(kernel_overlay(netns) == want, "the agent's tunnel never moved")

    check_agent_requests(h)


def check_agent_requests(h):
    user = f"system:serviceaccount:{NS}:{AGENT_SA}"
    mine = [r for r in h.cluster.requests() if r["user"] == user]
    H.check(mine, "the audit log has the agent's requests", len(mine))
    nodes = [r for r in mine if r["resource"] == "nodes"]
    selector = f"fieldSelector=metadata.name%3D{AGENT_NODE}"
    H.check(nodes and all(r["verb"] in ("list", "watch") for r in nodes),
            "the agent only lists and watches Nodes",
            sorted({r["verb"] for r in nodes}))
    H.check(all(selector in r["query"] for r in nodes),
            "every Node request of the agent names its own Node only",
            [r["query"] for r in nodes if selector not in r["query"]][:3])
    other = sorted({(r["verb"], r["resource"]) for r in mine
                    if r["resource"] != "nodes"})
    H.check(all(res == "events" for _, res in other),
            "no ConfigMap, no Lease, nothing else: only Events", other)
    H.check(all(r["status"] in (200, 201) for r in mine),
            "every request of the agent was allowed by its RBAC",
            [(r["verb"], r["resource"], r["status"]) for r in mine
             if r["status"] not in (200, 201)][:5])


def main():
    if os.geteuid() != 0:
        H.skip("needs root (a network namespace and a VXLAN link)")
    netns = f"kcr-a-{os.getpid()}-node"
    try:
        try:
            make_netns(netns)
        except SkipTest as e:
            H.skip(str(e))
        H.run_test(lambda h: body(h, netns))
    finally:
        H.sh("ip", "netns", "del", netns, check=False)


if __name__ == "__main__":
    main()
