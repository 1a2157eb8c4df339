#!/usr/bin/env python3
"""Checks the Kubernetes deployment in deploy/kubernetes as the cluster sees it.

Renders deploy/kubernetes and deploy/kubernetes/cleanup with `kubectl kustomize`,
turns the YAML into JSON offline (`kubectl patch --local` with an empty merge
patch: no API server, no discovery), and asserts the properties the issue asks
for, for both workloads of one install:
- the agents' DaemonSet (--run-publisher=false): host networking, NET_ADMIN-only
  security context, every taint tolerated;
- the controller's Deployment (--run-tunnel=false): 2 replicas spread over
  nodes, a PodDisruptionBudget, no host network, no capability, not root;
- for both: probes, resources, the shared settings ConfigMap, downward-API env,
  selectors that do not overlap, and least-privilege RBAC per ServiceAccount
  (compared grant by grant against a table each, so any extra permission fails).

It also checks deploy/Dockerfile: Debian 12 stages, USER 0, the binary as
entrypoint, and (when the binary is built) that every shared library it links
comes from a package the runtime stage installs.

Every check also runs against deliberately broken copies of the manifests and
the Dockerfile (privileged, an extra capability, a `*` verb, a missing library,
...) and must catch each one: a check that cannot fail is not a check.

Exit 0 = pass, 1 = failure, 77 = skipped (no kubectl), as ctest expects.
Python standard library only.
"""

