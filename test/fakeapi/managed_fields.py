"""metadata.managedFields as kube-apiserver v1.37 keeps them for Update
operations (create, PUT, PATCH), simplified where only the exact bytes would
differ. What matters for clients: the field is there, it grows with every
field a manager ever set (a ConfigMap written key by key records every key,
`f:KEY: {}`), and it counts toward etcd's request limit.

Checked against the real server (test/fakeapi/README.md):
- the manager is the `fieldManager` parameter, else the User-Agent up to its
  first "/", else "unknown"; one entry per manager and operation;
- a write takes the fields it changes from other managers; removed fields
  leave every set; a manager with no fields left disappears;
- a request whose metadata.managedFields is `[]` or holds an empty entry
  `[{}]` strips them; and once an object has none, Update operations never
  record any again (only server-side apply would);
- when the object with managedFields is over etcd's limit, the server drops
  them and retries once (store.py), which also leaves them off for good.
Simplified: lists are atomic (the real server keys set-like lists by value),
and the "." entry of a map field (data, labels, ...; structs such as spec
have none) is owned by whoever created the map.
"""

import datetime

# Set by the server on every object; never owned by a manager.
_SYSTEM = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp",
           "managedFields", "generation", "deletionTimestamp", "selfLink"}
# Map-typed fields of the kinds the fake serves (the others are structs).
MAPS = ("data", "binaryData", "labels", "annotations")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _paths(obj, prefix=()):
    """Leaf paths of a JSON object, plus (map..., ".") for every map field."""
    out = set()
    for k, v in obj.items():
        if prefix == ("metadata",) and k in _SYSTEM:
            continue
        p = prefix + (k,)
        if isinstance(v, dict):
            if k in MAPS:
                out.add(p + (".",))
            out |= _paths(v, p)
        else:
            out.add(p)
    return out


def _value(obj, path):
    for k in path:
        if k == ".":
            return "."
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj


def _encode(paths):
    tree = {}
    for p in sorted(paths):
        node = tree
        for k in p:
            node = node.setdefault(k if k == "." else "f:" + k, {})
    return tree


def _decode(fields, prefix=()):
    out = set()
    for k, v in (fields or {}).items():
        p = prefix + ((k,) if k == "." else (k[2:],))
        if k == "." or not v:
            out.add(p)
        else:
            out |= _decode(v, p)
    return out


def manager_of(query, user_agent):
    if query.get("fieldManager"):
        return query["fieldManager"]
    ua = (user_agent or "").split("/", 1)[0].strip()
    return ua or "unknown"


def strips(requested):
    """True when a request's managedFields ask to strip them: [] or [{}]."""
    return isinstance(requested, list) and (
        not requested or any(e == {} for e in requested))


def on_create(obj, manager, api_version, operation="Update"):
    """The entry of the creating manager: every field it set."""
    obj["metadata"]["managedFields"] = [
        _entry(manager, operation, api_version, _paths(obj))]


def on_update(old, new, live, manager, api_version, operation="Update"):
    """Sets new.metadata.managedFields from the `live` entries (None or [] =
    untracked: stays untracked) and the change from `old` to `new`."""
    md = new["metadata"]
    if not live:
        md.pop("managedFields", None)
        return
    before, after = _paths(old), _paths(new)
    changed = {p for p in after
               if p not in before or _value(old, p) != _value(new, p)}
    if not changed and before == after:  # a no-op write: nothing moves
        md["managedFields"] = live
        return
    entries = []
    mine = set()
    for e in live:
        owned = _decode(e.get("fieldsV1")) & after
        if e.get("manager") == manager and e.get("operation") == operation:
            mine = owned
            continue
        owned -= changed
        if owned:
            entries.append(dict(e, fieldsV1=_encode(owned)))
    mine |= changed
    if mine:
        entries.append(_entry(manager, operation, api_version, mine))
    md["managedFields"] = entries


def _entry(manager, operation, api_version, paths):
    return {"manager": manager, "operation": operation,
            "apiVersion": api_version,
            "time": _now(), "fieldsType": "FieldsV1",
            "fieldsV1": _encode(paths)}
