#!/usr/bin/env python3
"""The Helm chart deploy/helm/kube-chorus-router against the kustomize install
(deploy/kubernetes) and a REAL kube-apiserver.

1. `helm lint --strict` with the two required values passes (the chart's
   version and appVersion: test/deploy/version_test.py).
2. `helm template` without them fails naming both (one of them: naming that
   one only); a network that is no IPv4 CIDR, a schema violation and a role
   flag in extraSettings fail too.
3. Rendered with the kustomize install's settings in kube-system, the chart
   meets every expectation of manifests_test.check_main (its grant tables
   EXPECTED_GRANTS included, so the RBAC is exactly the needed set), and equals
   the kustomize rendering: the same objects (kind, namespace, name), the same
   RBAC rules and bindings, the same workload specs (pod spec, selector,
   strategy, replicas; container args, env, ports, probes, resources,
   securityContext), the same PodDisruptionBudget, the same settings plus
   KCR_CONFIGMAP_NAME/NAMESPACE; kustomize's labels and pod annotations are a
   subset of the chart's. Broken copies of the chart's objects must fail that
   comparison.
4. Rendered in another release namespace with another ConfigMap name and
   namespace, other ports, an image digest, PodMonitor and PrometheusRule on:
   every object lands where it should, the grants are still the table's (up
   to those names), the ports move together, the PodMonitor selects both
   workloads' pods, and every metric the rules use is one actors/telemetry.cpp
   registers.
5. On the real control plane (test/controlplane/controlplane.py): both
   renderings pass `kubectl apply --dry-run=server` (strict field validation),
   the monitoring objects against minimal CRDs for PodMonitor and
   PrometheusRule (test/deploy/crds/, from the Prometheus Operator's published
   definitions); a PrometheusRule with a misspelled field is refused.

helm: $KCR_HELM, else `helm` next to the control plane's kubectl (built by
`make controlplane`, test/helm/build.sh), else on PATH. Exit 77 (skip) only
when there is no helm; without the control plane the test FAILS.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "controlplane"))
sys.path.insert(0, HERE)
import controlplane  # noqa: E402
import manifests_test as M  # noqa: E402 - the kustomize expectations, held once

CHART = os.path.join(M.SOURCE_DIR, "deploy", "helm", "kube-chorus-router")
CRDS = os.path.join(HERE, "crds")
TELEMETRY = os.path.join(M.SOURCE_DIR, "actors", "telemetry.cpp")
RELEASE = "kube-chorus-router"
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


def find_helm():
    if os.environ.get("KCR_HELM"):
        return os.environ["KCR_HELM"]
    built = os.path.join(controlplane.bin_dir(), "helm")
    return built if os.access(built, os.X_OK) else shutil.which("helm")


class Tools:
    """helm and the built kubectl, each with its own HOME and an empty
    kubeconfig: nothing but step 5 may reach a cluster."""

    def __init__(self, helm, home):
        self.helm, self.home = helm, home
        self.kubectl = os.path.join(controlplane.bin_dir(), "kubectl")
        self.kubeconfig = os.path.join(home, "empty.kubeconfig")
        open(self.kubeconfig, "w").close()
        self.env = dict(os.environ, HOME=home, KUBECONFIG=self.kubeconfig,
                        HELM_CACHE_HOME=os.path.join(home, "cache"),
                        HELM_CONFIG_HOME=os.path.join(home, "config"),
                        HELM_DATA_HOME=os.path.join(home, "data"))

    def run(self, cmd, stdin=None, check=True, kubeconfig=None):
        env = dict(self.env, KUBECONFIG=kubeconfig or self.kubeconfig)
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd[:3]), p.returncode, p.stderr.strip()))
        return p

    def template(self, args, namespace="kube-system", check=True):
        return self.run([self.helm, "template", RELEASE, CHART, "--namespace", namespace, *args], check=check)

    def objects(self, yaml_text):
        """YAML documents -> JSON objects, offline (as manifests_test.render)."""
        path = os.path.join(self.home, "render.yaml")
        with open(path, "w") as f:
            f.write(yaml_text)
        out = self.run([self.kubectl, "patch", "--local", "-f", path, "--type", "merge",
                        "-p", "{}", "-o", "json"]).stdout
        objs, dec, i = [], json.JSONDecoder(), 0
        while True:
            while i < len(out) and out[i].isspace():
                i += 1
            if i >= len(out):
                return objs
            o, i = dec.raw_decode(out, i)
            objs.extend(o["items"] if o.get("kind") == "List" else [o])


# --- 2. required values ------------------------------------------------------------


def check_required(c, t):
    """(args, what must appear in the error, what must not)."""
    cases = [
        ([], ["network", "remoteVtep"], []),
        (REQUIRED[:2], ["remoteVtep"], ["network ("]),
        (REQUIRED[2:], ["network"], ["remoteVtep"]),
        (["--set", "network=192.168.254.1", REQUIRED[2], REQUIRED[3]], ["is not an IPv4 CIDR"], []),
        (REQUIRED + ["--set", "vnid=0"], ["vnid"], []),
        (REQUIRED + ["--set", "remoteVTEP=192.0.2.1"], ["remoteVTEP"], []),
        (REQUIRED + ["--set", "extraSettings.KCR_RUN_TUNNEL=false"], ["KCR_RUN_TUNNEL"], []),
    ]
    for args, want, unwanted in cases:
        p = t.template(args, check=False)
        err = p.stderr.strip()
        shown = " ".join(a for a in args if a != "--set") or "(no values)"
        ok = p.returncode != 0 and all(w in err for w in want) and not any(u in err for u in unwanted)
        c.expect(ok, "helm template %s: exit %d, error %r; want a failure naming %s" % (shown, p.returncode, err, want))
        message = " ".join(x.strip() for x in err.splitlines() if x.strip() and "--debug" not in x)
        print("%s helm template %s -> exit %d: %s" % ("ok  " if ok else "FAIL", shown, p.returncode, message))


def check_modes(c, t):
    """Issue 17: type none needs no remoteVtep; a list of VTEPs reaches REMOTE_VTEPIP as given."""
    cases = [
        (REQUIRED[:2] + ["--set", "type=none"], {"TYPE": "none", "REMOTE_VTEPIP": ""}),
        (REQUIRED[:2] + ["--set", "remoteVtep=192.0.2.10\\,192.0.2.11"],
         {"TYPE": "vxlan", "REMOTE_VTEPIP": "192.0.2.10,192.0.2.11"}),
    ]
    for args, want in cases:
        p = t.template(args, check=False)
        shown = " ".join(a for a in args if a != "--set")
        data = {}
        if p.returncode == 0:
            for o in t.objects(p.stdout):
                if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(M.SETTINGS):
                    data = o.get("data") or {}
        got = {k: data.get(k) for k in want}
        ok = p.returncode == 0 and got == want
        c.expect(ok, "helm template %s: exit %d, settings %r; want %r (%s)"
                 % (shown, p.returncode, got, want, p.stderr.strip()))
        print("%s helm template %s -> %r" % ("ok  " if ok else "FAIL", shown, got))


# --- 3. the chart against the kustomize install ------------------------------------


def settings_name(o):
    n = o["metadata"]["name"]
    return M.SETTINGS if o["kind"] == "ConfigMap" and n.startswith(M.SETTINGS) else n


def by_key(objs):
    return {(o["kind"], o["metadata"].get("namespace", ""), settings_name(o)): o for o in objs}


def canonical_rules(rules):
    return sorted(json.dumps(r, sort_keys=True) for r in rules)


def pod_spec(o):
    """The pod spec with the settings ConfigMap's (hashed) name made plain."""
    spec = copy.deepcopy(o["spec"]["template"]["spec"])
    for ctr in spec.get("containers", []):
        for e in ctr.get("envFrom", []):
            if "configMapRef" in e and e["configMapRef"]["name"].startswith(M.SETTINGS):
                e["configMapRef"]["name"] = M.SETTINGS
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
    c = M.Checker()
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
            want = dict(b.get("data", {}), KCR_CONFIGMAP_NAME=M.NAME, KCR_CONFIGMAP_NAMESPACE=M.NAMESPACE)
            diff(c, label + " data", a.get("data", {}), want)
    return c.failures


