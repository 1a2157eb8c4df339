"""The object store of the fake API server: one global resourceVersion over
all kinds (like an etcd revision), a bounded history of changes for watches
(the compaction window), and snapshots at an older RV for list paging.

Stored objects are never mutated after they are stored; each carries its
serialised JSON, built once, so that lists and watch fan-out join bytes
instead of re-encoding objects per request or per watcher."""

import bisect
import copy
import datetime
import json
import threading
import uuid

import k8s_status as st
import managed_fields as MF
import resources as R

ETCD_MAX_REQUEST_BYTES = 1572864  # etcd's default --max-request-bytes (1.5 MiB)


def stored_size(entry):
    """The size etcd sees, estimated from the JSON: kube-apiserver stores
    protobuf, where a string-map entry costs ~8 bytes besides key and value
    against JSON's 6 (measured: both refuse a ConfigMap at the same size)."""
    md = entry.obj.get("metadata") or {}
    entries = sum(len(m) for m in (entry.obj.get("data"),
                                   entry.obj.get("binaryData"),
                                   md.get("labels"), md.get("annotations"))
                  if isinstance(m, dict))
    return len(entry.item) + 2 * entries


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Entry:
    """One stored object version (without kind/apiVersion, like a list item)."""
    __slots__ = ("res", "obj", "_item", "_full")

    def __init__(self, res, obj):
        self.res = res
        self.obj = obj
        self._item = None
        self._full = None

    @property
    def item(self):
        """JSON bytes as a list item (no kind/apiVersion)."""
        if self._item is None:
            self._item = json.dumps(self.obj, separators=(",", ":"),
                                    ensure_ascii=False).encode()
        return self._item

    @property
    def full(self):
        """JSON bytes as a single GET / watch event object."""
        if self._full is None:
            head = (b'{"kind":"%s","apiVersion":"%s",'
                    % (self.res.kind.encode(), self.res.api_version.encode()))
            self._full = head + self.item[1:]
        return self._full


class Change:
    """A history record: the change that produced resourceVersion `rv`."""
    __slots__ = ("rv", "type", "res", "key", "entry", "prev", "_line")

    def __init__(self, rv, type_, res, key, entry, prev):
        self.rv, self.type, self.res, self.key = rv, type_, res, key
        self.entry, self.prev = entry, prev
        self._line = None

    @property
    def line(self):
        if self._line is None:
            self._line = event_line(self.type, self.entry)
        return self._line


def event_line(type_, entry):
    return b'{"type":"%s","object":%s}\n' % (type_.encode(), entry.full)


def obj_key(res, ns, name):
    return f"{ns}/{name}" if res.namespaced else name