import copy
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DIR = os.environ.get(
    "KCR_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
MAIN_DIR = os.path.join(SOURCE_DIR, "deploy", "kubernetes")
CLEANUP_DIR = os.path.join(MAIN_DIR, "cleanup")

NAME = "kube-chorus-router"
NAMESPACE = "kube-system"
SETTINGS = "kube-chorus-router-settings"
# The version's one source (deploy/set-version.sh writes it out to the manifests).
IMAGE = "kube-chorus-router:" + subprocess.run(
    [os.path.join(SOURCE_DIR, "deploy", "set-version.sh")], capture_output=True, text=True,
    check=True).stdout.strip()
HEALTH_PORT = 20264
METRICS_PORT = 20265
CONTROLLER = NAME + "-controller"  # the Deployment (publisher role)
AGENT_SA = NAME + "-agent"
# ServiceAccount name -> what runs as it. The controller's account keeps the
# project's name: a single process running both roles uses it too.
ACCOUNTS = {NAME: "controller", AGENT_SA: "agent"}

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
# Each workload's role flag: the other role is switched off.
ROLE_ARGS = {"controller": ["--run-tunnel=false"], "agent": ["--run-publisher=false"]}
ROLE_VARS = ("KCR_RUN_PUBLISHER", "KCR_RUN_TUNNEL")

# Settings the issue requires in the settings ConfigMap, with a validator each.
def _cidr(v):
    n = ipaddress.ip_network(v, strict=True)
    return n.version == 4 and 8 <= n.prefixlen <= 30


def _int_in(lo, hi):
    return lambda v: v.isdigit() and lo <= int(v) <= hi


REQUIRED_SETTINGS = {
    "NETWORK": _cidr,
    # One device VTEP or several (VXLAN), comma-separated.
    "REMOTE_VTEPIP": lambda v: all(ipaddress.ip_address(x) is not None for x in v.split(",")),
    "TYPE": lambda v: v in ("vxlan", "ipip", "none"),
    "VNID": _int_in(1, 16777215),
    "VXLAN_PORT": _int_in(1, 65535),
    "KCR_LOG_FORMAT": lambda v: v == "json",
}


# --- rendering ------------------------------------------------------------------


def run(cmd, env, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=40)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p.stdout


def render(kubectl, env, directory):
    """kubectl kustomize DIR, then YAML -> list of JSON objects, offline."""
    yaml_text = run([kubectl, "kustomize", directory], env)
    docs = [d for d in re.split(r"^---\s*$", yaml_text, flags=re.M) if d.strip()]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(yaml_text)
        path = f.name
    try:
        out = run(
            [kubectl, "patch", "--local", "-f", path, "--type", "merge", "-p", "{}", "-o", "json"], env
        )
    finally:
        os.unlink(path)
    objs, dec, i = [], json.JSONDecoder(), 0
    while True:
        while i < len(out) and out[i].isspace():
            i += 1
        if i >= len(out):
            break
        o, i = dec.raw_decode(out, i)
        objs.extend(o["items"] if o.get("kind") == "List" else [o])
    if len(objs) != len(docs):
        raise RuntimeError("kustomize rendered %d documents but %d converted" % (len(docs), len(objs)))
    return objs


def known_env_names():
    """Environment variables of the binary's flags, from the README's flag table."""
    names = set()
    with open(os.path.join(SOURCE_DIR, "README.md"), encoding="utf-8") as f:
        for line in f:
            # Table rows: | `--flag ARG` | `ENV` | default | meaning |; a cell may hold `\|`.
            cells = [x.strip() for x in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if len(cells) >= 2 and cells[0].startswith("`--"):
                m = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[1])
                if m:
                    names.add(m.group(1))
    # Read by the in-cluster client config (kube/client_config.cpp), not a flag.
    return names | {"POD_NAMESPACE"}


# --- helpers ------------------------------------------------------------------


def key(o):
    return (o.get("kind"), o.get("metadata", {}).get("namespace", ""), o.get("metadata", {}).get("name"))


def find(objs, kind, ns=None, name=None):
    return [
        o
        for o in objs
        if o.get("kind") == kind
        and (ns is None or o["metadata"].get("namespace", "") == ns)
        and (name is None or o["metadata"].get("name") == name)
    ]


class Checker:
    """Collects failed expectations instead of stopping at the first."""

    def __init__(self):
        self.failures = []

    def expect(self, cond, what):
        if not cond:
            self.failures.append(what)
        return cond


def port_number(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def check_security(c, ctr, pod_spec, label):
    sc = ctr.get("securityContext", {})
    caps = sc.get("capabilities", {})
    c.expect(sc.get("privileged") is not True, "%s: privileged" % label)
    add = caps.get("add")
    c.expect(add == ["NET_ADMIN"], "%s: capabilities.add is %r, want [NET_ADMIN]" % (label, add))
    c.expect("ALL" in caps.get("drop", []), "%s: capabilities.drop lacks ALL" % label)
    c.expect(sc.get("allowPrivilegeEscalation") is False, "%s: allowPrivilegeEscalation not false" % label)
    c.expect(sc.get("readOnlyRootFilesystem") is True, "%s: readOnlyRootFilesystem not true" % label)
    uid = sc.get("runAsUser")
    c.expect(uid == 0, "%s: runAsUser %r, want 0 (netlink in the host netns)" % (label, uid))
    seccomp = sc.get("seccompProfile") or pod_spec.get("securityContext", {}).get("seccompProfile") or {}
    c.expect(seccomp.get("type") == "RuntimeDefault", "%s: seccompProfile not RuntimeDefault" % label)


def check_node_pod(c, spec, label):
    """What every pod that touches the node's network needs, and must not have."""
    c.expect(spec.get("hostNetwork") is True, "%s: hostNetwork not true" % label)
    c.expect(spec.get("dnsPolicy") == "ClusterFirstWithHostNet", "%s: dnsPolicy %r" % (label, spec.get("dnsPolicy")))
    c.expect(not spec.get("hostPID") and not spec.get("hostIPC"), "%s: hostPID/hostIPC" % label)
    c.expect(
        not any("hostPath" in v for v in spec.get("volumes", [])),
        "%s: hostPath volume (nothing privileged is mounted)" % label,
    )
    tol = spec.get("tolerations", [])
    c.expect(
        any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect") for t in tol),
        "%s: no toleration {operator: Exists} (without key/effect) tolerating every taint" % label,
    )
    for ctr in spec.get("containers", []) + spec.get("initContainers", []):
        caps = ctr.get("securityContext", {}).get("capabilities", {})
        privileged = ctr.get("securityContext", {}).get("privileged")
        c.expect(privileged is not True, "%s/%s: privileged" % (label, ctr.get("name")))
        c.expect(
            set(caps.get("add", [])) <= {"NET_ADMIN"},
            "%s/%s: capabilities beyond NET_ADMIN: %r" % (label, ctr.get("name"), caps.get("add")),
        )


# --- the main deployment --------------------------------------------------------


def check_main(objs):
    c = Checker()
    kinds = sorted(o["kind"] for o in objs)
    c.expect(not find(objs, "Namespace"), "a Namespace object (kube-system and default exist)")
    for kind, n in (("ServiceAccount", 2), ("ClusterRole", 2), ("ClusterRoleBinding", 2), ("Role", 2),
                    ("RoleBinding", 3), ("ConfigMap", 1), ("Deployment", 1), ("PodDisruptionBudget", 1),
                    ("DaemonSet", 1)):
        c.expect(kinds.count(kind) == n, "%d %s object(s), want %d" % (kinds.count(kind), kind, n))
    for sa in ACCOUNTS:
        c.expect(find(objs, "ServiceAccount", NAMESPACE, sa), "no ServiceAccount %s/%s" % (NAMESPACE, sa))

    dss = find(objs, "DaemonSet", NAMESPACE, NAME)
    deps = find(objs, "Deployment", NAMESPACE, CONTROLLER)
    if c.expect(len(dss) == 1, "no DaemonSet %s/%s" % (NAMESPACE, NAME)):
        check_daemonset(c, dss[0], objs)
    if c.expect(len(deps) == 1, "no Deployment %s/%s" % (NAMESPACE, CONTROLLER)):
        check_deployment(c, deps[0], objs)
    if dss and deps:
        check_apart(c, dss[0], deps[0])
    check_rbac(c, objs)
    return c.failures


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def check_apart(c, ds, dep):
    """Neither workload's selector takes the other's pods (the DaemonSet's
    selector is immutable: it stays what earlier versions installed)."""
    for a, b in ((ds, dep), (dep, ds)):
        c.expect(
            not labels_match(a["spec"]["selector"], b["spec"]["template"]["metadata"].get("labels", {})),
            "the %s's selector matches the %s's pods" % (a["kind"], b["kind"]),
        )
    c.expect(ds["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": NAME}},
             "DaemonSet selector %r changed (immutable: an upgrade would fail)" % ds["spec"]["selector"])


def check_workload_container(c, pod, objs, role, label):
    """What both workloads' container has: the role flag, probes, ports,
    resources, the downward-API env and the shared settings ConfigMap."""
    ann = pod["__annotations"]
    c.expect(ann.get("prometheus.io/scrape") == "true", "%s: prometheus.io/scrape not \"true\"" % label)
    c.expect(ann.get("prometheus.io/port") == str(METRICS_PORT), "%s: prometheus.io/port not %d" % (label, METRICS_PORT))
    c.expect(not pod.get("initContainers"), "%s has init containers" % label)
    c.expect(pod.get("automountServiceAccountToken") is not False, "%s: the service account token is not mounted" % label)
    c.expect((pod.get("terminationGracePeriodSeconds") or 30) >= 10, "%s: terminationGracePeriodSeconds < 10" % label)
    if not c.expect(len(pod.get("containers", [])) == 1, "%s: want exactly one container" % label):
        return None
    ctr = pod["containers"][0]
    c.expect(ctr.get("image") == IMAGE, "%s: image %r, want %s" % (label, ctr.get("image"), IMAGE))
    args = ctr.get("args", []) + ctr.get("command", [])
    c.expect(args == ROLE_ARGS[role], "%s: args %r, want %r" % (label, args, ROLE_ARGS[role]))

    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = ctr.get(probe, {}).get("httpGet", {})
        c.expect(get.get("path") == path, "%s: %s path %r, want %s" % (label, probe, get.get("path"), path))
        c.expect(
            port_number(ctr, get.get("port")) == HEALTH_PORT,
            "%s: %s port %r is not %d" % (label, probe, get.get("port"), HEALTH_PORT),
        )
    ports = {p.get("containerPort") for p in ctr.get("ports", [])}
    c.expect({HEALTH_PORT, METRICS_PORT} <= ports, "%s: ports %r lack %d/%d" % (label, ports, HEALTH_PORT, METRICS_PORT))
    req = ctr.get("resources", {}).get("requests", {})
    c.expect("cpu" in req and "memory" in req, "%s: resources.requests %r lacks cpu or memory" % (label, req))
    c.expect("memory" in ctr.get("resources", {}).get("limits", {}), "%s: no memory limit" % label)

    env = {e["name"]: e for e in ctr.get("env", [])}
    for var, path in (("NODE_NAME", "spec.nodeName"), ("POD_NAMESPACE", "metadata.namespace")):
        got = env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        c.expect(got == path, "%s: %s from fieldRef %r, want %s" % (label, var, got, path))
    for var, port in (("KCR_HEALTH_ADDR", HEALTH_PORT), ("KCR_METRICS_ADDR", METRICS_PORT)):
        if var in env:
            value = env[var].get("value", "")
            c.expect(value.endswith(":%d" % port), "%s: %s=%r is not on port %d" % (label, var, value, port))
    known = known_env_names()
    for var in env:
        c.expect(var in known, "%s: env %s is no flag's variable (README flag table)" % (label, var))
        c.expect(var not in ROLE_VARS, "%s: env %s (the role is the args' job)" % (label, var))
    refs = [e["configMapRef"]["name"] for e in ctr.get("envFrom", []) if "configMapRef" in e]
    if c.expect(len(refs) == 1, "%s: envFrom: want one configMapRef, got %r" % (label, refs)):
        c.expect(refs[0].startswith(SETTINGS) and find(objs, "ConfigMap", NAMESPACE, refs[0]),
                 "%s: envFrom ConfigMap %r is not the rendered %s" % (label, refs[0], SETTINGS))
    return ctr


def pod_of(workload):
    """The pod spec, with the template's annotations at hand."""
    tpl = workload["spec"]["template"]
    return dict(tpl["spec"], __annotations=tpl.get("metadata", {}).get("annotations", {}))


def check_daemonset(c, ds, objs):
    spec = ds["spec"]
    pod = pod_of(ds)
    check_node_pod(c, pod, "DaemonSet")
    prio = pod.get("priorityClassName")
    c.expect(prio == "system-node-critical", "DaemonSet: priorityClassName %r" % prio)
    sa = pod.get("serviceAccountName")
    c.expect(sa == AGENT_SA, "DaemonSet: serviceAccountName %r, want %s" % (sa, AGENT_SA))
    us = spec.get("updateStrategy", {})
    c.expect(
        us.get("type") == "RollingUpdate" and us.get("rollingUpdate", {}).get("maxUnavailable") == 1,
        "DaemonSet: updateStrategy %r, want RollingUpdate maxUnavailable 1" % us,
    )
    ctr = check_workload_container(c, pod, objs, "agent", "DaemonSet")
    if ctr:
        check_security(c, ctr, pod, "DaemonSet container")
    check_settings(c, objs)


def check_deployment(c, dep, objs):
    """The controller: 2 replicas spread over nodes, a PodDisruptionBudget,
    and nothing of the node's: no host network, no capability, not root."""
    spec = dep["spec"]
    pod = pod_of(dep)
    label = "Deployment"
    c.expect(spec.get("replicas") == 2, "%s: replicas %r, want 2" % (label, spec.get("replicas")))
    sa = pod.get("serviceAccountName")
    c.expect(sa == NAME, "%s: serviceAccountName %r, want %s" % (label, sa, NAME))
    c.expect(pod.get("priorityClassName") == "system-cluster-critical",
             "%s: priorityClassName %r" % (label, pod.get("priorityClassName")))
    c.expect(not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"),
             "%s: host namespaces" % label)
    c.expect(not pod.get("volumes"), "%s: volumes (it needs none)" % label)
    pod_labels = dep["spec"]["template"]["metadata"].get("labels", {})
    c.expect(labels_match(spec["selector"], pod_labels) and spec["selector"].get("matchLabels"),
             "%s: selector does not match its pods" % label)
    anti = pod.get("affinity", {}).get("podAntiAffinity", {})
    terms = [t.get("podAffinityTerm", t) for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])
             + anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])]
    c.expect(any(t.get("topologyKey") == "kubernetes.io/hostname"
                 and labels_match(t.get("labelSelector", {}), pod_labels) for t in terms),
             "%s: no pod anti-affinity spreading the replicas over nodes" % label)
    ctr = check_workload_container(c, pod, objs, "controller", label)
    if ctr:
        check_unprivileged(c, ctr, pod, label + " container")
    pdbs = find(objs, "PodDisruptionBudget", NAMESPACE)
    if c.expect(len(pdbs) == 1, "no PodDisruptionBudget for the controller"):
        p = pdbs[0]["spec"]
        c.expect(labels_match(p.get("selector", {}), pod_labels) and p.get("selector", {}).get("matchLabels"),
                 "PodDisruptionBudget does not select the controller's pods")
        c.expect(p.get("minAvailable") == 1 or p.get("maxUnavailable") == 1,
                 "PodDisruptionBudget %r: want one replica kept (minAvailable 1) and one evictable" % p)