def _ctr(objs, kind):
    return M.find(objs, kind)[0]["spec"]["template"]["spec"]["containers"][0]


# Broken copies of the chart's objects the comparison must catch.
COMPARE_MUTATIONS = [
    ("extra verb", lambda o: M.find(o, "ClusterRole", name=M.AGENT_SA)[0]["rules"][0]["verbs"].append("get")),
    ("no ciliumnodes", lambda o: M.find(o, "ClusterRole", name=M.NAME)[0]["rules"].pop()),
    ("subject namespace", lambda o: M.find(o, "RoleBinding", name=M.NAME)[0]["subjects"][0].update(namespace="x")),
    ("agent probe", lambda o: _ctr(o, "DaemonSet")["readinessProbe"].update(periodSeconds=1)),
    ("ctl env", lambda o: _ctr(o, "Deployment")["env"].pop()),
    ("agent caps", lambda o: _ctr(o, "DaemonSet")["securityContext"]["capabilities"]["add"].append("SYS_ADMIN")),
    ("ctl port", lambda o: _ctr(o, "Deployment")["ports"][1].update(containerPort=9090)),
    ("ctl args", lambda o: _ctr(o, "Deployment")["args"].append("--leader-elect=false")),
    ("no pdb", lambda o: o.remove(M.find(o, "PodDisruptionBudget")[0])),
    ("setting", lambda o: M.find(o, "ConfigMap")[0]["data"].update(VNID="2")),
    ("ds selector", lambda o: M.find(o, "DaemonSet")[0]["spec"]["selector"]["matchLabels"].update(x="y")),
]