class Store:
    def __init__(self, compaction_window=10000):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 1
        self.objs = {r.name: {} for r in R.ALL}     # key -> Entry
        self.keys = {r.name: [] for r in R.ALL}     # sorted keys
        self.hist = []                              # Change, ascending rv
        self.hist_start = 0                         # first live index
        self.compacted_rv = 0  # watches/continues from an RV below this fail
        self.window = compaction_window
        self.closed = False
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(R.NAMESPACES, "", {"metadata": {"name": ns},
                                           "spec": {"finalizers": ["kubernetes"]},
                                           "status": {"phase": "Active"}})

    # --- history ----------------------------------------------------------
    def _record(self, type_, res, key, entry, prev):
        self.hist.append(Change(self.rv, type_, res, key, entry, prev))
        self._trim()

    def _trim(self):
        limit = self.rv - self.window
        h = self.hist
        i = self.hist_start
        while i < len(h) and h[i].rv <= limit:
            self.compacted_rv = h[i].rv
            i += 1
        self.hist_start = i
        if i > 4096 and i * 2 > len(h):  # drop the dead prefix in O(n) rarely
            del h[:i]
            self.hist_start = 0

    def compact_all(self):
        """Fault `expire`: every RV a client has seen becomes too old."""
        with self.cond:
            self.rv += 1
            self.compacted_rv = self.rv
            self.hist = []
            self.hist_start = 0
            self.cond.notify_all()

    def changes_after(self, rv):
        """Changes with rv > `rv` (caller holds the lock, rv >= compacted_rv)."""
        i = bisect.bisect_right(self.hist, rv, lo=self.hist_start,
                                key=lambda c: c.rv)
        return self.hist[i:]

    # --- reads --------------------------------------------------------------
    def get(self, res, ns, name):
        e = self.objs[res.name].get(obj_key(res, ns, name))
        if e is None:
            raise st.not_found(res, name)
        return e

    def items(self, res, ns=""):
        """Current (key, Entry) pairs in etcd key order, optionally one ns."""
        objs, keys = self.objs[res.name], self.keys[res.name]
        if res.namespaced and ns:
            lo = bisect.bisect_left(keys, ns + "/")
            hi = bisect.bisect_left(keys, ns + "0")  # '0' follows '/'
            keys = keys[lo:hi]
        return [(k, objs[k]) for k in keys]

    def items_at(self, res, ns, rv):
        """(key, Entry) pairs as they were at `rv` (undoing later history)."""
        later = [c for c in self.changes_after(rv) if c.res is res]
        if not later:
            return self.items(res, ns)
        state = dict(self.items(res, ns))
        prefix = ns + "/" if res.namespaced and ns else ""
        for c in reversed(later):
            if prefix and not c.key.startswith(prefix):
                continue
            if c.prev is None:
                state.pop(c.key, None)
            else:
                state[c.key] = c.prev
        return sorted(state.items())

    # --- writes (each takes the lock; raises ApiError) --------------------------
    def _check_ns(self, res, ns):
        if res.namespaced and ns not in self.objs["namespaces"]:
            raise st.namespace_not_found(ns)

    def _store(self, type_, res, key, obj, prev):
        md = obj["metadata"]
        md["resourceVersion"] = str(self.rv + 1)
        entry = Entry(res, obj)
        # etcd refuses a write over --max-request-bytes of the whole stored
        # object (kube-apiserver stores protobuf; JSON is near enough). The
        # API server then drops managedFields and tries once more.
        if type_ != "DELETED" and stored_size(entry) > ETCD_MAX_REQUEST_BYTES:
            if md.pop("managedFields", None) is None:
                raise st.etcd_request_too_large()
            entry = Entry(res, obj)
            if stored_size(entry) > ETCD_MAX_REQUEST_BYTES:
                raise st.etcd_request_too_large()
        self.rv += 1
        objs = self.objs[res.name]
        if type_ == "DELETED":
            del objs[key]
            keys = self.keys[res.name]
            keys.pop(bisect.bisect_left(keys, key))
        else:
            if prev is None:
                bisect.insort(self.keys[res.name], key)
            objs[key] = entry
        self._record(type_, res, key, entry, prev)
        return entry

    def create(self, res, ns, obj, notify=True, manager=None):
        """manager: the field manager of an API request (None: untracked)."""
        with self.cond:
            obj = _strip(obj)
            md = obj.setdefault("metadata", {})
            if not isinstance(md, dict):
                raise st.bad_request("metadata must be an object")
            name = md.get("name") or ""
            if not name and md.get("generateName"):
                name = md["generateName"] + uuid.uuid4().hex[:5]
            if not name:
                raise st.invalid(res, "", [("FieldValueRequired", "metadata.name",
                                            "Required value: name or generateName "
                                            "is required")])
            if res.namespaced:
                if md.get("namespace") and md["namespace"] != ns:
                    raise st.bad_request(
                        "the namespace of the provided object does not match "
                        "the namespace sent on the request")
                self._check_ns(res, ns)
                md["namespace"] = ns
            else:
                md.pop("namespace", None)
            md["name"] = name
            R.validate_name(res, name)
            R.validate(res, obj)
            key = obj_key(res, ns, name)
            if key in self.objs[res.name]:
                raise st.already_exists(res, name)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_rfc3339()
            md.pop("deletionTimestamp", None)
            if manager:
                MF.on_create(obj, manager, res.api_version)
            e = self._store("ADDED", res, key, obj, None)
            if notify:
                self.cond.notify_all()
            return e

    def update(self, res, ns, name, obj, subresource="", raw=False,
               manager=None):
        """PUT. raw=True (control interface) writes the whole object as given.
        manager: the field manager of an API request (None: untracked)."""
        with self.cond:
            key = obj_key(res, ns, name)
            old = self.objs[res.name].get(key)
            if old is None:
                raise st.not_found(res, name)
            requested = ((obj.get("metadata") or {}).get("managedFields")
                         if isinstance(obj, dict) else None)
            obj = _strip(obj)
            md = obj.setdefault("metadata", {})
            if md.get("name", name) != name:
                raise st.bad_request(
                    f"the name of the object ({md.get('name')}) does not match "
                    f"the name on the URL ({name})")
            if res.namespaced and md.get("namespace", ns) != ns:
                raise st.bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request")
            want = md.get("resourceVersion")
            cur = old.obj["metadata"]["resourceVersion"]
            if want and want != cur and not raw:
                raise st.conflict(res, name)
            if subresource == "status":
                new = copy.deepcopy(old.obj)
                new["status"] = obj.get("status", {})
                obj = new
            elif res.has_status and not raw and "status" in old.obj:
                obj["status"] = old.obj["status"]
            omd = old.obj["metadata"]
            md = obj["metadata"]
            md["name"] = name
            if res.namespaced:
                md["namespace"] = ns
            for f in ("uid", "creationTimestamp"):
                md[f] = omd[f]
            md["resourceVersion"] = cur
            live = omd.get("managedFields")
            if manager and not raw and subresource != "status":
                if MF.strips(requested):
                    live = None
                elif requested:  # managedFields as given by the request
                    live = requested
                MF.on_update(old.obj, obj, live, manager, res.api_version)
            elif live:
                md["managedFields"] = live
            R.validate(res, obj)
            if obj == old.obj:  # no-op update: no new RV, no event (like etcd)
                return old
            e = self._store("MODIFIED", res, key, obj, old)
            self.cond.notify_all()
            return e

    def patch(self, res, ns, name, apply_fn, subresource="", raw=False,
              manager=None):
        """apply_fn(old object dict) -> new dict; a resourceVersion the
        patch sets makes it conditional."""
        with self.cond:
            old = self.get(res, ns, name)
            full = copy.deepcopy(old.obj)
            new = apply_fn(full)
            if not isinstance(new, dict):
                raise st.bad_request("patched object is not a JSON object")
            md = new.setdefault("metadata", {})
            cur = old.obj["metadata"]["resourceVersion"]
            if md.get("resourceVersion", cur) != cur and not raw:
                raise st.conflict(res, name)
            md["resourceVersion"] = cur
            return self.update(res, ns, name, new, subresource, raw, manager)

    def delete(self, res, ns, name, preconditions=None):
        with self.cond:
            key = obj_key(res, ns, name)
            old = self.get(res, ns, name)
            pre = preconditions or {}
            omd = old.obj["metadata"]
            if pre.get("uid") and pre["uid"] != omd["uid"]:
                raise st.conflict(res, name,
                                  f"Precondition failed: UID in precondition: "
                                  f"{pre['uid']}, UID in object meta: "
                                  f"{omd['uid']}")
            if (pre.get("resourceVersion")
                    and pre["resourceVersion"] != omd["resourceVersion"]):
                raise st.conflict(res, name,
                                  f"Precondition failed: ResourceVersion in "
                                  f"precondition: {pre['resourceVersion']}, "
                                  f"ResourceVersion in object meta: "
                                  f"{omd['resourceVersion']}")
            # DELETED carries the last state with the deletion RV
            last = copy.deepcopy(old.obj)
            e = self._store("DELETED", res, key, last, old)
            self.cond.notify_all()
            return e

    def create_many(self, res, objs):
        """Bulk create under one lock hold; one wake-up for all watchers."""
        with self.cond:
            out = [self.create(res, "", o, notify=False) for o in objs]
            self.cond.notify_all()
            return out

    def dump(self):
        with self.cond:
            out = {"resourceVersion": str(self.rv)}
            for r in R.ALL:
                out[r.name] = [json.loads(e.full) for _, e in self.items(r)]
            return out


def _strip(obj):
    if not isinstance(obj, dict):
        raise st.bad_request("the request body is not a JSON object")
    obj = copy.deepcopy(obj)
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    md = obj.get("metadata")
    if isinstance(md, dict):
        md.pop("managedFields", None)
    return obj
