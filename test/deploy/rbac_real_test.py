#!/usr/bin/env python3
"""Least privilege of deploy/kubernetes, proved on a REAL kube-apiserver, for
both workloads' ServiceAccounts (the controller's kube-chorus-router, the
agents' kube-chorus-router-agent).

1. `kubectl apply -k deploy/kubernetes` (the built kubectl, its own HOME)
   succeeds: the server validates every object (strict field validation);
   what was applied is printed and every rendered object is stored.
2. The binary runs as the controller (`--run-tunnel=false`) with a
   TokenRequest token of the controller's ServiceAccount and nothing else
   through the main scenario: seed Nodes published in the seed format, the
   Lease acquired and renewed, Events written (and one counted again), a Node
   delete handled; the audit log shows none of its requests refused.
3. One verb more than the controller needs is refused with 403, checked with
   real requests carrying its token.
4. The agents' token: 403 on the ConfigMap (get, list, watch, by name and by
   fieldSelector), on the Lease and on patching a Node; allowed to list and
   watch Nodes (its own, by fieldSelector) and to create and patch Events.
5. For each account, the effective permissions (SelfSubjectRulesReview with
   its token, minus what every authenticated user has) equal the needed set
   (manifests_rbac.EXPECTED_GRANTS); the `kubectl auth can-i --list` tables
   are printed, and so is what the binary actually used (audit log).
6. With a binary whose agent reads its own Node's annotation (--agent-binary,
   default build-agent/kube-chorus-router when present): an agent on the
   agents' token, in a network namespace of its own, converges its tunnel
   from the annotation the controller wrote, and none of its requests is
   refused. Skipped, with the reason printed, for a binary without it.

Needs the control plane built (`make controlplane`): without it, FAILS.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
# Last: its cluster.py is not the integration tests' one; netns.py is wanted.
sys.path.append(os.path.join(HERE, "..", "..", "deploy", "devcluster"))
sys.path.insert(0, HERE)
import cluster as C  # noqa: E402
import harness as H  # noqa: E402
import netns  # noqa: E402 - namespaces and sockets inside them
from shape import binary_has_agent as annotates  # noqa: E402 - held once
from manifests_expected import AGENT_SA  # noqa: E402
from rbac_requests import (AGENT_ALLOWED, AGENT_BEYOND, AGENT_USER, BEYOND, BY_NAME,  # noqa: E402
                           CM, NAME, NODES, NS, SA_USER)
from rbac_tables import check_table  # noqa: E402


def check_applied(h):
    applied = [l for l in h.cluster.applied.splitlines() if l.strip()]
    print("     kubectl apply -k deploy/kubernetes:")
    for line in applied:
        print(f"       {line}")
    rendered = C.kubectl(h.cluster.cp, h.cluster.home, "kustomize", C.DEPLOY)
    kinds = [l.split(":", 1)[1].strip() for l in rendered.splitlines()
             if l.startswith("kind:")]
    H.check(len(applied) == len(kinds) and all(
        l.endswith(" created") for l in applied),
        f"the server accepted all {len(kinds)} rendered objects "
        f"({', '.join(sorted(kinds))})", applied)
    H.check({"Deployment", "DaemonSet"} <= set(kinds),
            "both workloads are installed (Deployment and DaemonSet)", kinds)
    stored = C.kubectl(h.cluster.cp, h.cluster.home, "get", "-k", C.DEPLOY,
                       "-o", "name").split()
    H.check(len(stored) == len(kinds), "every rendered object is stored",
            stored)


def main_scenario(h):
    """The controller (`--run-tunnel=false`, the harness's default) on the
    controller's token (the cluster's binary_token)."""
    inst = h.instance("node-0000")
    H.check("--run-tunnel=false" in inst.cmd, "the binary runs as the "
            "controller (--run-tunnel=false) on the controller's token")
    nodes = h.cluster.nodes()
    H.wait_for(lambda: not H.seed_format_problems(h.cluster.data(), nodes),
               15, "5 seed nodes published")
    H.check(True, "the 5 Nodes are published in the seed format")
    holder, _ = H.wait_for(
        lambda: h.cluster.lease()["spec"].get("holderIdentity"), 10,
        "a Lease holder")
    H.check(holder.startswith("node-0000_"), "the Lease is acquired", holder)
    first = h.cluster.lease()["spec"]["renewTime"]
    H.wait_for(lambda: h.cluster.lease()["spec"]["renewTime"] != first, 10,
               "a Lease renewal")
    H.check(True, "the Lease is renewed (update)")
    events, _ = H.wait_for(lambda: [
        e for e in h.cluster.events()
        if e.get("source", {}).get("component") == NAME], 10,
        "an Event by kube-chorus-router")
    print(f"     Events: {sorted({(e['reason'], e['involvedObject']['name']) for e in events})[:6]}")
    H.check(True, "Events are written (default namespace)")
    h.cluster.delete_node("node-0002")
    H.wait_for(lambda: "Node-198.18.0.3" not in h.cluster.data(), 10,
               "node-0002's keys removed")
    H.check(True, "a Node delete is handled (its keys removed)")
    # Back with the same address: the same Event again, so the binary
    # patches the Event's count (the `patch events` it needs).
    h.cluster.create_node(C.nodegen.node("node-0002", 2))
    H.wait_for(lambda: h.cluster.data().get("Interface-198.18.0.3")
               == "192.168.254.3", 10, "node-0002 back at 192.168.254.3")
    H.check(True, "a Node added again gets its address back")
    repeated, _ = H.wait_for(lambda: [
        e for e in h.cluster.events() if e["involvedObject"]["name"]
        == "node-0002" and e.get("count", 1) >= 2], 10,
        "node-0002's Event counted twice")
    H.check(True, f"a repeated Event is counted ({repeated[0]['reason']} x"
            f"{repeated[0]['count']})")
    if annotates(h.binary):
        H.wait_for(lambda: not annotation_problems(h), 10,
                   "every Node annotated with its overlay IP")
        H.check(True, "every Node carries its ConfigMap address as "
                f"{ANNOTATION} (patch nodes)")
    H.check(inst.alive(), "the binary runs")
    mine = [r for r in h.cluster.requests() if r["user"] == SA_USER]
    refused = [r for r in mine if r["status"] in (401, 403)]
    H.check(mine and not refused, f"none of its {len(mine)} requests was "
            "refused (audit log)", refused[:5])
    inst.stop()
    return mine


ANNOTATION = "kube-chorus-router.io/overlay-ip"


def annotation_problems(h):
    data = h.cluster.data()
    out = []
    for n in h.cluster.nodes():
        want = data.get(f"Interface-{H.internal_ip(n)}")
        got = n["metadata"].get("annotations", {}).get(ANNOTATION)
        if got != want:
            out.append((n["metadata"]["name"], got, want))
    return out


def send_all(h, token, requests, bodies):
    """-> [(what, method, path, status, text)] of each request sent with
    `token`; a body named in `bodies` is that object as stored."""
    out = []
    for what, method, path, body in requests:
        body = bodies[body] if isinstance(body, str) else body
        ctype = ("application/merge-patch+json" if method == "PATCH"
                 else "application/json")
        status, text = h.cluster.cp.request(method, path, body, ctype=ctype,
                                            token=token)
        out.append((what, method, path, status, text))
    return out


def check_refused(h, who, token, requests):
    bodies = {"CM": h.cluster.configmap(), "NODE": h.cluster.node("node-0000"),
              "LEASE": h.cluster.lease()}
    allowed = []
    for what, method, path, status, text in send_all(h, token, requests,
                                                    bodies):
        ok = status == 403 and '"reason":"Forbidden"' in text
        print(f"{'ok  ' if ok else 'FAIL'} {who} refused: {what} ({method} "
              f"{path.split('?')[0]}) -> {status}")
        if not ok:
            allowed.append((what, status, text[:200]))
    H.check(not allowed, f"every request beyond the {who}'s needs is "
            "refused with 403 Forbidden", allowed)


def check_controller_beyond(h):
    token = h.cluster.binary_token
    check_refused(h, "controller", token, BEYOND)
    # The trick rbac.yaml relies on: a list/watch named by fieldSelector is
    # authorized as a request for that name.
    status, _ = h.cluster.cp.request("GET", f"{CM}?{BY_NAME}", token=token)
    H.check(status == 200, "listing its own ConfigMap by fieldSelector is "
            "allowed (resourceNames applies to it)", status)
    status, _ = h.cluster.cp.request(
        "PATCH", f"{NODES}/node-0000", {"metadata": {"annotations": {
            ANNOTATION: h.cluster.data().get("Interface-198.18.0.1")}}},
        ctype="application/merge-patch+json", token=token)
    H.check(status == 200, "the controller may patch a Node (its overlay-ip "
            "annotation)", status)


def check_agent(h, token):
    check_refused(h, "agent", token, AGENT_BEYOND)
    wrong = []
    for (what, method, path, body, want) in AGENT_ALLOWED:
        [(_, _, _, status, text)] = send_all(h, token, [(what, method, path,
                                                         body)], {})
        print(f"{'ok  ' if status == want else 'FAIL'} agent allowed: {what}"
              f" ({method} {path.split('?')[0]}) -> {status}")
        if status != want:
            wrong.append((what, status, text[:200]))
    H.check(not wrong, "an agent may list and watch Nodes (its own by "
            "fieldSelector), patch a Node's status (its condition) and "
            "create and patch Events", wrong)


AGENT_NODE, AGENT_IP, DEVICE_VTEP = "node-0000", "198.18.0.1", "198.18.0.250"


def agent_scenario(h, token):
    """The binary as an agent (`--run-publisher=false`) on the agents' token,
    in a network namespace of its own (its underlay: AGENT_IP, node-0000's
    InternalIP, on a veth), converges its tunnel from the annotation the
    controller wrote, and asks nothing but its own Node (and Events).
    -> its requests (audit log); [] when the binary has no such agent."""
    if not annotates(h.binary):
        print(f"SKIP the agent binary scenario: {h.binary} has no "
              f"agent that reads {ANNOTATION} (its --help mentions no "
              "annotation: its tunnel role watches the ConfigMap, which the "
              "agents' token may not read); the agents' token was checked "
              "with requests above", flush=True)
        return []
    if os.geteuid() != 0:
        print("SKIP the agent binary scenario: needs root (a network "
              "namespace for its tunnel)", flush=True)
        return []
    want = h.cluster.node(AGENT_NODE)["metadata"]["annotations"][ANNOTATION]
    ns, dev = f"kcr-rbac-{os.getpid()}-node", f"kcr-rbac-{os.getpid()}-dev"
    relay = None
    try:
        for n in (ns, dev):
            netns.add_ns(n)
        netns.ip(ns, "link", "add", "veth0", "type", "veth", "peer", "name",
                 "veth1", "netns", dev)
        netns.ip_batch(ns, [f"addr add {AGENT_IP}/24 dev veth0",
                            "link set veth0 up"])
        netns.ip_batch(dev, [f"addr add {DEVICE_VTEP}/24 dev veth1",
                             "link set veth1 up"])
        relay = netns.LoopbackRelay(ns, ("127.0.0.1", h.cluster.cp.port),
                                     port=h.cluster.cp.port)
        h.cluster.clear_requests()
        inst = h.instance(AGENT_NODE, "--run-publisher=false", token=token,
                          run_tunnel=True, leases=False,
                          prefix=("ip", "netns", "exec", ns),
                          remote_vtep=DEVICE_VTEP)
        H.wait_for(lambda: f"inet {want}/" in netns.ip(
            ns, "addr", "show", "dev", "routervxlan0").stdout, 15,
            f"the agent's tunnel with {want}")
        H.check(True, f"the agent converged routervxlan0 to its annotation "
                f"{want} on the agents' token")
        time.sleep(1)  # what it asks for once converged shows too
        H.check(inst.alive(), "the agent runs (nothing refused it)")
        mine = [r for r in h.cluster.requests() if r["user"] == AGENT_USER]
        refused = [r for r in mine if r["status"] in (401, 403)]
        H.check(mine and not refused, f"none of the agent's {len(mine)} "
                "requests was refused (audit log)", refused[:5])
        own = f"metadata.name%3D{AGENT_NODE}"
        wide = [(r["verb"], r["path"], r["query"]) for r in mine
                if r["resource"] == "nodes" and own not in r["query"]
                .replace("=", "%3D")]
        H.check(not wide, "the agent lists and watches only its own Node "
                "(fieldSelector=metadata.name)", wide[:5])
        inst.stop()
        return mine
    finally:
        if relay:
            relay.close()
        for n in (ns, dev):
            netns.delete_ns(n)


def body(h):
    check_applied(h)
    mine = main_scenario(h)
    check_controller_beyond(h)
    check_table(h, NAME, SA_USER, h.cluster.binary_token, mine)
    agent_token = h.cluster.cp.token(AGENT_SA, NS)
    check_agent(h, agent_token)
    agent_requests = agent_scenario(h, agent_token)
    check_table(h, AGENT_SA, AGENT_USER, agent_token, agent_requests)


if __name__ == "__main__":
    H.run_test(body, seed_nodes=5)
