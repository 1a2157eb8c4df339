"""Deliberately broken copies of the rendered manifests (manifests_test.py):
every check must catch each one, or it is no check."""

from deploycheck import find
from manifests_expected import AGENT_SA, METRICS_PORT, NAME, NAMESPACE


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


