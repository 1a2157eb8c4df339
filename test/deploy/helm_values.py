"""Step 4 of helm_test.py: the chart rendered with other values (release and
ConfigMap namespaces, names, ports, an image digest, PodMonitor and
PrometheusRule on): every object where it should be, the grants still the
table's, the monitoring objects right; and broken copies check_alt must catch."""

import json
import os
import re

from deploycheck import SOURCE_DIR, Checker, find, key, labels_match
from helm_compare import container_of
from manifests_expected import NAME, NAMESPACE
from manifests_rbac import check_rbac

TELEMETRY = os.path.join(SOURCE_DIR, "actors", "telemetry.cpp")
# The kustomize install's settings.env values: the two renderings must agree.
REQUIRED = ["--set", "network=192.168.254.0/24", "--set", "remoteVtep=192.0.2.10"]
# Step 4: everything that can move, moved.
ALT_NS, ALT_CM_NS, ALT_CM = "kcr-system", "kcr-published", "kcr-cm"
ALT_HEALTH, ALT_METRICS = 21244, 21245
DIGEST = "sha256:" + "ab" * 32
ALT = REQUIRED + [
    "--set", f"configMap.namespace={ALT_CM_NS}", "--set", f"configMap.name={ALT_CM}",
    "--set", f"ports.health={ALT_HEALTH}", "--set", f"ports.metrics={ALT_METRICS}",
    "--set", "image.repository=registry.example/kcr", "--set", f"image.digest={DIGEST}",
    "--set", "podMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
    "--set", "podMonitor.interval=30s",
]
# Alerts the issue asks for (no leader, refused pod ranges, ConfigMap size, sync errors).
ALERTS = {"KubeChorusRouterNoLeader", "KubeChorusRouterPodRangeRefused",
          "KubeChorusRouterConfigMapNearLimit", "KubeChorusRouterSyncErrors"}


def registered_metrics():
    with open(TELEMETRY, encoding="utf-8") as f:
        return set(re.findall(r'"(kube_chorus_router_[a-z0-9_]+)"', f.read()))


def check_alt(objs):
    c = Checker()
    expected_ns = {"ServiceAccount": ALT_NS, "ConfigMap": ALT_NS, "Deployment": ALT_NS, "DaemonSet": ALT_NS,
                   "PodDisruptionBudget": ALT_NS, "PodMonitor": ALT_NS, "PrometheusRule": ALT_NS}
    for o in objs:
        kind, ns, name = key(o)
        if kind in expected_ns:
            c.expect(ns == expected_ns[kind], "%s %s in %r, want %s" % (kind, name, ns, expected_ns[kind]))
        elif kind in ("Role", "RoleBinding"):
            want = "default" if name.endswith("-events") else ALT_CM_NS
            c.expect(ns == want, "%s %s in %r, want %s" % (kind, name, ns, want))
        for s in o.get("subjects", []):
            c.expect(s.get("namespace") == ALT_NS, "%s %s: subject %r not in %s" % (kind, name, s, ALT_NS))
    roles = find(objs, "Role", ALT_CM_NS, NAME)
    if c.expect(len(roles) == 1, "no ConfigMap/Lease Role in %s" % ALT_CM_NS):
        names = {r.get("resourceNames", [None])[0] for r in roles[0]["rules"]}
        c.expect(names == {ALT_CM, None}, "ConfigMap/Lease Role resourceNames %r, want %s" % (names, ALT_CM))
    data = find(objs, "ConfigMap", ALT_NS)[0]["data"]
    c.expect((data.get("KCR_CONFIGMAP_NAME"), data.get("KCR_CONFIGMAP_NAMESPACE")) == (ALT_CM, ALT_CM_NS),
             "settings KCR_CONFIGMAP_NAME/NAMESPACE %r/%r, want %s/%s" % (
                 data.get("KCR_CONFIGMAP_NAME"), data.get("KCR_CONFIGMAP_NAMESPACE"), ALT_CM, ALT_CM_NS))
    # The grants, with the configured names mapped back, are the table's.
    text = json.dumps(objs)
    for a, b in ((ALT_NS, NAMESPACE), (ALT_CM_NS, NAMESPACE), (ALT_CM, NAME)):
        text = text.replace('"%s"' % a, '"%s"' % b)
    check_rbac(c, json.loads(text))
    pods = {}
    for kind in ("Deployment", "DaemonSet"):
        w = find(objs, kind)[0]
        tpl, ctr = w["spec"]["template"], w["spec"]["template"]["spec"]["containers"][0]
        pods[kind] = tpl["metadata"]["labels"]
        c.expect(ctr["image"] == "registry.example/kcr@" + DIGEST, "%s image %r" % (kind, ctr["image"]))
        ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
        env = {e["name"]: e.get("value") for e in ctr["env"]}
        c.expect(ports == {"health": ALT_HEALTH, "metrics": ALT_METRICS}, "%s ports %r" % (kind, ports))
        c.expect(env.get("KCR_HEALTH_ADDR") == "0.0.0.0:%d" % ALT_HEALTH
                 and env.get("KCR_METRICS_ADDR") == "0.0.0.0:%d" % ALT_METRICS, "%s addresses %r" % (kind, env))
        c.expect(tpl["metadata"]["annotations"].get("prometheus.io/port") == str(ALT_METRICS),
                 "%s prometheus.io/port %r" % (kind, tpl["metadata"]["annotations"].get("prometheus.io/port")))
    check_podmonitor(c, objs, pods)
    check_rules(c, objs)
    return c.failures