def check_unprivileged(c, ctr, pod, label):
    """Not root, no capability, nothing writable, no escalation."""
    sc, psc = ctr.get("securityContext", {}), pod.get("securityContext", {})
    caps = sc.get("capabilities", {})
    c.expect(sc.get("privileged") is not True, "%s: privileged" % label)
    c.expect(not caps.get("add"), "%s: capabilities.add %r, want none" % (label, caps.get("add")))
    c.expect("ALL" in caps.get("drop", []), "%s: capabilities.drop lacks ALL" % label)
    c.expect(sc.get("allowPrivilegeEscalation") is False, "%s: allowPrivilegeEscalation not false" % label)
    c.expect(sc.get("readOnlyRootFilesystem") is True, "%s: readOnlyRootFilesystem not true" % label)
    nonroot = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    uid = sc.get("runAsUser", psc.get("runAsUser"))
    # The image says USER 0 (for the agents): the pod must override it.
    c.expect(nonroot is True and isinstance(uid, int) and uid > 0,
             "%s: runAsNonRoot %r, runAsUser %r: want a non-root uid" % (label, nonroot, uid))
    seccomp = sc.get("seccompProfile") or psc.get("seccompProfile") or {}
    c.expect(seccomp.get("type") == "RuntimeDefault", "%s: seccompProfile not RuntimeDefault" % label)


