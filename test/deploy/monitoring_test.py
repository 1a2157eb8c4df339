#!/usr/bin/env python3
"""The monitoring pack: deploy/monitoring (alerts.yaml = the chart's
files/alerts.yaml, alerts_test.yaml, dashboard.json).

1. `promtool check rules alerts.yaml` passes, and the alerts the operations
   guide promises are there (no leader for 5 m, overlay pool < 5 % free,
   ConfigMap write errors, tunnel not converged, rp_filter strict).
2. `promtool test rules alerts_test.yaml` passes; every alert has a case
   where it fires and one where it does not; broken copies of the rules
   (a threshold, a selector, a `for`) make it fail.
3. dashboard.json is well-formed Grafana JSON (unique panel ids, a grid
   position, a datasource variable), every query is valid PromQL (promtool
   checks it as a recording rule) and names only metrics the binary exports
   (actors/telemetry.cpp, actors/process_metrics.cpp), and the dashboard
   shows what docs/operations.md says it shows.
4. Every metric the alerts use is one the binary exports.
5. The chart renders exactly these rules (one source): with helm (built by
   `make controlplane`), the PrometheusRule's groups equal alerts.yaml with
   the release namespace and prometheusRule.alertLabels applied; without
   helm this part says so and the rest still runs.

promtool: $KCR_PROMTOOL, else on PATH (Debian's `prometheus` package,
installed by deploy/install-deps.sh); exit 77 (skip) without it.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from deploycheck import find_helm  # held once, with helm_test

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("KCR_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
MON = os.path.join(SOURCE, "deploy", "monitoring")
CHART = os.path.join(SOURCE, "deploy", "helm", "kube-chorus-router")
RULES = os.path.join(MON, "alerts.yaml")
RULES_TEST = os.path.join(MON, "alerts_test.yaml")
DASHBOARD = os.path.join(MON, "dashboard.json")
EXPORTERS = [os.path.join(SOURCE, "actors", f) for f in ("telemetry.cpp", "process_metrics.cpp")]

# The alerts: name -> what its expression must contain.
REQUIRED_ALERTS = {
    "KubeChorusRouterNoLeader": ["kube_chorus_router_leader", "absent("],
    "KubeChorusRouterOverlayPoolLow": ["kube_chorus_router_overlay_addresses", "< 0.05"],
    "KubeChorusRouterConfigMapWriteErrors": ['result="error"'],
    "KubeChorusRouterTunnelNotConverged": ['actor="tunnel"', "tunnel_converges_total"],
    "KubeChorusRouterRpFilterStrict": ["kube_chorus_router_rp_filter_strict", "== 1"],
}
# What the dashboard must show (docs/operations.md, "Monitoring").
DASHBOARD_METRICS = {
    "kube_chorus_router_leader", "kube_chorus_router_nodes", "kube_chorus_router_overlay_addresses",
    "kube_chorus_router_nodes_waiting", "kube_chorus_router_pod_ranges_refused",
    "kube_chorus_router_configmap_bytes", "kube_chorus_router_configmap_writes_total",
    "kube_chorus_router_configmap_write_budget_wait_seconds_total",
    "kube_chorus_router_api_received_bytes_total",
    "kube_chorus_router_last_sync_success_timestamp_seconds",
    "kube_chorus_router_tunnel_converges_total", "kube_chorus_router_build_info",
    "process_resident_memory_bytes", "process_cpu_seconds_total",
}
# Broken copies of the rules: (what, text in alerts.yaml, replacement). Each must fail a test.
MUTATIONS = [
    ("no absent()", ' or absent(kube_chorus_router_leader{namespace="kube-system"})', ""),
    ("NoLeader for 1m", "        for: 5m\n        labels:\n          severity: critical\n        annotations:\n"
     "          summary: No kube-chorus-router",
     "        for: 1m\n        labels:\n          severity: critical\n        annotations:\n"
     "          summary: No kube-chorus-router"),
    ("pool 50 %", "< 0.05", "< 0.5"),
    ("waiting: every reason", ',reason!~"pool-exhausted|pod-range-refused"', ""),
    ("any namespace", 'kube_chorus_router_pod_ranges_refused{namespace="kube-system"}',
     "kube_chorus_router_pod_ranges_refused"),
    ("write results", 'configmap_writes_total{namespace="kube-system",result="error"}',
     'configmap_writes_total{namespace="kube-system",result=~"error|ok"}'),
    ("tunnel stale 50 m", ") > 300)", ") > 3000)"),
    ("tunnel: no unless", '\n          unless on (namespace, pod) kube_chorus_router_last_sync_success_timestamp_seconds'
     '{namespace="kube-system",actor="tunnel"})', ")"),
    ("rp_filter == 0", "kube_chorus_router_rp_filter_strict{namespace=\"kube-system\"}) == 1",
     "kube_chorus_router_rp_filter_strict{namespace=\"kube-system\"}) == 0"),
]

failures = []


def expect(cond, what):
    print("%s %s" % ("ok  " if cond else "FAIL", what), flush=True)
    if not cond:
        failures.append(what)
    return cond


def run(cmd, cwd=None):
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


def exported_metrics():
    names = set()
    for path in EXPORTERS:
        with open(path, encoding="utf-8") as f:
            names |= set(re.findall(r'"((?:kube_chorus_router|process)_[a-z0-9_]+)"', f.read()))
    return names


def known(name, names):
    return name in names or re.sub(r"_(bucket|sum|count)$", "", name) in names


def metric_names(expr):
    return set(re.findall(r"\b((?:kube_chorus_router|process)_[a-z0-9_]+)", expr))


# --- 1, 4: the rules -------------------------------------------------------------------


def rules_text():
    with open(RULES, encoding="utf-8") as f:
        return f.read()


def alerts_of(text):
    """alert name -> its expression, from the rule file's text (alert: then expr:)."""
    out, name = {}, None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*- alert: (\S+)", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"(\s*)expr: (.*)", line)
        if m and name:
            expr, indent = m.group(2), len(m.group(1))
            if expr.startswith(">-") or expr.startswith("|"):  # a block: the deeper lines
                expr = " ".join(x.strip() for x in lines[i + 1:]
                                if x.strip() and len(x) - len(x.lstrip()) > indent)
                expr = expr.split(" for: ")[0]
            out[name] = expr
            name = None
    return out