def selects(selector, labels):
    ok = labels_match(selector, labels)
    for e in selector.get("matchExpressions", []):
        ok = ok and e["operator"] == "In" and labels.get(e["key"]) in e["values"]
    return ok


def check_podmonitor(c, objs, pod_labels):
    pms = find(objs, "PodMonitor", ALT_NS)
    if not c.expect(len(pms) == 1, "want one PodMonitor, got %d" % len(pms)):
        return
    spec = pms[0]["spec"]
    for kind, labels in pod_labels.items():
        c.expect(selects(spec["selector"], labels), "PodMonitor does not select the %s's pods" % kind)
    c.expect(spec.get("namespaceSelector") == {"matchNames": [ALT_NS]}, "PodMonitor namespaces %r" % spec.get("namespaceSelector"))
    eps = spec.get("podMetricsEndpoints", [])
    c.expect([(e.get("port"), e.get("path")) for e in eps] == [("metrics", "/metrics")], "PodMonitor endpoints %r" % eps)


def check_rules(c, objs):
    rules = find(objs, "PrometheusRule", ALT_NS)
    if not c.expect(len(rules) == 1, "want one PrometheusRule, got %d" % len(rules)):
        return
    known = registered_metrics()
    alerts = [r for g in rules[0]["spec"]["groups"] for r in g["rules"]]
    c.expect(ALERTS <= {r.get("alert") for r in alerts}, "alerts %r lack some of %r" % (
        sorted(r.get("alert") for r in alerts), sorted(ALERTS)))
    for r in alerts:
        expr = r["expr"]
        for m in re.findall(r"kube_chorus_router_[a-z0-9_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", m)
            c.expect(m in known or base in known, "%s: metric %s is not registered in actors/telemetry.cpp" % (r["alert"], m))
        selectors = re.findall(r"\{([^}]*)\}", expr)
        c.expect(selectors and all('namespace="%s"' % ALT_NS in s for s in selectors),
                 "%s: not every selector of %r is limited to namespace %s" % (r["alert"], expr, ALT_NS))
        c.expect(r.get("labels", {}).get("severity") in ("warning", "critical"), "%s: severity" % r["alert"])
        c.expect(expr.count("(") == expr.count(")"), "%s: unbalanced parentheses in %r" % (r["alert"], expr))


def _rule(objs, i=0):
    return find(objs, "PrometheusRule")[0]["spec"]["groups"][0]["rules"][i]


# Broken copies of the second rendering that check_alt must catch.
ALT_MUTATIONS = [
    ("unknown metric", lambda o: _rule(o).update(expr=_rule(o)["expr"].replace("_leader", "_leeder"))),
    ("any namespace", lambda o: _rule(o, 1).update(expr=_rule(o, 1)["expr"].replace('namespace="%s"' % ALT_NS, ""))),
    ("no controller scrape", lambda o: find(o, "PodMonitor")[0]["spec"]["selector"]["matchExpressions"][0][
        "values"].pop()),
    ("cm Role elsewhere", lambda o: find(o, "Role", name=NAME)[0]["metadata"].update(namespace=ALT_NS)),
    ("settings namespace", lambda o: find(o, "ConfigMap")[0]["data"].update(KCR_CONFIGMAP_NAMESPACE="kube-system")),
    ("agent metrics port", lambda o: container_of(o, "DaemonSet")["ports"][1].update(containerPort=20265)),
    ("extra grant", lambda o: find(o, "Role", name=NAME)[0]["rules"][0]["verbs"].append("delete")),
]