def check_settings(c, objs):
    """The settings ConfigMap both workloads load."""
    cms = find(objs, "ConfigMap", NAMESPACE)
    if not c.expect(len(cms) == 1, "want one settings ConfigMap, got %d" % len(cms)):
        return
    data = cms[0].get("data", {})
    for k, valid in REQUIRED_SETTINGS.items():
        try:
            ok = k in data and valid(data[k])
        except ValueError:
            ok = False
        c.expect(ok, "settings %s=%r missing or invalid" % (k, data.get(k)))
    known = known_env_names()
    for k in data:
        c.expect(k in known, "settings key %s is no flag's variable (README flag table)" % k)
        c.expect(k not in ROLE_VARS, "settings key %s would give both workloads one role" % k)
    # The Role's resourceNames and namespace must match where the controller writes.
    c.expect(data.get("KCR_CONFIGMAP_NAME", NAME) == NAME, "KCR_CONFIGMAP_NAME differs from the RBAC resourceNames")
    c.expect(
        data.get("KCR_CONFIGMAP_NAMESPACE", NAMESPACE) == NAMESPACE,
        "KCR_CONFIGMAP_NAMESPACE differs from the Role's namespace",
    )


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


# --- the cleanup DaemonSet ------------------------------------------------------


def check_cleanup(objs):
    c = Checker()
    dss = find(objs, "DaemonSet", NAMESPACE)
    c.expect(len(objs) == 1 and len(dss) == 1, "cleanup: want exactly one DaemonSet, got %r" % [key(o) for o in objs])
    if not dss:
        return c.failures
    pod = dss[0]["spec"]["template"]["spec"]
    check_node_pod(c, pod, "cleanup")
    c.expect(pod.get("automountServiceAccountToken") is False, "cleanup: mounts a service account token it does not need")
    runs = [
        x
        for x in pod.get("initContainers", []) + pod.get("containers", [])
        if "--cleanup-config" in x.get("args", []) + x.get("command", [])
    ]
    if c.expect(len(runs) == 1, "cleanup: no container runs --cleanup-config"):
        c.expect(runs[0].get("image") == IMAGE, "cleanup: image %r, want %s" % (runs[0].get("image"), IMAGE))
        check_security(c, runs[0], pod, "cleanup container")
    return c.failures


