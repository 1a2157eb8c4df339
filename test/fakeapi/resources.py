"""The resource kinds the fake API server serves, their discovery data,
validation and field/label selectors (as kube-apiserver 1.32 defines them)."""

import re
from dataclasses import dataclass

import k8s_status as st

MAX_CONFIGMAP_BYTES = 1048576  # core.MaxSecretSize


@dataclass(frozen=True)
class Resource:
    name: str            # plural, as in the URL
    singular: str
    kind: str
    group: str           # "" = core
    namespaced: bool
    short_names: tuple
    fields: tuple        # supported fieldSelector labels
    has_status: bool     # has a /status subresource (main PUT keeps status)

    @property
    def api_version(self):
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def qualified(self):
        """The resource as messages name it: configmaps, leases.coordination.k8s.io."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def list_kind(self):
        return self.kind + "List"


_NS_FIELDS = ("metadata.name", "metadata.namespace")
NODES = Resource("nodes", "node", "Node", "", False, ("no",),
                 ("metadata.name", "spec.unschedulable"), True)
NAMESPACES = Resource("namespaces", "namespace", "Namespace", "", False,
                      ("ns",), ("metadata.name", "status.phase"), True)
CONFIGMAPS = Resource("configmaps", "configmap", "ConfigMap", "", True,
                      ("cm",), _NS_FIELDS, False)
EVENTS = Resource("events", "event", "Event", "", True, ("ev",),
                  _NS_FIELDS + ("involvedObject.kind", "involvedObject.name",
                                "involvedObject.namespace",
                                "involvedObject.uid", "reason", "type",
                                "source", "reportingComponent"), False)
LEASES = Resource("leases", "lease", "Lease", "coordination.k8s.io", True,
                  (), _NS_FIELDS, False)

ALL = (NODES, NAMESPACES, CONFIGMAPS, EVENTS, LEASES)
BY_GROUP = {}
for _r in ALL:
    BY_GROUP[(_r.group, _r.name)] = _r

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def api_resource_list(group):
    """The APIResourceList of /api/v1 or /apis/<group>/v1."""
    out = []
    for r in ALL:
        if r.group != group:
            continue
        e = {"name": r.name, "singularName": r.singular,
             "namespaced": r.namespaced, "kind": r.kind, "verbs": VERBS}
        if r.short_names:
            e["shortNames"] = list(r.short_names)
        out.append(e)
        if r.has_status:
            out.append({"name": r.name + "/status", "singularName": "",
                        "namespaced": r.namespaced, "kind": r.kind,
                        "verbs": ["get", "patch", "update"]})
    gv = f"{group}/v1" if group else "v1"
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": gv, "resources": out}


# --- validation -------------------------------------------------------------
_DNS1123_SUB = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_SUB_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_CM_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CM_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or "
    "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
    "validation is '[-._a-zA-Z0-9]+')")


def _q(v):
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def validate_name(res, name):
    if len(name) > 253 or not _DNS1123_SUB.match(name):
        raise st.invalid(res, name, [(
            "FieldValueInvalid", "metadata.name",
            f"Invalid value: {_q(name)}: " + (
                "must be no more than 253 characters" if len(name) > 253
                else _DNS1123_SUB_MSG))])


def _key_errors(key):
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not _CM_KEY.match(key):
        errs.append(_CM_KEY_MSG)
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _byte_len(s):
    return len(s) if s.isascii() else len(s.encode())


def validate(res, obj):
    """Kind-specific validation; raises a 422 ApiError like the real server."""
    name = obj["metadata"].get("name", "")
    if res is not CONFIGMAPS:
        return
    causes = []
    total = 0
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    if not isinstance(data, dict) or not isinstance(binary, dict):
        raise st.bad_request("ConfigMap in version \"v1\" cannot be handled "
                             "as a ConfigMap: data must be a map of strings")
    for field, m in (("data", data), ("binaryData", binary)):
        for k, v in m.items():
            for e in _key_errors(k):
                causes.append(("FieldValueInvalid", f"{field}[{k}]",
                               f"Invalid value: {_q(k)}: {e}"))
            if not isinstance(v, str):
                raise st.bad_request(
                    f'ConfigMap in version "v1" cannot be handled as a '
                    f'ConfigMap: json: cannot unmarshal {type(v).__name__} '
                    f'into Go struct field ConfigMap.{field} of type string')
            # binaryData is base64 on the wire; its size is the decoded size
            total += _byte_len(v) if field == "data" else len(v) * 3 // 4
            if field == "binaryData" and k in data:
                causes.append(("FieldValueInvalid", f"binaryData[{k}]",
                               f"Invalid value: {_q(k)}: duplicate of key "
                               f"present in data"))
    if total > MAX_CONFIGMAP_BYTES:
        causes.append(("FieldValueTooLong", "[]",
                       f"Too long: may not be more than "
                       f"{MAX_CONFIGMAP_BYTES} bytes"))
    if causes:
        raise st.invalid(res, name, causes)


# --- selectors ----------------------------------------------------------------
def _field_value(obj, label):
    cur = obj
    if label == "source":  # events: source.component
        return str((obj.get("source") or {}).get("component", ""))
    for part in label.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return "false" if label == "spec.unschedulable" else ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(res, text):
    """-> list of (label, op, value); op '=' or '!='. 400 for unknown labels."""
    reqs = []
    if not text:
        return reqs
    for term in text.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v, op = *term.split("!=", 1), "!="
        elif "==" in term:
            k, v, op = *term.split("==", 1), "="
        elif "=" in term:
            k, v, op = *term.split("=", 1), "="
        else:
            raise st.bad_request(
                f'invalid field selector: invalid selector: \'{text}\'; '
                f'can\'t understand \'{term}\'')
        k = k.strip()
        if k not in res.fields:
            raise st.bad_request(f"field label not supported: {k}")
        reqs.append((k, op, v.strip()))
    return reqs


_LABEL_SET = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*(?:(notin|in)\s*\(([^)]*)\)"
                        r"|(==|=|!=)\s*([^\s,]*))?\s*$")


def _split_label_terms(text):
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t for t in terms if t.strip()]


def parse_label_selector(text):
    """-> list of (key, op, values); ops: = != in notin exists !exists."""
    reqs = []
    for term in _split_label_terms(text or ""):
        m = _LABEL_SET.match(term)
        if not m:
            raise st.bad_request(
                f"unable to parse requirement: <nil>: Invalid value: "
                f"{_q(term)}: invalid label selector")
        neg, key, setop, setvals, op, val = m.groups()
        if setop:
            vals = {v.strip() for v in setvals.split(",") if v.strip()}
            reqs.append((key, setop, vals))
        elif op:
            reqs.append((key, "!=" if op == "!=" else "=", {val}))
        else:
            reqs.append((key, "!exists" if neg else "exists", None))
    return reqs


def matches(obj, fields, labels):
    for label, op, v in fields:
        if (_field_value(obj, label) == v) != (op == "="):
            return False
    if labels:
        have = obj["metadata"].get("labels") or {}
        for key, op, vals in labels:
            present = key in have
            if op == "exists" and not present:
                return False
            if op == "!exists" and present:
                return False
            if op in ("=", "in") and (not present or have[key] not in vals):
                return False
            if op in ("!=", "notin") and present and have[key] in vals:
                return False
    return True