# --- 4. other values ----------------------------------------------------------------


def registered_metrics():
    with open(TELEMETRY, encoding="utf-8") as f:
        return set(re.findall(r'"(kube_chorus_router_[a-z0-9_]+)"', f.read()))


def check_alt(objs):
    c = M.Checker()
    expected_ns = {"ServiceAccount": ALT_NS, "ConfigMap": ALT_NS, "Deployment": ALT_NS, "DaemonSet": ALT_NS,
                   "PodDisruptionBudget": ALT_NS, "PodMonitor": ALT_NS, "PrometheusRule": ALT_NS}
    for o in objs:
        kind, ns, name = M.key(o)
        if kind in expected_ns:
            c.expect(ns == expected_ns[kind], "%s %s in %r, want %s" % (kind, name, ns, expected_ns[kind]))
        elif kind in ("Role", "RoleBinding"):
            want = "default" if name.endswith("-events") else ALT_CM_NS
            c.expect(ns == want, "%s %s in %r, want %s" % (kind, name, ns, want))
        for s in o.get("subjects", []):
            c.expect(s.get("namespace") == ALT_NS, "%s %s: subject %r not in %s" % (kind, name, s, ALT_NS))
    roles = M.find(objs, "Role", ALT_CM_NS, M.NAME)
    if c.expect(len(roles) == 1, "no ConfigMap/Lease Role in %s" % ALT_CM_NS):
        names = {r.get("resourceNames", [None])[0] for r in roles[0]["rules"]}
        c.expect(names == {ALT_CM, None}, "ConfigMap/Lease Role resourceNames %r, want %s" % (names, ALT_CM))
    data = M.find(objs, "ConfigMap", ALT_NS)[0]["data"]
    c.expect((data.get("KCR_CONFIGMAP_NAME"), data.get("KCR_CONFIGMAP_NAMESPACE")) == (ALT_CM, ALT_CM_NS),
             "settings KCR_CONFIGMAP_NAME/NAMESPACE %r/%r, want %s/%s" % (
                 data.get("KCR_CONFIGMAP_NAME"), data.get("KCR_CONFIGMAP_NAMESPACE"), ALT_CM, ALT_CM_NS))
    # The grants, with the configured names mapped back, are the table's.
    text = json.dumps(objs)
    for a, b in ((ALT_NS, M.NAMESPACE), (ALT_CM_NS, M.NAMESPACE), (ALT_CM, M.NAME)):
        text = text.replace('"%s"' % a, '"%s"' % b)
    M.check_rbac(c, json.loads(text))
    pods = {}
    for kind in ("Deployment", "DaemonSet"):
        w = M.find(objs, kind)[0]
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
    ok = M.labels_match(selector, labels)
    for e in selector.get("matchExpressions", []):
        ok = ok and e["operator"] == "In" and labels.get(e["key"]) in e["values"]
    return ok