# --- mutations: every check must be able to fail ----------------------------------


def _pod(objs, kind="DaemonSet"):
    return find(objs, kind)[0]["spec"]["template"]["spec"]


def _ctr(objs, kind="DaemonSet"):
    return _pod(objs, kind)["containers"][0]


def _sc(objs, kind="DaemonSet"):
    return _ctr(objs, kind)["securityContext"]


def _dep(objs):
    return find(objs, "Deployment")[0]


def _dpod(objs):
    return _pod(objs, "Deployment")


def _dctr(objs):
    return _ctr(objs, "Deployment")


def _dsc(objs):
    return _sc(objs, "Deployment")


def _env(objs, name):
    return [e for e in _ctr(objs)["env"] if e["name"] == name][0]


def _settings(objs):
    return find(objs, "ConfigMap")[0]["data"]


def _obj(objs, kind, name):
    return [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name][0]


def _rules(objs, kind, name):
    return _obj(objs, kind, name)["rules"]


def _named_rule(objs):
    return [r for r in _rules(objs, "Role", NAME) if r.get("resourceNames")][0]


def _rule(group, resource, verb):
    return {"apiGroups": [group], "resources": [resource], "verbs": [verb]}


def _set(target, field, value):
    """A mutation setting target(objs)[field] = value."""
    return lambda objs: target(objs).__setitem__(field, value)


def _agent_subject():
    return {"kind": "ServiceAccount", "name": AGENT_SA, "namespace": NAMESPACE}


