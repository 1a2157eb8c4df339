#!/usr/bin/env python3
"""Least privilege of deploy/kubernetes, proved on a REAL kube-apiserver.

1. `kubectl apply -k deploy/kubernetes` (the built kubectl, its own HOME)
   succeeds: the server validates every object (strict field validation);
   what was applied is printed and every rendered object is stored.
2. The binary runs with a TokenRequest token of the shipped ServiceAccount
   and nothing else through the main scenario: seed Nodes published in the
   seed format, the Lease acquired and renewed, Events written (and one
   counted again), a Node delete handled;
   the audit log shows none of its requests refused.
3. One verb more than the product needs is refused with 403, checked with
   real requests carrying the ServiceAccount's token.
4. The effective permissions (SelfSubjectRulesReview with that token, minus
   what every authenticated user has) equal the needed set
   (manifests_test.EXPECTED_GRANTS); the `kubectl auth can-i --list` tables
   are printed, and so is what the binary actually used (audit log).

Needs the control plane built (`make controlplane`): without it, FAILS.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import cluster as C  # noqa: E402
import harness as H  # noqa: E402
from manifests_test import EXPECTED_GRANTS  # noqa: E402 - the needed set, held once

NS, NAME, SA_USER = C.NS, C.NAME, C.SA_USER
CORE = "/api/v1"
CM = f"{CORE}/namespaces/{NS}/configmaps"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
# Namespaces to read the effective rules in; kube-public has no Role of
# the product: what shows there is cluster-wide.
REVIEWED = (NS, "default", "kube-public")

# Requests one step beyond what the product does, with the SA's token:
# (what, method, path, body). Each must be refused with 403.
BEYOND = [
    ("delete its ConfigMap", "DELETE", f"{CM}/{NAME}", None),
    ("update (PUT) its ConfigMap", "PUT", f"{CM}/{NAME}", "CM"),
    ("get another ConfigMap in kube-system", "GET", f"{CM}/other", None),
    ("list every ConfigMap in kube-system", "GET", CM, None),
    ("watch every ConfigMap in kube-system", "GET", CM + "?watch=true&"
     "timeoutSeconds=1", None),
    ("list ConfigMaps cluster-wide", "GET", f"{CORE}/configmaps", None),
    ("get a Node by name", "GET", f"{CORE}/nodes/node-0000", None),
    ("patch a Node", "PATCH", f"{CORE}/nodes/node-0000",
     {"metadata": {"labels": {"x": "y"}}}),
    ("update (PUT) a Node", "PUT", f"{CORE}/nodes/node-0000", "NODE"),
    ("patch a Node's status", "PATCH", f"{CORE}/nodes/node-0000/status",
     {"status": {"conditions": []}}),
    ("delete a Node", "DELETE", f"{CORE}/nodes/node-0000", None),
    ("create a Node", "POST", f"{CORE}/nodes",
     C.node_object("intruder", "203.0.113.250", "10.250.0.0/24")),
    ("list Secrets in kube-system", "GET", f"{CORE}/namespaces/{NS}/secrets",
     None),
    ("get a Secret", "GET", f"{CORE}/namespaces/{NS}/secrets/any", None),
    ("patch its Lease", "PATCH", f"{LEASES}/{NAME}",
     {"spec": {"holderIdentity": "x"}}),
    ("delete its Lease", "DELETE", f"{LEASES}/{NAME}", None),
    ("get another Lease", "GET", f"{LEASES}/other", None),
    ("list Leases", "GET", LEASES, None),
    ("list Events in default", "GET", f"{CORE}/namespaces/default/events",
     None),
    ("create an Event in kube-system", "POST",
     f"{CORE}/namespaces/{NS}/events", {"metadata": {"name": "e.1"},
                                        "involvedObject": {"kind": "Node",
                                                           "name": "x"}}),
    ("create a ConfigMap in default", "POST",
     f"{CORE}/namespaces/default/configmaps",
     {"metadata": {"name": "x"}, "data": {}}),
    ("list Pods", "GET", f"{CORE}/pods", None),
]


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
    stored = C.kubectl(h.cluster.cp, h.cluster.home, "get", "-k", C.DEPLOY,
                       "-o", "name").split()
    H.check(len(stored) == len(kinds), "every rendered object is stored",
            stored)


def main_scenario(h):
    inst = h.instance("node-0000")
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
    H.check(inst.alive(), "the binary runs")
    mine = [r for r in h.cluster.requests() if r["user"] == SA_USER]
    refused = [r for r in mine if r["status"] in (401, 403)]
    H.check(mine and not refused, f"none of its {len(mine)} requests was "
            "refused (audit log)", refused[:5])
    inst.stop()
    return mine


def check_beyond(h):
    token = h.cluster.binary_token
    cm = h.cluster.configmap()
    node = h.cluster.node("node-0000")
    bodies = {"CM": cm, "NODE": node}
    allowed = []
    for what, method, path, body in BEYOND:
        body = bodies.get(body, body) if isinstance(body, str) else body
        ctype = ("application/merge-patch+json" if method == "PATCH"
                 else "application/json")
        status, text = h.cluster.cp.request(method, path, body, ctype=ctype,
                                            token=token)
        ok = status == 403 and '"reason":"Forbidden"' in text
        print(f"{'ok  ' if ok else 'FAIL'} refused: {what} ({method} "
              f"{path.split('?')[0]}) -> {status}")
        if not ok:
            allowed.append((what, status, text[:200]))
    H.check(not allowed, "every request beyond the product's needs is "
            "refused with 403 Forbidden", allowed)
    # The trick rbac.yaml relies on: a list/watch named by fieldSelector is
    # authorized as a request for that name.
    status, _ = h.cluster.cp.request(
        "GET", f"{CM}?fieldSelector=metadata.name%3D{NAME}", token=token)
    H.check(status == 200, "listing its own ConfigMap by fieldSelector is "
            "allowed (resourceNames applies to it)", status)


def rules_of(h, token, ns):
    """SelfSubjectRulesReview -> {(group, resource, verb): names or None}."""
    ssrr = h.cluster.cp.api("POST", "/apis/authorization.k8s.io/v1/"
                            "selfsubjectrulesreviews", {
                                "apiVersion": "authorization.k8s.io/v1",
                                "kind": "SelfSubjectRulesReview",
                                "spec": {"namespace": ns}}, token=token)
    out = {}
    for r in ssrr["status"]["resourceRules"]:
        names = r.get("resourceNames")
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    k = (g, res, v)
                    if names and out.get(k, ()) is not None:
                        out[k] = tuple(sorted(set(out.get(k, ())) | set(names)))
                    else:
                        out[k] = None
    return out


def effective_grants(h):
    """The product's grants as EXPECTED_GRANTS spells them: (namespace or ""
    for cluster-wide, group, resource, verb) -> resourceNames or None."""
    token = h.cluster.binary_token
    nobody = h.cluster.cp.token("kcr-rbac-nobody", NS)  # no binding at all
    per_ns = {}
    for ns in REVIEWED:
        base = rules_of(h, nobody, ns)
        per_ns[ns] = {k: v for k, v in rules_of(h, token, ns).items()
                      if k not in base}
    wide = per_ns["kube-public"]
    grants = {("",) + k: v for k, v in wide.items()}
    for ns in (NS, "default"):
        for k, v in per_ns[ns].items():
            if wide.get(k, 0) != v:
                grants[(ns,) + k] = v
    return grants


def print_can_i(h):
    for ns in (NS, "default"):
        out = C.kubectl(h.cluster.cp, h.cluster.home, "auth", "can-i",
                        "--list", f"--as={SA_USER}", "-n", ns)
        print(f"     kubectl auth can-i --list --as={SA_USER} -n {ns}:")
        for line in out.splitlines():
            print(f"       {line}")


def print_table(grants, used):
    print(f"     {'namespace':<12} {'resource':<32} {'verb':<7} "
          f"{'names':<20} used by the binary")
    for k in sorted(grants, key=lambda k: (k[0], k[2], k[3])):
        ns, g, res, verb = k
        names = ",".join(grants[k]) if grants[k] else "*"
        print(f"     {ns or '(cluster)':<12} {res + ('.' + g if g else ''):<32}"
              f" {verb:<7} {names:<20} {'yes' if k in used else 'no'}")


def used_grants(requests):
    """The (namespace, group, resource, verb) the binary's requests used."""
    return {(r["namespace"], r["group"], r["resource"], r["verb"])
            for r in requests if r["resource"] and not r["subresource"]}


def body(h):
    check_applied(h)
    mine = main_scenario(h)
    check_beyond(h)
    print_can_i(h)
    grants = effective_grants(h)
    used = used_grants(mine)
    print("     effective permissions of the ServiceAccount "
          "(SelfSubjectRulesReview minus an unbound ServiceAccount's):")
    print_table(grants, used)
    extra = {k: v for k, v in grants.items() if EXPECTED_GRANTS.get(k, 0) != v}
    missing = {k: v for k, v in EXPECTED_GRANTS.items() if k not in grants}
    H.check(not extra and not missing, "the effective permissions equal the "
            "needed set (test/deploy/manifests_test.py EXPECTED_GRANTS)",
            {"extra or different": extra, "missing": missing})
    # A cluster-wide grant covers the same request in every namespace.
    beyond = sorted(k for k in used
                    if k not in grants and ("",) + k[1:] not in grants)
    H.check(not beyond, "the binary used only granted permissions", beyond)


if __name__ == "__main__":
    H.run_test(body, seed_nodes=5)
