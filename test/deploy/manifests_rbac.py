"""Least-privilege RBAC of deploy/kubernetes: the grant tables each
ServiceAccount must have exactly (rbac_real_test.py checks the same tables on
a real server) and the checks that read the grants from the rendered roles
and bindings."""

from manifests_expected import ACCOUNTS, AGENT_SA, NAME, NAMESPACE
from deploycheck import key

# Every permission each workload needs (kube/api_client.cpp), and nothing else:
# (namespace or "" for cluster-wide, apiGroup, resource, verb) -> resourceNames
# (None = any name). create cannot be limited by name; list/watch of the
# ConfigMap can, because the controller always sends fieldSelector=metadata.name.
EVENTS = {
    ("default", "", "events", "create"): None,
    ("default", "", "events", "patch"): None,
}
CONTROLLER_GRANTS = {
    ("", "", "nodes", "list"): None,
    ("", "", "nodes", "watch"): None,
    # The overlay-ip annotation on each Node (a merge patch of its metadata).
    ("", "", "nodes", "patch"): None,
    # A single process with both roles keeps its Node's ChorusTunnelReady.
    ("", "", "nodes/status", "patch"): None,
    # Pod ranges of Calico IPAM and Cilium cluster-pool (--pod-cidr-source).
    ("", "crd.projectcalico.org", "blockaffinities", "list"): None,
    ("", "crd.projectcalico.org", "blockaffinities", "watch"): None,
    ("", "cilium.io", "ciliumnodes", "list"): None,
    ("", "cilium.io", "ciliumnodes", "watch"): None,
    (NAMESPACE, "", "configmaps", "get"): (NAME,),
    (NAMESPACE, "", "configmaps", "list"): (NAME,),
    (NAMESPACE, "", "configmaps", "watch"): (NAME,),
    (NAMESPACE, "", "configmaps", "patch"): (NAME,),
    (NAMESPACE, "", "configmaps", "create"): None,
    (NAMESPACE, "coordination.k8s.io", "leases", "get"): (NAME,),
    (NAMESPACE, "coordination.k8s.io", "leases", "update"): (NAME,),
    (NAMESPACE, "coordination.k8s.io", "leases", "create"): None,
    **EVENTS,
}
# An agent watches its own Node (fieldSelector=metadata.name=<node>: list +
# watch, not limitable by name in one DaemonSet) and writes Events.
AGENT_GRANTS = {
    ("", "", "nodes", "list"): None,
    ("", "", "nodes", "watch"): None,
    # Its Node's condition ChorusTunnelReady (strategic merge of the status).
    ("", "", "nodes/status", "patch"): None,
    **EVENTS,
}
# ServiceAccount name -> its grants (rbac_real_test.py checks the same tables
# on a real server).
EXPECTED_GRANTS = {NAME: CONTROLLER_GRANTS, AGENT_SA: AGENT_GRANTS}


def rbac_grants(c, objs):
    """-> {ServiceAccount name: {(namespace, group, resource, verb): names}}
    from the bindings; each binding must name exactly one of our accounts."""
    roles = {key(o): o for o in objs if o["kind"] in ("Role", "ClusterRole")}
    for r in roles.values():
        label = "%s %s" % (r["kind"], r["metadata"]["name"])
        for rule in r.get("rules", []):
            for field in ("verbs", "resources", "apiGroups", "resourceNames"):
                c.expect("*" not in rule.get(field, []), "%s: '*' in %s" % (label, field))
            c.expect(not rule.get("nonResourceURLs"), "%s: nonResourceURLs" % label)
        c.expect(not r.get("aggregationRule"), "%s: aggregationRule" % label)

    grants = {sa: {} for sa in ACCOUNTS}
    for b in objs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        label = "%s %s" % (b["kind"], b["metadata"]["name"])
        subjects = [(s.get("kind"), s.get("namespace", ""), s.get("name")) for s in b.get("subjects", [])]
        if not c.expect(
            len(subjects) == 1 and subjects[0][:2] == ("ServiceAccount", NAMESPACE) and subjects[0][2] in ACCOUNTS,
            "%s: subjects %r, want one of the ServiceAccounts %s" % (label, subjects, sorted(ACCOUNTS)),
        ):
            continue
        ref = b["roleRef"]
        if b["kind"] == "ClusterRoleBinding":
            c.expect(ref["kind"] == "ClusterRole", "%s binds a %s" % (label, ref["kind"]))
        bns = b["metadata"].get("namespace", "")
        role = roles.get((ref["kind"], bns if ref["kind"] == "Role" else "", ref["name"]))
        if not c.expect(role is not None, "%s: roleRef %s %s not rendered" % (label, ref["kind"], ref["name"])):
            continue
        mine = grants[subjects[0][2]]
        for rule in role.get("rules", []):
            names = tuple(sorted(rule["resourceNames"])) if rule.get("resourceNames") else None
            for g in rule.get("apiGroups", []):
                for res in rule.get("resources", []):
                    for v in rule.get("verbs", []):
                        k = (bns, g, res, v)
                        # Rules granting the same verb add up: any name wins over a list.
                        if k not in mine:
                            mine[k] = names
                        elif mine[k] is not None:
                            mine[k] = None if names is None else tuple(sorted(set(mine[k]) | set(names)))
    return grants


def compare_grants(c, who, grants, expected):
    """One failure per grant that differs from the table."""
    for k in sorted(set(grants) | set(expected)):
        where = k[0] or "cluster-wide"
        what = "%s: %s %s/%s in %s" % (who, k[3], k[1] or "core", k[2], where)
        if k not in expected:
            c.expect(False, "extra permission: " + what)
        elif k not in grants:
            c.expect(False, "missing permission: " + what)
        else:
            c.expect(grants[k] == expected[k], "%s: resourceNames %r, want %r" % (what, grants[k], expected[k]))


def check_rbac(c, objs):
    grants = rbac_grants(c, objs)
    for sa, role in ACCOUNTS.items():
        compare_grants(c, "%s (ServiceAccount %s)" % (role, sa), grants[sa], EXPECTED_GRANTS[sa])
    # A single process running both roles runs as the controller's account.
    agent_only = {k for k, v in grants[AGENT_SA].items() if grants[NAME].get(k, 0) != v}
    c.expect(not agent_only, "the controller's account lacks agent grants %r (single-process mode)" % sorted(agent_only))

