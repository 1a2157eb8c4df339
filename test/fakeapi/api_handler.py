"""The Kubernetes API side of the fake: authentication, authorisation
(403 rules), injected faults, discovery for kubectl, and list / get / create
/ update / patch / delete / watch for the kinds in resources.py."""

import base64
import binascii
import json
import time
import urllib.parse
import uuid

import http_base
import k8s_status as st
import managed_fields as MF
import patching
import resources as R
from server_state import ANONYMOUS
from watch import WatchStream

MAX_BODY = 3 * 1024 * 1024  # apiserver's MaxRequestBodyBytes
RV_WAIT_SECONDS = 3.0       # how long a too-new RV may wait before 504
OPEN_PATHS = ("/healthz", "/readyz", "/livez")

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0+fakeapi",
           "gitCommit": "0000000000000000000000000000000000000000",
           "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
           "goVersion": "go1.23.4", "compiler": "gc",
           "platform": "linux/amd64"}
_COORD_GV = {"groupVersion": "coordination.k8s.io/v1", "version": "v1"}
API_GROUP = {"name": "coordination.k8s.io", "versions": [_COORD_GV],
             "preferredVersion": _COORD_GV}


def _json(obj):
    return st.dumps(obj).encode()


class ApiHandler(http_base.Handler):
    state = None  # ServerState, set by the main module

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # --- request envelope ---------------------------------------------------
    def dispatch(self):
        self.t_received = time.time()  # headers read, body not yet
        self.status_sent = 0
        self.body_consumed = False
        self.auth_method = "none"
        self.logged = False
        u = urllib.parse.urlsplit(self.path)
        path, query = u.path, u.query
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(
            query, keep_blank_values=True).items()}
        audit = {"Audit-Id": str(uuid.uuid4()),
                 "Cache-Control": "no-cache, private"}
        try:
            delay = self.state.faults.delay_ms
            if delay:
                time.sleep(delay / 1000.0)
            who = self.state.auth.authenticate(
                self.headers.get("Authorization"), self._cert_user())
            # No credentials where some are required: kube-apiserver (with its
            # default --anonymous-auth) takes the request as system:anonymous,
            # which RBAC then refuses (403); only wrong credentials are a 401.
            self.anonymous = who is None and not self.headers.get("Authorization")
            if who is None:
                if not self.anonymous:
                    raise st.unauthorized()
                who = (ANONYMOUS, "none")
            self.user, self.auth_method = who
            code = self.state.faults.take_failure(path)
            if code:
                raise st.injected(code)
            self.route(path, q, audit)
        except st.ApiError as e:
            if not self.status_sent:
                # A request refused before its body was read (401, 403, 404, ...): read the body
                # anyway, as a real server does, so the kept-alive connection stays in sync.
                if not self.body_consumed:
                    try:
                        self.read_body(1 << 62)
                    except Exception:
                        self.close_connection = True
                self.send_error_status(e, audit)
        except json.JSONDecodeError as e:
            if not self.status_sent:
                self.send_error_status(st.bad_request(
                    f"error decoding request body: {e}"), audit)
        finally:
            if not self.logged:
                self.log_request_record(path, query)

    def log_request_record(self, path=None, query=None):
        """Into GET /requests; watches log when their stream starts."""
        if path is None:
            u = urllib.parse.urlsplit(self.path)
            path, query = u.path, u.query
        self.logged = True
        self.state.logs.add("requests", {
            "t": time.time(), "method": self.command, "path": path,
            "query": query, "user_agent": self.headers.get("User-Agent", ""),
            "auth": self.auth_method, "status": self.status_sent})

    def _cert_user(self):
        getpeer = getattr(self.connection, "getpeercert", None)
        if getpeer is None:
            return None
        cert = getpeer()
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def ok(self, body, audit, code=200):
        self.send_bytes(code, body, headers=audit)

    # --- routing ----------------------------------------------------------------
    def route(self, path, q, audit):
        parts = [p for p in path.split("/") if p]
        get = self.command in ("GET", "HEAD")
        if path in OPEN_PATHS or (parts and parts[0] in ("healthz", "readyz",
                                                          "livez")):
            return self.send_bytes(200, b"ok", "text/plain; charset=utf-8",
                                   audit)
        if parts == ["version"] and get:
            return self.ok(_json(VERSION), audit)
        if parts == ["api"] and get:
            host = self.headers.get("Host", "127.0.0.1")
            return self.ok(_json({"kind": "APIVersions", "versions": ["v1"],
                                  "serverAddressByClientCIDRs": [
                                      {"clientCIDR": "0.0.0.0/0",
                                       "serverAddress": host}]}), audit)
        if parts == ["apis"] and get:
            return self.ok(_json({"kind": "APIGroupList", "apiVersion": "v1",
                                  "groups": [API_GROUP]}), audit)
        if parts == ["apis", "coordination.k8s.io"] and get:
            return self.ok(_json(dict({"kind": "APIGroup", "apiVersion": "v1"},
                                      **API_GROUP)), audit)
        if parts == ["api", "v1"] and get:
            return self.ok(_json(R.api_resource_list("")), audit)
        if parts == ["apis", "coordination.k8s.io", "v1"] and get:
            return self.ok(_json(R.api_resource_list("coordination.k8s.io")),
                           audit)
        if parts[:2] == ["api", "v1"]:
            return self.resource(parts[2:], "", q, audit)
        if parts[:3] == ["apis", "coordination.k8s.io", "v1"]:
            return self.resource(parts[3:], "coordination.k8s.io", q, audit)
        if parts and parts[0] in ("api", "apis"):
            raise st.path_not_found()
        # like the real mux for unknown paths (e.g. /openapi/v2 on old servers)
        self.send_bytes(404, b"404 page not found\n",
                        "text/plain; charset=utf-8", audit)

    def resource(self, rest, group, q, audit):
        watch = q.get("watch") in ("true", "1")
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        ns, name, sub = "", "", ""
        if (rest and rest[0] == "namespaces" and len(rest) >= 3
                and not (group == "" and rest[2] == "status")):
            ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise st.path_not_found()
        res = R.BY_GROUP.get((group, rest[0]))
        if res is None or (ns and not res.namespaced):
            raise st.path_not_found()
        if len(rest) >= 2:
            name = rest[1]
        if len(rest) == 3:
            sub = rest[2]
            if sub != "status" or not res.has_status:
                raise st.path_not_found()
        verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete"}[self.command]
        if not name and verb == "get":
            verb = "watch" if watch else "list"
        what = res.name + ("/" + sub if sub else "")
        if self.anonymous or self.state.forbid.denied(verb, what):
            raise st.forbidden(res.qualified, res.name, res.group, name, verb,
                               self.user, ns, sub)
        if verb in ("list", "watch"):
            fields = R.parse_field_selector(res, q.get("fieldSelector"))
            labels = R.parse_label_selector(q.get("labelSelector"))
            if verb == "watch":
                return WatchStream(self, self.state, res, ns, q, fields,
                                   labels).serve()
            return self.list(res, ns, q, fields, labels, audit)
        if not name and verb != "create":
            raise st.method_not_allowed()
        if name and verb == "create":
            raise st.method_not_allowed()
        return getattr(self, "do_" + verb)(res, ns, name, sub, q, audit)

    # --- reads ----------------------------------------------------------------
    def _wait_for_rv(self, rv):
        """A too-new RV waits ~3 s for the store, then 504 (caller holds lock)."""
        store = self.state.store
        end = time.monotonic() + RV_WAIT_SECONDS
        while store.rv < rv:
            left = end - time.monotonic()
            if left <= 0:
                raise st.too_large_rv(rv, store.rv)
            store.cond.wait(left)

    def list(self, res, ns, q, fields, labels, audit):
        store, cfg = self.state.store, self.state.config
        rv_param = q.get("resourceVersion", "")
        cont = q.get("continue", "")
        try:
            limit = max(0, int(q.get("limit") or 0))
        except ValueError:
            raise st.bad_request("limit: Invalid value") from None
        if cont and rv_param not in ("", "0"):
            raise st.bad_request(
                "specifying resource version is not allowed when using continue")
        if rv_param == "0" and not cont:
            limit = 0  # served from the watch cache, which ignores limit
        if limit and cfg.page_size_cap > 0:
            limit = min(limit, cfg.page_size_cap)
        start = ""
        with store.cond:
            if cont:
                list_rv, start = _decode_continue(cont)
                if list_rv == -1:  # the token of an expired-continue answer
                    list_rv = store.rv
                if list_rv < store.compacted_rv:
                    raise st.expired_continue(_encode_continue(-1, start[:-1]))
                items = store.items_at(res, ns, list_rv)
            else:
                want = _parse_rv(rv_param) if rv_param not in ("", "0") else 0
                if want:
                    self._wait_for_rv(want)
                # Exact, or "not older than" with a limit: read at that RV (the
                # real server pages from a snapshot at RV, or etcd at RV).
                if want and (q.get("resourceVersionMatch") == "Exact" or limit):
                    if want < store.compacted_rv:
                        raise st.expired_list()
                    items, list_rv = store.items_at(res, ns, want), want
                else:
                    items, list_rv = store.items(res, ns), store.rv
        i = 0
        if start:
            lo, hi = 0, len(items)
            while lo < hi:  # first key >= start
                mid = (lo + hi) // 2
                if items[mid][0] < start:
                    lo = mid + 1
                else:
                    hi = mid
            i = lo
        plain = not fields and not labels
        out, last = [], None
        while i < len(items) and (not limit or len(out) < limit):
            k, e = items[i]
            i += 1
            if plain or R.matches(e.obj, fields, labels):
                out.append(e.item)
                last = k
        meta = {"resourceVersion": str(list_rv)}
        if limit and i < len(items):
            meta["continue"] = _encode_continue(list_rv, last or items[i - 1][0])
            if plain:
                meta["remainingItemCount"] = len(items) - i
        head = (b'{"kind":"%s","apiVersion":"%s","metadata":%s,"items":['
                % (res.list_kind.encode(), res.api_version.encode(),
                   _json(meta)))
        self.ok(head + b",".join(out) + b"]}", audit)

    def do_get(self, res, ns, name, sub, q, audit):
        with self.state.store.cond:
            e = self.state.store.get(res, ns, name)
        self.ok(e.full, audit)

    # --- writes ---------------------------------------------------------------
    def _body_json(self, patch=False):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if not patch and ctype not in ("", "application/json", "*/*",
                                       "application/yaml"):
            raise st.ApiError(
                415, "UnsupportedMediaType",
                f'the body of the request was in an unknown format - '
                f'accepted media types include: application/json, '
                f'application/yaml', {})
        raw = self.read_body(MAX_BODY)
        if not raw:
            raise st.bad_request("the request body is empty")
        return json.loads(raw)

    def _log_write(self, res, e, deleted=False):
        if res is R.CONFIGMAPS:
            md = e.obj["metadata"]
            data = {} if deleted else (e.obj.get("data") or {})
            rec = {"t": time.time(), "method": self.command, "name": md["name"],
                   "namespace": md.get("namespace"),
                   "resourceVersion": md["resourceVersion"],
                   "data_keys": len(data)}
            key_diff = self.state.config.write_key_diff
            if key_diff:  # when the request's headers had arrived
                rec["t_received"] = self.t_received
            self.state.logs.add_write(rec, data, key_diff)

    def _manager(self, q):
        return MF.manager_of(q, self.headers.get("User-Agent"))

    def do_create(self, res, ns, name, sub, q, audit):
        e = self.state.store.create(res, ns, self._body_json(),
                                    manager=self._manager(q))
        self._log_write(res, e)
        self.ok(e.full, audit, 201)

    def do_update(self, res, ns, name, sub, q, audit):
        e = self.state.store.update(res, ns, name, self._body_json(), sub,
                                    manager=self._manager(q))
        self._log_write(res, e)
        self.ok(e.full, audit)

    def do_patch(self, res, ns, name, sub, q, audit):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        body = self._body_json(patch=True)
        store = self.state.store
        if ctype == "application/merge-patch+json":
            fn = lambda o: patching.merge_patch(o, body)  # noqa: E731
        elif ctype == "application/strategic-merge-patch+json":
            fn = lambda o: patching.strategic_merge_patch(o, body)  # noqa: E731
        elif ctype == "application/json-patch+json":
            fn = lambda o: patching.json_patch(o, body)  # noqa: E731
        elif ctype == "application/apply-patch+yaml":
            if not q.get("fieldManager"):
                raise st.bad_request(
                    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                    'Required value: is required for apply patch')
            # server-side apply, simplified: merge the applied configuration
            with store.cond:
                exists = (store.objs[res.name].get(
                    f"{ns}/{name}" if res.namespaced else name) is not None)
                if not exists:
                    body.setdefault("metadata", {})["name"] = name
                    e = store.create(res, ns, body, manager=self._manager(q))
                    self._log_write(res, e)
                    return self.ok(e.full, audit, 201)
            fn = lambda o: patching.strategic_merge_patch(o, body)  # noqa: E731
        else:
            raise st.unsupported_media_type(ctype)
        e = store.patch(res, ns, name, fn, sub, manager=self._manager(q))
        self._log_write(res, e)
        self.ok(e.full, audit)

    def do_delete(self, res, ns, name, sub, q, audit):
        if sub:
            raise st.method_not_allowed()
        raw = self.read_body(MAX_BODY)
        opts = json.loads(raw) if raw.strip() else {}
        e = self.state.store.delete(res, ns, name, opts.get("preconditions"))
        self._log_write(res, e, deleted=True)
        details = {"name": name}
        if res.group:
            details["group"] = res.group
        details.update({"kind": res.name, "uid": e.obj["metadata"]["uid"]})
        self.ok(_json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Success", "details": details}), audit)


def _parse_rv(text):
    try:
        v = int(text)
        if v < 0:
            raise ValueError
        return v
    except ValueError:
        raise st.bad_request(f'resourceVersion: Invalid value: "{text}": '
                             f'strconv.ParseUint: parsing "{text}": '
                             f'invalid syntax') from None


def _encode_continue(rv, last_key):
    tok = st.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last_key + "\x00"})
    return base64.urlsafe_b64encode(tok.encode()).decode().rstrip("=")


def _decode_continue(text):
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        tok = json.loads(raw)
        if tok.get("v") != "meta.k8s.io/v1":
            raise ValueError
        return int(tok["rv"]), str(tok["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise st.bad_request("continue key is not valid: incorrect encoded "
                             "start resourceVersion (version "
                             "meta.k8s.io/v1)") from None