def check_podmonitor(c, objs, pod_labels):
    pms = M.find(objs, "PodMonitor", ALT_NS)
    if not c.expect(len(pms) == 1, "want one PodMonitor, got %d" % len(pms)):
        return
    spec = pms[0]["spec"]
    for kind, labels in pod_labels.items():
        c.expect(selects(spec["selector"], labels), "PodMonitor does not select the %s's pods" % kind)
    c.expect(spec.get("namespaceSelector") == {"matchNames": [ALT_NS]}, "PodMonitor namespaces %r" % spec.get("namespaceSelector"))
    eps = spec.get("podMetricsEndpoints", [])
    c.expect([(e.get("port"), e.get("path")) for e in eps] == [("metrics", "/metrics")], "PodMonitor endpoints %r" % eps)


def check_rules(c, objs):
    rules = M.find(objs, "PrometheusRule", ALT_NS)
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
    return M.find(objs, "PrometheusRule")[0]["spec"]["groups"][0]["rules"][i]


# Broken copies of the second rendering that check_alt must catch.
ALT_MUTATIONS = [
    ("unknown metric", lambda o: _rule(o).update(expr=_rule(o)["expr"].replace("_leader", "_leeder"))),
    ("any namespace", lambda o: _rule(o, 1).update(expr=_rule(o, 1)["expr"].replace('namespace="%s"' % ALT_NS, ""))),
    ("no controller scrape", lambda o: M.find(o, "PodMonitor")[0]["spec"]["selector"]["matchExpressions"][0][
        "values"].pop()),
    ("cm Role elsewhere", lambda o: M.find(o, "Role", name=M.NAME)[0]["metadata"].update(namespace=ALT_NS)),
    ("settings namespace", lambda o: M.find(o, "ConfigMap")[0]["data"].update(KCR_CONFIGMAP_NAMESPACE="kube-system")),
    ("agent metrics port", lambda o: _ctr(o, "DaemonSet")["ports"][1].update(containerPort=20265)),
    ("extra grant", lambda o: M.find(o, "Role", name=M.NAME)[0]["rules"][0]["verbs"].append("delete")),
]


def mutations(check, objs, cases):
    """-> how many of the broken copies `check` did NOT catch."""
    before, missed = set(check(objs)), 0
    for name, mutate in cases:
        broken = copy.deepcopy(objs)
        mutate(broken)
        caught = [f for f in check(broken) if f not in before]
        print("%s mutation %-20s %s" % ("ok  " if caught else "FAIL", name,
                                        "caught: " + caught[0] if caught else "not caught"))
        missed += 0 if caught else 1
    return missed


# --- 5. the real control plane ------------------------------------------------------


def dry_run(t, kubeconfig, yaml_text, label, refused=False):
    p = t.run([t.kubectl, "apply", "--dry-run=server", "--validate=strict", "-f", "-"],
              stdin=yaml_text, check=False, kubeconfig=kubeconfig)
    lines = p.stdout.strip().splitlines()
    print("%s kubectl apply --dry-run=server (%s): exit %d, %d objects" % (
        "ok  " if (p.returncode != 0) == refused else "FAIL", label, p.returncode, len(lines)))
    for line in lines if not refused else []:
        print("       " + line)
    if p.returncode:
        print("       " + p.stderr.strip().replace("\n", "\n       "))
    return p