# (name, mutation): each must make at least one new check fail.
MUTATIONS = [
    # The agents (DaemonSet).
    ("privileged", _set(_sc, "privileged", True)),
    ("extra capability", lambda o: _sc(o)["capabilities"]["add"].append("SYS_ADMIN")),
    ("no drop ALL", lambda o: _sc(o)["capabilities"].__setitem__("drop", [])),
    ("writable root", _set(_sc, "readOnlyRootFilesystem", False)),
    ("escalation", _set(_sc, "allowPrivilegeEscalation", True)),
    ("non-root", _set(_sc, "runAsUser", 1000)),
    ("no hostNetwork", _set(_pod, "hostNetwork", False)),
    ("dnsPolicy", _set(_pod, "dnsPolicy", "ClusterFirst")),
    ("hostPath", _set(_pod, "volumes", [{"name": "p", "hostPath": {"path": "/proc/sys"}}])),
    ("keyed toleration", _set(_pod, "tolerations", [{"key": "a", "operator": "Exists"}])),
    ("priority", _set(_pod, "priorityClassName", "")),
    ("grace", _set(_pod, "terminationGracePeriodSeconds", 2)),
    ("liveness path", _set(lambda o: _ctr(o)["livenessProbe"]["httpGet"], "path", "/readyz")),
    ("readiness port", _set(lambda o: _ctr(o)["readinessProbe"]["httpGet"], "port", METRICS_PORT)),
    ("no requests", _set(_ctr, "resources", {})),
    ("NODE_NAME literal", lambda o: _env(o, "NODE_NAME").update({"value": "n1"}) or _env(o, "NODE_NAME").pop("valueFrom")),
    ("POD_NAMESPACE path", lambda o: _env(o, "POD_NAMESPACE")["valueFrom"]["fieldRef"].update(fieldPath="spec.nodeName")),
    ("envFrom", _set(_ctr, "envFrom", [])),
    ("agent publishes", _set(_ctr, "args", [])),
    ("agent role by env", lambda o: _ctr(o)["env"].append({"name": "KCR_RUN_PUBLISHER", "value": "true"})),
    ("agent as controller", _set(_pod, "serviceAccountName", NAME)),
    ("selector changed", lambda o: find(o, "DaemonSet")[0]["spec"]["selector"]["matchLabels"].update(
        {"app.kubernetes.io/component": "node-agent"})),
    # The controller (Deployment, PodDisruptionBudget).
    ("ctl one replica", lambda o: _dep(o)["spec"].update(replicas=1)),
    ("ctl runs tunnel", _set(_dctr, "args", [])),
    ("ctl hostNetwork", _set(_dpod, "hostNetwork", True)),
    ("ctl NET_ADMIN", lambda o: _dsc(o)["capabilities"].__setitem__("add", ["NET_ADMIN"])),
    ("ctl privileged", _set(_dsc, "privileged", True)),
    ("ctl root", _set(_dsc, "runAsUser", 0)),
    ("ctl may be root", lambda o: _dsc(o).pop("runAsNonRoot") and _dpod(o)["securityContext"].pop("runAsNonRoot")),
    ("ctl writable root", _set(_dsc, "readOnlyRootFilesystem", False)),
    ("ctl escalation", _set(_dsc, "allowPrivilegeEscalation", True)),
    ("ctl hostPath", _set(_dpod, "volumes", [{"name": "p", "hostPath": {"path": "/"}}])),
    ("ctl as agent", _set(_dpod, "serviceAccountName", AGENT_SA)),
    ("ctl no spread", lambda o: _dpod(o).pop("affinity")),
    ("ctl readiness path", _set(lambda o: _dctr(o)["readinessProbe"]["httpGet"], "path", "/healthz")),
    ("ctl liveness port", _set(lambda o: _dctr(o)["livenessProbe"]["httpGet"], "port", 8080)),
    ("ctl own settings", _set(_dctr, "envFrom", [{"configMapRef": {"name": "other"}}])),
    ("ctl no NODE_NAME", lambda o: _dctr(o).__setitem__(
        "env", [e for e in _dctr(o)["env"] if e["name"] != "NODE_NAME"])),
    ("ctl pods like agents", lambda o: _dep(o)["spec"]["template"]["metadata"]["labels"].update(
        {"app.kubernetes.io/name": NAME})),
    ("pdb selects nothing", lambda o: find(o, "PodDisruptionBudget")[0]["spec"]["selector"]["matchLabels"].update(
        {"app.kubernetes.io/name": "x"})),
    ("pdb blocks drains", lambda o: find(o, "PodDisruptionBudget")[0]["spec"].update(minAvailable=2)),
    ("no pdb", lambda o: o.remove(find(o, "PodDisruptionBudget")[0])),
    # Settings.
    ("bad VNID", _set(_settings, "VNID", "0")),
    ("text logs", _set(_settings, "KCR_LOG_FORMAT", "text")),
    ("unknown setting", _set(_settings, "NETWROK", "10.0.0.0/24")),
    ("role in settings", _set(_settings, "KCR_RUN_TUNNEL", "false")),
    # RBAC of both accounts.
    ("star verb", lambda o: _rules(o, "Role", NAME)[0].__setitem__("verbs", ["*"])),
    ("nodes update", lambda o: _rules(o, "ClusterRole", NAME)[0]["verbs"].append("update")),
    ("no nodes patch", lambda o: _rules(o, "ClusterRole", NAME)[0]["verbs"].remove("patch")),
    ("blockaffinities write", lambda o: _rules(o, "ClusterRole", NAME)[1]["verbs"].append("update")),
    ("all calico", lambda o: _rules(o, "ClusterRole", NAME)[1].__setitem__("resources", ["*"])),
    ("no ciliumnodes watch", lambda o: _rules(o, "ClusterRole", NAME)[2]["verbs"].remove("watch")),
    ("unrestricted cm get", lambda o: _named_rule(o).pop("resourceNames")),
    ("cm delete", lambda o: _named_rule(o)["verbs"].append("delete")),
    ("events read", lambda o: _rules(o, "Role", NAME + "-events")[0]["verbs"].append("list")),
    ("secrets", lambda o: _rules(o, "Role", NAME).append(_rule("", "secrets", "get"))),
    ("events cluster-wide", lambda o: _rules(o, "ClusterRole", NAME).append(_rule("", "events", "create"))),
    ("foreign subject", lambda o: find(o, "ClusterRoleBinding")[0]["subjects"].append(
        {"kind": "Group", "name": "system:authenticated"})),
    ("agent nodes patch", lambda o: _rules(o, "ClusterRole", AGENT_SA)[0]["verbs"].append("patch")),
    ("agent nodes get", lambda o: _rules(o, "ClusterRole", AGENT_SA)[0]["verbs"].append("get")),
    ("agent reads cm", lambda o: _obj(o, "RoleBinding", NAME).__setitem__("subjects", [_agent_subject()])),
    ("agent and ctl", lambda o: _obj(o, "RoleBinding", NAME)["subjects"].append(_agent_subject())),
    ("agent no events", lambda o: o.remove(_obj(o, "RoleBinding", AGENT_SA + "-events"))),
    ("agent no nodes", lambda o: _rules(o, "ClusterRole", AGENT_SA)[0]["verbs"].remove("watch")),
]


