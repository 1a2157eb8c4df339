"""The checks of the rendered deploy/kubernetes (manifests_test.py): both
workloads, their pods' security, the settings ConfigMap, and the cleanup
DaemonSet. Each returns or collects failures, never stops at the first."""

import os
import re

from deploycheck import SOURCE_DIR, Checker, find, key, labels_match
from manifests_expected import (AGENT_SA, ACCOUNTS, CONTROLLER, HEALTH_PORT, IMAGE, METRICS_PORT,
                                NAME, NAMESPACE, REQUIRED_SETTINGS, ROLE_ARGS, ROLE_VARS, SETTINGS)
from manifests_rbac import check_rbac


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