def check_server(t, default_yaml, alt_yaml):
    failures = []
    with controlplane.ControlPlane() as cp:
        kc = cp.kubeconfig
        for ns in (ALT_NS, ALT_CM_NS):
            t.run([t.kubectl, "create", "namespace", ns], kubeconfig=kc)
        for f in sorted(os.listdir(CRDS)):
            t.run([t.kubectl, "apply", "-f", os.path.join(CRDS, f)], kubeconfig=kc)
        t.run([t.kubectl, "wait", "--for=condition=Established", "--timeout=60s",
               "crd/podmonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"], kubeconfig=kc)
        for text, label in ((default_yaml, "defaults, kube-system"), (alt_yaml, "other values, monitoring on")):
            if dry_run(t, kc, text, label).returncode:
                failures.append("kubectl apply --dry-run=server refused the %s rendering" % label)
        # The CRDs check field names: a misspelled one is refused.
        broken = re.sub(r"^(\s+- )alert:", r"\1alrt:", alt_yaml, count=1, flags=re.M)
        if broken == alt_yaml:
            failures.append("no PrometheusRule rule found to misspell")
        p = dry_run(t, kc, broken, "a PrometheusRule rule with `alrt:`: must be refused", refused=True)
        if p.returncode == 0 or "alrt" not in p.stderr:
            failures.append("the misspelled PrometheusRule field was not refused")
    return failures


def main():
    helm = find_helm()
    if not helm:
        print("SKIP: helm not found ($KCR_HELM, %s/helm, PATH): `make controlplane` builds it (test/helm/build.sh)"
              % controlplane.bin_dir())
        return 77
    missing = controlplane.missing_binaries()
    if missing:
        print("FAIL: the real control plane is not built: %s missing in %s (run `make controlplane`)"
              % (", ".join(missing), controlplane.bin_dir()))
        return 1
    home = tempfile.mkdtemp(prefix="kcr-helm-")
    try:
        t = Tools(helm, home)
        print("helm: %s (%s)" % (helm, t.run([helm, "version", "--short"]).stdout.strip()))
        failed = run_checks(t)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("%d failed expectations" % failed)
    return 1 if failed else 0


def report(label, failures):
    for f in failures:
        print("FAIL %s: %s" % (label, f))
    print("%s %s" % ("ok  " if not failures else "FAIL", label))
    return len(failures)


def run_checks(t):
    failed = 0
    lint = t.run([t.helm, "lint", "--strict", CHART, *REQUIRED], check=False)
    print(lint.stdout.strip())
    failed += report("helm lint --strict", [] if lint.returncode == 0 else [lint.stderr.strip()])

    c = M.Checker()
    check_required(c, t)
    failed += report("required values", c.failures)

    c = M.Checker()
    check_modes(c, t)
    failed += report("type none without remoteVtep, several VTEPs", c.failures)

    default_yaml = t.template(REQUIRED).stdout
    chart_objs = t.objects(default_yaml)
    print("rendered the chart: " + ", ".join("%s/%s" % (k[0], k[2]) for k in map(M.key, chart_objs)))
    failed += report("chart meets manifests_test.check_main (EXPECTED_GRANTS included)", M.check_main(chart_objs))
    kustomize_objs = M.render(t.kubectl, t.env, M.MAIN_DIR)
    failed += report("chart equals deploy/kubernetes", compare(chart_objs, kustomize_objs))
    failed += mutations(lambda objs: compare(objs, kustomize_objs), chart_objs, COMPARE_MUTATIONS)

    alt_yaml = t.template(ALT, namespace=ALT_NS).stdout
    alt_objs = t.objects(alt_yaml)
    print("rendered with other values: " + ", ".join(
        "%s %s/%s" % (k[0], k[1] or "-", k[2]) for k in map(M.key, alt_objs)))
    failed += report("other namespaces, names, ports, digest, PodMonitor, PrometheusRule", check_alt(alt_objs))
    failed += mutations(check_alt, alt_objs, ALT_MUTATIONS)

    failed += report("real kube-apiserver", check_server(t, default_yaml, alt_yaml))
    return failed


if __name__ == "__main__":
    sys.exit(main())