def _init(objs):
    return _pod(objs)["initContainers"][0]


CLEANUP_MUTATIONS = [
    ("cleanup privileged", _set(lambda o: _init(o)["securityContext"], "privileged", True)),
    ("cleanup no flag", _set(_init, "args", [])),
    ("cleanup token", lambda o: _pod(o).pop("automountServiceAccountToken")),
    ("cleanup hostNetwork", _set(_pod, "hostNetwork", False)),
]



# --- the Dockerfile ---------------------------------------------------------------

# In debian:12-slim already (Essential or required by apt).
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}


def runtime_stage_packages(text):
    """Packages `apt-get install`ed in the last stage (the image that ships)."""
    last = re.split(r"^FROM\s", text, flags=re.M)[-1]
    m = re.search(r"apt-get install([^&]*)", last.replace("\\\n", " "))
    return {w for w in (m.group(1).split() if m else []) if not w.startswith("-")}


def read_dockerfile():
    with open(os.path.join(SOURCE_DIR, "deploy", "Dockerfile"), encoding="utf-8") as f:
        return f.read()


def check_dockerfile(text, binary):
    """The image's stages, and its runtime packages against what the built binary links."""
    c = Checker()
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
    c.expect(froms == ["debian:12", "debian:12-slim"], "Dockerfile stages %r, want debian:12, debian:12-slim" % froms)
    c.expect("install-deps.sh" in text, "Dockerfile builder does not use deploy/install-deps.sh")
    c.expect(re.search(r"^USER 0\s*$", text, flags=re.M), "Dockerfile: no USER 0")
    c.expect(
        re.search(r'^ENTRYPOINT \["/usr/local/bin/kube-chorus-router"\]', text, flags=re.M),
        "Dockerfile: ENTRYPOINT is not the binary",
    )
    with open(os.path.join(SOURCE_DIR, ".dockerignore"), encoding="utf-8") as f:
        ignored = f.read().split()
    c.expect({".git", "build", "build-*"} <= set(ignored), ".dockerignore lacks .git or build trees")
    packages = runtime_stage_packages(text)
    if not binary or not shutil.which("readelf") or not shutil.which("dpkg"):
        return c.failures
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", run(["readelf", "-d", binary], os.environ))
    for lib in needed:
        p = subprocess.run(["dpkg", "-S", "*/" + lib], capture_output=True, text=True)
        owners = {line.split(":")[0] for line in p.stdout.splitlines() if line.strip()}
        c.expect(owners, "%s: no Debian package ships it" % lib)
        c.expect(
            not owners or owners & (packages | BASE_PACKAGES),
            "%s (package %s) is not installed in the runtime stage" % (lib, ", ".join(sorted(owners))),
        )
    return c.failures

