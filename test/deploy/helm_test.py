#!/usr/bin/env python3
"""The Helm chart deploy/helm/kube-chorus-router against the kustomize install
(deploy/kubernetes) and a REAL kube-apiserver.

1. `helm lint --strict` with the two required values passes (the chart's
   version and appVersion: test/deploy/version_test.py).
2. `helm template` without them fails naming both (one of them: naming that
   one only); a network that is no IPv4 CIDR, a schema violation and a role
   flag in extraSettings fail too.
3. Rendered with the kustomize install's settings in kube-system, the chart
   meets every expectation of manifests_checks.check_main (its grant tables
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
import deploycheck as D  # noqa: E402 - shared with manifests_test
import manifests_expected as E  # noqa: E402 - the kustomize expectations, held once
from helm_compare import COMPARE_MUTATIONS, compare  # noqa: E402
from helm_values import (ALT, ALT_CM_NS, ALT_MUTATIONS, ALT_NS, REQUIRED,  # noqa: E402
                         check_alt)
from manifests_checks import check_main  # noqa: E402

CHART = os.path.join(D.SOURCE_DIR, "deploy", "helm", "kube-chorus-router")
CRDS = os.path.join(HERE, "crds")
RELEASE = "kube-chorus-router"


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
        """YAML documents -> JSON objects, offline (as deploycheck.render)."""
        path = os.path.join(self.home, "render.yaml")
        with open(path, "w") as f:
            f.write(yaml_text)
        out = self.run([self.kubectl, "patch", "--local", "-f", path, "--type", "merge",
                        "-p", "{}", "-o", "json"]).stdout
        return D.json_objects(out)


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
                if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(E.SETTINGS):
                    data = o.get("data") or {}
        got = {k: data.get(k) for k in want}
        ok = p.returncode == 0 and got == want
        c.expect(ok, "helm template %s: exit %d, settings %r; want %r (%s)"
                 % (shown, p.returncode, got, want, p.stderr.strip()))
        print("%s helm template %s -> %r" % ("ok  " if ok else "FAIL", shown, got))


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
    helm = D.find_helm()
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


def run_checks(t):
    failed = 0
    lint = t.run([t.helm, "lint", "--strict", CHART, *REQUIRED], check=False)
    print(lint.stdout.strip())
    failed += D.report("helm lint --strict", [] if lint.returncode == 0 else [lint.stderr.strip()])

    c = D.Checker()
    check_required(c, t)
    failed += D.report("required values", c.failures)

    c = D.Checker()
    check_modes(c, t)
    failed += D.report("type none without remoteVtep, several VTEPs", c.failures)

    default_yaml = t.template(REQUIRED).stdout
    chart_objs = t.objects(default_yaml)
    print("rendered the chart: " + ", ".join("%s/%s" % (k[0], k[2]) for k in map(D.key, chart_objs)))
    failed += D.report("chart meets manifests_checks.check_main (EXPECTED_GRANTS included)", check_main(chart_objs))
    kustomize_objs = D.render(t.kubectl, t.env, E.MAIN_DIR)
    failed += D.report("chart equals deploy/kubernetes", compare(chart_objs, kustomize_objs))
    failed += D.mutations(lambda objs: compare(objs, kustomize_objs), chart_objs, COMPARE_MUTATIONS)

    alt_yaml = t.template(ALT, namespace=ALT_NS).stdout
    alt_objs = t.objects(alt_yaml)
    print("rendered with other values: " + ", ".join(
        "%s %s/%s" % (k[0], k[1] or "-", k[2]) for k in map(D.key, alt_objs)))
    failed += D.report("other namespaces, names, ports, digest, PodMonitor, PrometheusRule", check_alt(alt_objs))
    failed += D.mutations(check_alt, alt_objs, ALT_MUTATIONS)

    failed += D.report("real kube-apiserver", check_server(t, default_yaml, alt_yaml))
    return failed


if __name__ == "__main__":
    sys.exit(main())