def check_rules(promtool, names):
    p = run([promtool, "check", "rules", RULES])
    count = re.search(r"SUCCESS: (\d+) rules found", p.stdout)
    expect(p.returncode == 0 and count, "promtool check rules alerts.yaml: %s" % (
        count.group(0) if count else (p.stdout + p.stderr).strip()))
    alerts = alerts_of(rules_text())
    expect(count and int(count.group(1)) == len(alerts),
           "%d alerts read from alerts.yaml, promtool counts %s" % (len(alerts), count.group(1) if count else "?"))
    for alert, needles in REQUIRED_ALERTS.items():
        expr = alerts.get(alert, "")
        expect(alert in alerts and all(n in expr for n in needles),
               "%s present, its expression has %s" % (alert, needles))
    for alert, expr in sorted(alerts.items()):
        unknown = [m for m in metric_names(expr) if not known(m, names)]
        expect(not unknown, "%s: every metric is exported%s" % (alert, " (not: %s)" % unknown if unknown else ""))
    return alerts


# --- 2: the rules' unit tests ------------------------------------------------------------


def test_cases():
    """alert name -> (cases where it fires, cases where it does not), from alerts_test.yaml."""
    fires, silent = {}, {}
    with open(RULES_TEST, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*alertname: (\S+)", line)
        if not m:
            continue
        nxt = next((x.strip() for x in lines[i + 1:] if x.strip()), "")
        target = silent if nxt == "exp_alerts: []" else fires
        target[m.group(1)] = target.get(m.group(1), 0) + 1
    return fires, silent


def promtool_test(promtool, rules_file_text):
    """promtool test rules on a copy of alerts_test.yaml next to `rules_file_text`."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "alerts.yaml"), "w") as f:
            f.write(rules_file_text)
        shutil.copy(RULES_TEST, os.path.join(d, "alerts_test.yaml"))
        return run([promtool, "test", "rules", "alerts_test.yaml"], cwd=d)


def check_rule_tests(promtool, alerts):
    p = run([promtool, "test", "rules", RULES_TEST], cwd=MON)
    expect(p.returncode == 0 and "SUCCESS" in p.stdout,
           "promtool test rules alerts_test.yaml: %s" % " ".join((p.stdout + p.stderr).split()))
    fires, silent = test_cases()
    for alert in sorted(alerts):
        expect(fires.get(alert, 0) >= 1 and silent.get(alert, 0) >= 1,
               "%s tested firing (%d cases) and not firing (%d cases)" % (
                   alert, fires.get(alert, 0), silent.get(alert, 0)))
    text = rules_text()
    for what, old, new in MUTATIONS:
        if not expect(text.count(old) == 1, "mutation %r: its text is in alerts.yaml once" % what):
            continue
        broken = promtool_test(promtool, text.replace(old, new))
        expect(broken.returncode != 0, "mutation %r: promtool test rules fails (exit %d)" % (what, broken.returncode))


# --- 3: the dashboard -------------------------------------------------------------------


def grafana_to_promql(expr):
    return expr.replace("$__rate_interval", "5m").replace("$namespace", "kube-system")


def check_dashboard(promtool, names):
    try:
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
    except ValueError as e:
        expect(False, "dashboard.json is JSON: %s" % e)
        return
    expect(True, "dashboard.json is JSON")
    expect(dash.get("uid") and dash.get("title") and dash.get("schemaVersion"), "uid, title, schemaVersion")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    expect({"datasource", "namespace"} <= variables, "variables datasource and namespace (%s)" % sorted(variables))
    panels = dash.get("panels", [])
    ids = [p.get("id") for p in panels]
    expect(len(ids) == len(set(ids)) and None not in ids, "%d panels with unique ids" % len(panels))
    exprs, used = [], set()
    for p in panels:
        problems = [] if all(k in p.get("gridPos", {}) for k in "xywh") else ["no grid position"]
        if p.get("type") != "row":
            targets = p.get("targets", [])
            if not targets or p.get("datasource", {}).get("uid") != "${datasource}":
                problems.append("no queries on ${datasource}")
            for t in targets:
                expr = t.get("expr", "")
                exprs.append(expr)
                used |= metric_names(expr)
                problems += ["metric %s is not exported" % m for m in metric_names(expr) if not known(m, names)]
                problems += ["variable $%s is not defined" % v
                             for v in set(re.findall(r"\$(\w+)", expr)) - variables - {"__rate_interval"}]
        expect(not problems, "panel %r (%s): %s" % (p.get("title"), p.get("type"), "; ".join(problems) or
                                                   "placed, queries name exported metrics and defined variables"))
    missing = DASHBOARD_METRICS - used
    expect(not missing, "the dashboard shows %d metrics%s" % (len(used), ", missing %s" % sorted(missing) if missing else ""))
    # Valid PromQL: every query as a recording rule for promtool.
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, expr in enumerate(exprs):
            f.write("      - record: dashboard:query%d\n        expr: %s\n" % (i, json.dumps(grafana_to_promql(expr))))
        path = f.name
    try:
        p = run([promtool, "check", "rules", path])
        expect(p.returncode == 0, "promtool parses all %d dashboard queries%s" % (
            len(exprs), "" if p.returncode == 0 else ": " + (p.stdout + p.stderr).strip()))
    finally:
        os.unlink(path)


# --- 5: the chart renders these rules -------------------------------------------------------


def as_json(helm, home, files):
    """YAML files -> JSON, by helm itself (fromYaml | toJson in a throwaway chart)."""
    chart = os.path.join(home, "tojson")
    os.makedirs(os.path.join(chart, "templates"), exist_ok=True)
    with open(os.path.join(chart, "Chart.yaml"), "w") as f:
        f.write("apiVersion: v2\nname: tojson\nversion: 0.0.1\n")
    for name, text in files.items():
        with open(os.path.join(chart, name), "w") as f:
            f.write(text)
    with open(os.path.join(chart, "templates", "out.yaml"), "w") as f:
        f.write("{{- $d := dict }}{{- range $n, $_ := .Files }}{{- $_ := set $d $n ($.Files.Get $n | fromYaml) }}"
                "{{- end }}{{ toJson $d }}\n")
    p = run([helm, "template", "x", chart])
    if p.returncode:
        raise RuntimeError("helm (to JSON): " + p.stderr.strip())
    return json.loads(p.stdout[p.stdout.index("{"):])


def check_chart(helm):
    with open(os.path.join(CHART, "templates", "prometheusrule.yaml"), encoding="utf-8") as f:
        template = f.read()
    expect("alert:" not in template and 'files/alerts.yaml' in template,
           "templates/prometheusrule.yaml holds no rule of its own, it reads files/alerts.yaml")
    expect(os.path.realpath(RULES) == os.path.realpath(os.path.join(CHART, "files", "alerts.yaml")),
           "deploy/monitoring/alerts.yaml is the chart's files/alerts.yaml")
    if not helm:
        print("note: no helm (make controlplane builds it): the chart's rendering is not compared here")
        return
    ns, extra = "kcr-mon", {"team": "network", "severity": "overridden?"}
    home = tempfile.mkdtemp(prefix="kcr-monitoring-")
    try:
        env = ["--set", "network=192.168.254.0/24", "--set", "remoteVtep=192.0.2.10",
               "--set", "prometheusRule.enabled=true",
               "--set", "prometheusRule.alertLabels.team=network",
               "--set", "prometheusRule.alertLabels.severity=overridden?"]
        p = run([helm, "template", "kube-chorus-router", CHART, "--namespace", ns,
                 "--show-only", "templates/prometheusrule.yaml", *env])
        if not expect(p.returncode == 0, "helm template (PrometheusRule): exit %d %s" % (p.returncode, p.stderr.strip())):
            return
        rendered = "\n".join(x for x in p.stdout.splitlines() if not x.startswith(("---", "# Source")))
        docs = as_json(helm, home, {"alerts.yaml": rules_text(), "rendered.yaml": rendered})
        want = docs["alerts.yaml"]["groups"]
        for g in want:
            for r in g["rules"]:
                r["expr"] = r["expr"].replace('namespace="kube-system"', 'namespace="%s"' % ns)
                r["labels"] = dict(extra, **r.get("labels", {}))  # the rule's own labels win
        got = docs["rendered.yaml"]["spec"]["groups"]
        expect(got == want, "the chart's PrometheusRule = alerts.yaml in namespace %s with alertLabels "
               "(%d rules)%s" % (ns, sum(len(g["rules"]) for g in got), "" if got == want else
                                 ": " + json.dumps(got)[:400]))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main():
    promtool = os.environ.get("KCR_PROMTOOL") or shutil.which("promtool")
    if not promtool:
        print("skip: no promtool (apt-get install prometheus; deploy/install-deps.sh installs it)")
        return 77
    print("promtool: " + run([promtool, "--version"]).stdout.splitlines()[0])
    names = exported_metrics()
    alerts = check_rules(promtool, names)
    check_rule_tests(promtool, alerts)
    check_dashboard(promtool, names)
    check_chart(find_helm())
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