def _sub(old, new):
    return lambda text: text.replace(old, new)


# (name, mutation of the Dockerfile's text, needs the built binary to be caught)
DOCKERFILE_MUTATIONS = [
    ("docker runtime base", _sub("FROM debian:12-slim", "FROM ubuntu:24.04"), False),
    ("docker user", _sub("USER 0", "USER 65534"), False),
    ("docker entrypoint", _sub('ENTRYPOINT ["/usr/local/bin/kube-chorus-router"]', 'ENTRYPOINT ["/bin/sh"]'), False),
    ("docker missing lib", _sub("libnl-route-3-200", ""), True),
]


def main():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("SKIP: kubectl is not installed (needed for `kubectl kustomize`)")
        return 77
    home = tempfile.mkdtemp(prefix="kcr-manifests-")
    try:
        # Own HOME (kubectl caches there) and an empty kubeconfig: nothing here
        # may reach a cluster.
        kubeconfig = os.path.join(home, "kubeconfig")
        open(kubeconfig, "w").close()
        env = dict(os.environ, HOME=home, KUBECONFIG=kubeconfig)
        main_objs = render(kubectl, env, MAIN_DIR)
        cleanup_objs = render(kubectl, env, CLEANUP_DIR)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for d, objs in ((MAIN_DIR, main_objs), (CLEANUP_DIR, cleanup_objs)):
        names = ", ".join("%s/%s" % (k[0], k[2]) for k in map(key, objs))
        print("rendered %s: %s" % (os.path.relpath(d, SOURCE_DIR), names))

    binary = os.path.join(os.environ.get("KCR_BINARY_DIR", "/nonexistent"), "kube-chorus-router")
    if not os.path.isfile(binary):
        binary = None
        print("note: Dockerfile runtime packages not compared with the binary's libraries (not built)")
    dockerfile_mutations = [(n, m) for n, m, needs_binary in DOCKERFILE_MUTATIONS if binary or not needs_binary]
    # (label, check: subject -> failures, subject, mutations)
    suites = [
        ("deploy/kubernetes", check_main, main_objs, MUTATIONS),
        ("deploy/kubernetes/cleanup", check_cleanup, cleanup_objs, CLEANUP_MUTATIONS),
        ("deploy/Dockerfile", lambda text: check_dockerfile(text, binary), read_dockerfile(), dockerfile_mutations),
    ]
    failed = missed = total = 0
    for label, check, subject, _ in suites:
        failures = check(subject)
        for f in failures:
            print("FAIL %s: %s" % (label, f))
        print("%s %s" % ("ok  " if not failures else "FAIL", label))
        failed += len(failures)
    for label, check, subject, mutations in suites:
        before = set(check(subject))
        for name, mutate in mutations:
            if isinstance(subject, str):  # text: a new string
                broken = mutate(subject)
            else:  # objects: changed in place
                broken = copy.deepcopy(subject)
                mutate(broken)
            # Only failures the mutation introduced count as catching it.
            caught = [f for f in check(broken) if f not in before]
            outcome = "caught: " + caught[0] if caught else "not caught"
            print("%s mutation %-22s %s" % ("ok  " if caught else "FAIL", name, outcome))
            missed += 0 if caught else 1
            total += 1
    print("%d failed expectations, %d/%d mutations caught" % (failed, total - missed, total))
    return 1 if failed or missed else 0

if __name__ == "__main__":
    sys.exit(main())
