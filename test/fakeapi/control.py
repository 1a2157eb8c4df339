"""The control interface of the fake API server (plain HTTP, JSON): test
harnesses change cluster state, inject faults, rotate credentials and read
what the server saw and sent. See README.md for every endpoint."""

import json
import threading
import time
import urllib.parse

import http_base
import k8s_status as st
import patching
import resources as R

_KINDS = {r.name: r for r in R.ALL}


class ControlHandler(http_base.Handler):
    state = None  # ServerState, set by the main module

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def reply(self, obj, code=200):
        self.send_bytes(code, json.dumps(obj).encode())

    def dispatch(self):
        self.status_sent = 0
        path = urllib.parse.urlsplit(self.path).path
        parts = [p for p in path.split("/") if p]
        try:
            raw = self.read_body(64 << 20)
            body = json.loads(raw) if raw.strip() else {}
            self.route(parts, body)
        except st.ApiError as e:
            self.reply({"error": e.message, "status": e.status()}, e.code)
        except (ValueError, KeyError, TypeError) as e:
            self.reply({"error": f"{type(e).__name__}: {e}"}, 400)

    def route(self, parts, body):
        s, m = self.state, self.command
        if parts == ["healthz"]:
            return self.reply({"ok": True})
        if parts == ["config"]:
            if m == "POST":
                s.config.update(body)
                with s.store.cond:  # let watches pick up new timings
                    s.store.cond.notify_all()
            return self.reply(s.config.as_dict())
        if parts == ["objects"] and m == "GET":
            return self.reply(s.store.dump())
        if len(parts) == 1 and parts[0] in ("requests", "writes", "emitted"):
            if m == "DELETE":
                s.logs.clear(parts[0])
                return self.reply({"ok": True})
            return self.reply(s.logs.get(parts[0]))
        if parts == ["faults"] and m == "POST":
            return self.reply(self.faults(body))
        if parts == ["tokens"] and m == "POST":
            toks = body.get("tokens")
            s.auth.override = None if toks is None else [str(t) for t in toks]
            return self.reply({"ok": True})
        if parts == ["forbid"] and m == "POST":
            s.forbid.rules = [str(r) for r in body.get("rules") or []]
            return self.reply({"ok": True})
        if parts == ["nodes", "bulk"] and m == "POST":
            return self.bulk(body)
        if parts and parts[0] in _KINDS:
            return self.objects(_KINDS[parts[0]], parts[1:], body)
        self.reply({"error": f"no control endpoint {m} /{'/'.join(parts)}"}, 404)

    def bulk(self, body):
        s = self.state
        count = int(body.get("count", 0))
        prefix = str(body.get("prefix", "node-"))
        t0 = time.time()
        with s.store.cond:
            existing = s.store.objs["nodes"]
            nodes = s.nodegen.make(count, prefix, lambda n: n in existing)
            entries = s.store.create_many(R.NODES, nodes)
        return self.reply({"created": len(entries),
                           "names": [e.obj["metadata"]["name"] for e in entries],
                           "resourceVersion": str(s.store.rv),
                           "seconds": round(time.time() - t0, 3)})

    def objects(self, res, rest, body):
        """/nodes[/NAME], /configmaps[/NS/NAME] ... admin writes (no auth,
        no RV checks: PUT replaces the whole object, status included)."""
        store, m = self.state.store, self.command
        if res.namespaced:
            ns = rest[0] if rest else ((body.get("metadata") or {})
                                       .get("namespace") or "default")
            name = rest[1] if len(rest) > 1 else ""
        else:
            ns, name = "", rest[0] if rest else ""
        if m == "POST" and not name:
            e = store.create(res, ns, body)
            return self.reply(json.loads(e.full))
        if not name:
            if m == "GET":
                with store.cond:
                    items = store.items(res, ns if rest else "")
                return self.reply([json.loads(e.full) for _, e in items])
            raise st.method_not_allowed()
        if m == "GET":
            with store.cond:
                return self.reply(json.loads(store.get(res, ns, name).full))
        if m == "PUT":
            e = store.update(res, ns, name, body, raw=True)
        elif m == "PATCH":
            e = store.patch(res, ns, name,
                            lambda o: patching.merge_patch(o, body), raw=True)
        elif m == "DELETE":
            e = store.delete(res, ns, name)
        else:
            raise st.method_not_allowed()
        self.reply(json.loads(e.full))

    def faults(self, body):
        s = self.state
        f = s.faults
        out = {}
        if body.get("clear"):
            with f.lock:
                f.clear()
        if "delay_ms" in body:
            f.delay_ms = int(body["delay_ms"])
        if "fail" in body:
            fail = body["fail"]
            if fail:
                fail = {"status": int(fail.get("status", 500)),
                        "count": int(fail.get("count", 1)),
                        "path_prefix": str(fail.get("path_prefix", ""))}
            with f.lock:
                f.fail = fail or None
        if body.get("drop_mid_event"):
            with f.lock:
                f.drop_mid_event = True
        if body.get("expire"):
            s.store.compact_all()
            out["compacted_rv"] = str(s.store.compacted_rv)
        if body.get("drop_watches"):
            out["dropped_watches"] = s.conns.cut(watches_only=True)
        if body.get("refuse_seconds"):
            secs = float(body["refuse_seconds"])
            done = threading.Event()
            threading.Thread(target=s.refuse, args=(secs, done),
                             daemon=True).start()
            done.wait(5)  # the listener is closed when we answer
            out["refusing_seconds"] = secs
        out["ok"] = True
        return out
