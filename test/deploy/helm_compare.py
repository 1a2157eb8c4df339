"""Step 3 of helm_test.py: the chart's rendering against the kustomize
install's, object by object (RBAC rules and bindings, workload and pod specs,
the PodDisruptionBudget, the settings), and broken copies that comparison must
catch."""

import copy
import json

from deploycheck import Checker, find
from manifests_expected import AGENT_SA, NAME, NAMESPACE, SETTINGS


def settings_name(o):
    n = o["metadata"]["name"]
    return SETTINGS if o["kind"] == "ConfigMap" and n.startswith(SETTINGS) else n


def by_key(objs):
    return {(o["kind"], o["metadata"].get("namespace", ""), settings_name(o)): o for o in objs}


def canonical_rules(rules):
    return sorted(json.dumps(r, sort_keys=True) for r in rules)


def pod_spec(o):
    """The pod spec with the settings ConfigMap's (hashed) name made plain."""
    spec = copy.deepcopy(o["spec"]["template"]["spec"])
    for ctr in spec.get("containers", []):
        for e in ctr.get("envFrom", []):
            if "configMapRef" in e and e["configMapRef"]["name"].startswith(SETTINGS):
                e["configMapRef"]["name"] = SETTINGS
    return spec


def diff(c, label, got, want, path=""):
    """One failure per differing leaf: where, the chart's, kustomize's."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            diff(c, label, got.get(k), want.get(k), "%s.%s" % (path, k))
    elif isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want)):
            diff(c, label, g, w, "%s[%d]" % (path, i))
    else:
        c.expect(got == want, "%s%s: chart %s, kustomize %s" % (label, path, json.dumps(got), json.dumps(want)))


def subset(c, label, got, want):
    for k, v in (want or {}).items():
        c.expect((got or {}).get(k) == v, "%s: %s=%r, kustomize has %r" % (label, k, (got or {}).get(k), v))


def compare(chart_objs, kustomize_objs):
    """The chart's rendering against kustomize's -> failures."""
    c = Checker()
    mine, theirs = by_key(chart_objs), by_key(kustomize_objs)
    for k in sorted(set(mine) ^ set(theirs)):
        c.expect(False, "%s %s/%s only in the %s" % (k[0], k[1], k[2], "chart" if k in mine else "kustomize install"))
    for k in sorted(set(mine) & set(theirs)):
        a, b = mine[k], theirs[k]
        label = "%s %s/%s" % k
        subset(c, label + " labels", a["metadata"].get("labels"), b["metadata"].get("labels"))
        if k[0] in ("Role", "ClusterRole"):
            c.expect(canonical_rules(a.get("rules", [])) == canonical_rules(b.get("rules", [])),
                     "%s: rules %s, kustomize %s" % (label, json.dumps(a.get("rules")), json.dumps(b.get("rules"))))
        elif k[0] in ("RoleBinding", "ClusterRoleBinding"):
            diff(c, label, {"roleRef": a["roleRef"], "subjects": a["subjects"]},
                 {"roleRef": b["roleRef"], "subjects": b["subjects"]})
        elif k[0] in ("Deployment", "DaemonSet"):
            rest = lambda o: {x: y for x, y in o["spec"].items() if x != "template"}  # noqa: E731
            diff(c, label + " spec", rest(a), rest(b))
            diff(c, label + " pod", pod_spec(a), pod_spec(b))
            ma, mb = a["spec"]["template"]["metadata"], b["spec"]["template"]["metadata"]
            subset(c, label + " pod labels", ma.get("labels"), mb.get("labels"))
            subset(c, label + " pod annotations", ma.get("annotations"), mb.get("annotations"))
        elif k[0] == "PodDisruptionBudget":
            diff(c, label + " spec", a["spec"], b["spec"])
        elif k[0] == "ConfigMap":
            want = dict(b.get("data", {}), KCR_CONFIGMAP_NAME=NAME, KCR_CONFIGMAP_NAMESPACE=NAMESPACE)
            diff(c, label + " data", a.get("data", {}), want)
    return c.failures


def container_of(objs, kind):
    return find(objs, kind)[0]["spec"]["template"]["spec"]["containers"][0]


# Broken copies of the chart's objects the comparison must catch.
COMPARE_MUTATIONS = [
    ("extra verb", lambda o: find(o, "ClusterRole", name=AGENT_SA)[0]["rules"][0]["verbs"].append("get")),
    ("no ciliumnodes", lambda o: find(o, "ClusterRole", name=NAME)[0]["rules"].pop()),
    ("subject namespace", lambda o: find(o, "RoleBinding", name=NAME)[0]["subjects"][0].update(namespace="x")),
    ("agent probe", lambda o: container_of(o, "DaemonSet")["readinessProbe"].update(periodSeconds=1)),
    ("ctl env", lambda o: container_of(o, "Deployment")["env"].pop()),
    ("agent caps", lambda o: container_of(o, "DaemonSet")["securityContext"]["capabilities"]["add"].append("SYS_ADMIN")),
    ("ctl port", lambda o: container_of(o, "Deployment")["ports"][1].update(containerPort=9090)),
    ("ctl args", lambda o: container_of(o, "Deployment")["args"].append("--leader-elect=false")),
    ("no pdb", lambda o: o.remove(find(o, "PodDisruptionBudget")[0])),
    ("setting", lambda o: find(o, "ConfigMap")[0]["data"].update(VNID="2")),
    ("ds selector", lambda o: find(o, "DaemonSet")[0]["spec"]["selector"]["matchLabels"].update(x="y")),
]

