#!/usr/bin/env python3
"""Checks the Kubernetes deployment in deploy/kubernetes as the cluster sees it.

Renders deploy/kubernetes and deploy/kubernetes/cleanup with `kubectl kustomize`,
turns the YAML into JSON offline (`kubectl patch --local` with an empty merge
patch: no API server, no discovery), and asserts the properties the issue asks
for: the DaemonSet's host networking, NET_ADMIN-only security context, probes,
resources, settings ConfigMap, downward-API env, and least-privilege RBAC
(compared grant by grant against a table, so any extra permission fails).

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
IMAGE = "kube-chorus-router:0.1.0"
HEALTH_PORT = 20244
METRICS_PORT = 20245
SA = ("ServiceAccount", NAMESPACE, NAME)

# Every permission the controller needs (kube/api_client.cpp), and nothing else:
# (namespace or "" for cluster-wide, apiGroup, resource, verb) -> resourceNames
# (None = any name). create cannot be limited by name; list/watch of the
# ConfigMap can, because the controller always sends fieldSelector=metadata.name.
EXPECTED_GRANTS = {
    ("", "", "nodes", "list"): None,
    ("", "", "nodes", "watch"): None,
    (NAMESPACE, "", "configmaps", "get"): (NAME,),
    (NAMESPACE, "", "configmaps", "list"): (NAME,),
    (NAMESPACE, "", "configmaps", "watch"): (NAME,),
    (NAMESPACE, "", "configmaps", "patch"): (NAME,),
    (NAMESPACE, "", "configmaps", "create"): None,
    (NAMESPACE, "coordination.k8s.io", "leases", "get"): (NAME,),
    (NAMESPACE, "coordination.k8s.io", "leases", "update"): (NAME,),
    (NAMESPACE, "coordination.k8s.io", "leases", "create"): None,
    ("default", "", "events", "create"): None,
    ("default", "", "events", "patch"): None,
}

# Settings the issue requires in the settings ConfigMap, with a validator each.
def _cidr(v):
    n = ipaddress.ip_network(v, strict=True)
    return n.version == 4 and 8 <= n.prefixlen <= 30


def _int_in(lo, hi):
    return lambda v: v.isdigit() and lo <= int(v) <= hi


REQUIRED_SETTINGS = {
    "NETWORK": _cidr,
    "REMOTE_VTEPIP": lambda v: ipaddress.ip_address(v) is not None,
    "TYPE": lambda v: v in ("vxlan", "ipip"),
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
    for kind, n in (("ServiceAccount", 1), ("ClusterRole", 1), ("ClusterRoleBinding", 1), ("Role", 2),
                    ("RoleBinding", 2), ("ConfigMap", 1), ("DaemonSet", 1)):
        c.expect(kinds.count(kind) == n, "%d %s object(s), want %d" % (kinds.count(kind), kind, n))
    c.expect(find(objs, *SA), "no ServiceAccount %s/%s" % (NAMESPACE, NAME))

    dss = find(objs, "DaemonSet", NAMESPACE, NAME)
    if c.expect(len(dss) == 1, "no DaemonSet %s/%s" % (NAMESPACE, NAME)):
        check_daemonset(c, dss[0], objs)
    check_rbac(c, objs)
    return c.failures


def check_daemonset(c, ds, objs):
    spec = ds["spec"]
    pod = spec["template"]["spec"]
    ann = spec["template"].get("metadata", {}).get("annotations", {})
    check_node_pod(c, pod, "DaemonSet")
    prio = pod.get("priorityClassName")
    c.expect(prio == "system-node-critical", "priorityClassName %r" % prio)
    c.expect(pod.get("serviceAccountName") == NAME, "serviceAccountName %r" % pod.get("serviceAccountName"))
    c.expect(pod.get("automountServiceAccountToken") is not False, "the service account token is not mounted")
    c.expect((pod.get("terminationGracePeriodSeconds") or 30) >= 10, "terminationGracePeriodSeconds < 10")
    us = spec.get("updateStrategy", {})
    c.expect(
        us.get("type") == "RollingUpdate" and us.get("rollingUpdate", {}).get("maxUnavailable") == 1,
        "updateStrategy %r, want RollingUpdate maxUnavailable 1" % us,
    )
    c.expect(ann.get("prometheus.io/scrape") == "true", "prometheus.io/scrape annotation not \"true\"")
    c.expect(ann.get("prometheus.io/port") == str(METRICS_PORT), "prometheus.io/port not %d" % METRICS_PORT)
    c.expect(not pod.get("initContainers"), "the controller DaemonSet has init containers")
    if not c.expect(len(pod.get("containers", [])) == 1, "DaemonSet: want exactly one container"):
        return
    ctr = pod["containers"][0]
    c.expect(ctr.get("image") == IMAGE, "image %r, want %s" % (ctr.get("image"), IMAGE))
    check_security(c, ctr, pod, "DaemonSet container")

    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = ctr.get(probe, {}).get("httpGet", {})
        c.expect(get.get("path") == path, "%s path %r, want %s" % (probe, get.get("path"), path))
        c.expect(
            port_number(ctr, get.get("port")) == HEALTH_PORT,
            "%s port %r is not %d" % (probe, get.get("port"), HEALTH_PORT),
        )
    ports = {p.get("containerPort") for p in ctr.get("ports", [])}
    c.expect({HEALTH_PORT, METRICS_PORT} <= ports, "container ports %r lack %d/%d" % (ports, HEALTH_PORT, METRICS_PORT))
    req = ctr.get("resources", {}).get("requests", {})
    c.expect("cpu" in req and "memory" in req, "resources.requests %r lacks cpu or memory" % req)

    env = {e["name"]: e for e in ctr.get("env", [])}
    for var, path in (("NODE_NAME", "spec.nodeName"), ("POD_NAMESPACE", "metadata.namespace")):
        got = env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        c.expect(got == path, "%s from fieldRef %r, want %s" % (var, got, path))
    for var, port in (("KCR_HEALTH_ADDR", HEALTH_PORT), ("KCR_METRICS_ADDR", METRICS_PORT)):
        if var in env:
            value = env[var].get("value", "")
            c.expect(value.endswith(":%d" % port), "%s=%r is not on port %d" % (var, value, port))
    known = known_env_names()
    for var in env:
        c.expect(var in known, "env %s is no flag's variable (README flag table)" % var)

    refs = [e["configMapRef"]["name"] for e in ctr.get("envFrom", []) if "configMapRef" in e]
    if not c.expect(len(refs) == 1, "envFrom: want one configMapRef, got %r" % refs):
        return
    c.expect(refs[0].startswith(SETTINGS), "envFrom ConfigMap %r is not %s" % (refs[0], SETTINGS))
    cms = find(objs, "ConfigMap", ds["metadata"].get("namespace"), refs[0])
    if not c.expect(len(cms) == 1, "envFrom ConfigMap %r is not in the rendered output" % refs[0]):
        return
    data = cms[0].get("data", {})
    for k, valid in REQUIRED_SETTINGS.items():
        try:
            ok = k in data and valid(data[k])
        except ValueError:
            ok = False
        c.expect(ok, "settings %s=%r missing or invalid" % (k, data.get(k)))
    for k in data:
        c.expect(k in known, "settings key %s is no flag's variable (README flag table)" % k)
    # The Role's resourceNames and namespace must match where the controller writes.
    c.expect(data.get("KCR_CONFIGMAP_NAME", NAME) == NAME, "KCR_CONFIGMAP_NAME differs from the RBAC resourceNames")
    c.expect(
        data.get("KCR_CONFIGMAP_NAMESPACE", NAMESPACE) == NAMESPACE,
        "KCR_CONFIGMAP_NAMESPACE differs from the Role's namespace",
    )


def check_rbac(c, objs):
    roles = {key(o): o for o in objs if o["kind"] in ("Role", "ClusterRole")}
    for r in roles.values():
        label = "%s %s" % (r["kind"], r["metadata"]["name"])
        for rule in r.get("rules", []):
            for field in ("verbs", "resources", "apiGroups", "resourceNames"):
                c.expect("*" not in rule.get(field, []), "%s: '*' in %s" % (label, field))
            c.expect(not rule.get("nonResourceURLs"), "%s: nonResourceURLs" % label)
        c.expect(not r.get("aggregationRule"), "%s: aggregationRule" % label)

    grants = {}
    for b in objs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        label = "%s %s" % (b["kind"], b["metadata"]["name"])
        subjects = [(s.get("kind"), s.get("namespace", ""), s.get("name")) for s in b.get("subjects", [])]
        c.expect(subjects == [SA], "%s: subjects %r, want only the ServiceAccount" % (label, subjects))
        ref = b["roleRef"]
        if b["kind"] == "ClusterRoleBinding":
            c.expect(ref["kind"] == "ClusterRole", "%s binds a %s" % (label, ref["kind"]))
        bns = b["metadata"].get("namespace", "")
        role_ns = bns if ref["kind"] == "Role" else ""
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        if not c.expect(role is not None, "%s: roleRef %s %s not rendered" % (label, ref["kind"], ref["name"])):
            continue
        for rule in role.get("rules", []):
            names = tuple(sorted(rule["resourceNames"])) if rule.get("resourceNames") else None
            for g in rule.get("apiGroups", []):
                for res in rule.get("resources", []):
                    for v in rule.get("verbs", []):
                        k = (bns, g, res, v)
                        # Rules granting the same verb add up: any name wins over a list.
                        if k not in grants:
                            grants[k] = names
                        elif grants[k] is not None:
                            grants[k] = None if names is None else tuple(sorted(set(grants[k]) | set(names)))
    for k in sorted(set(grants) | set(EXPECTED_GRANTS)):
        where = k[0] or "cluster-wide"
        if k not in EXPECTED_GRANTS:
            c.expect(False, "extra permission: %s %s/%s in %s" % (k[3], k[1] or "core", k[2], where))
        elif k not in grants:
            c.expect(False, "missing permission: %s %s/%s in %s" % (k[3], k[1] or "core", k[2], where))
        else:
            c.expect(
                grants[k] == EXPECTED_GRANTS[k],
                "%s %s in %s: resourceNames %r, want %r" % (k[3], k[2], where, grants[k], EXPECTED_GRANTS[k]),
            )


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


def _pod(objs):
    return find(objs, "DaemonSet")[0]["spec"]["template"]["spec"]


def _ctr(objs):
    return _pod(objs)["containers"][0]


def _sc(objs):
    return _ctr(objs)["securityContext"]


def _env(objs, name):
    return [e for e in _ctr(objs)["env"] if e["name"] == name][0]


def _settings(objs):
    return find(objs, "ConfigMap")[0]["data"]


def _rules(objs, kind, name):
    return [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name][0]["rules"]


def _named_rule(objs):
    return [r for r in _rules(objs, "Role", NAME) if r.get("resourceNames")][0]


def _rule(group, resource, verb):
    return {"apiGroups": [group], "resources": [resource], "verbs": [verb]}


def _set(target, field, value):
    """A mutation setting target(objs)[field] = value."""
    return lambda objs: target(objs).__setitem__(field, value)


# (name, mutation): each must make at least one new check fail.
MUTATIONS = [
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
    ("bad VNID", _set(_settings, "VNID", "0")),
    ("text logs", _set(_settings, "KCR_LOG_FORMAT", "text")),
    ("unknown setting", _set(_settings, "NETWROK", "10.0.0.0/24")),
    ("star verb", lambda o: _rules(o, "Role", NAME)[0].__setitem__("verbs", ["*"])),
    ("nodes write", lambda o: _rules(o, "ClusterRole", NAME)[0]["verbs"].append("patch")),
    ("unrestricted cm get", lambda o: _named_rule(o).pop("resourceNames")),
    ("cm delete", lambda o: _named_rule(o)["verbs"].append("delete")),
    ("events read", lambda o: _rules(o, "Role", NAME + "-events")[0]["verbs"].append("list")),
    ("secrets", lambda o: _rules(o, "Role", NAME).append(_rule("", "secrets", "get"))),
    ("events cluster-wide", lambda o: _rules(o, "ClusterRole", NAME).append(_rule("", "events", "create"))),
    ("foreign subject", lambda o: find(o, "ClusterRoleBinding")[0]["subjects"].append(
        {"kind": "Group", "name": "system:authenticated"})),
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
