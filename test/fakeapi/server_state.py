"""Mutable server-wide state shared by the API and control handlers:
runtime configuration, injected faults, accepted credentials, 403 rules,
request/write/emission logs and the registry of open connections."""

import collections
import os
import socket
import threading
import time

TOKEN_USER = "system:serviceaccount:kube-system:kube-chorus-router"
ANONYMOUS = "system:anonymous"


class Config:
    """Settings switchable at runtime through POST /config."""

    def __init__(self, args):
        self.watch_chunk_bytes = args.watch_chunk_bytes
        self.coalesce_events = args.coalesce_events
        self.bookmark_interval = args.bookmark_interval
        self.page_size_cap = args.page_size_cap
        self.expired_as_http_410 = args.expired_as_http_410
        # Benchmarks: each /writes entry also lists the Node-<ip> keys the
        # write added/removed (off by default: it costs a set diff per write).
        self.write_key_diff = False

    FIELDS = {"watch_chunk_bytes": int, "coalesce_events": bool,
              "bookmark_interval": float, "page_size_cap": int,
              "expired_as_http_410": bool, "write_key_diff": bool}

    def as_dict(self):
        return {k: getattr(self, k) for k in self.FIELDS}

    def update(self, d):
        for k, v in d.items():
            if k not in self.FIELDS:
                raise ValueError(f"unknown config field {k!r}")
            setattr(self, k, self.FIELDS[k](v))


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        self.delay_ms = 0
        self.fail = None          # {"status", "count", "path_prefix"}
        self.drop_mid_event = False

    def take_failure(self, path):
        """-> status code if the next matching request must fail, else None."""
        with self.lock:
            f = self.fail
            if not f or not path.startswith(f.get("path_prefix", "")):
                return None
            f["count"] -= 1
            if f["count"] <= 0:
                self.fail = None
            return int(f["status"])

    def take_drop_mid_event(self):
        with self.lock:
            hit, self.drop_mid_event = self.drop_mid_event, False
            return hit


class Auth:
    """Bearer tokens (flags, token file re-read per request, or POST /tokens)
    and client certificates (user = CN) when --client-ca is given."""

    def __init__(self, tokens, token_file, client_ca):
        self.static = list(tokens or [])
        self.token_file = token_file
        self.client_ca = client_ca
        self.override = None  # set by POST /tokens

    def accepted(self):
        """Set of accepted tokens, or None when token auth is off."""
        if self.override is not None:
            return set(self.override)
        if not self.static and not self.token_file:
            return None
        toks = set(self.static)
        if self.token_file:
            try:
                with open(self.token_file) as f:
                    toks.update(t.strip() for t in f if t.strip())
            except OSError:
                pass
        return toks

    def authenticate(self, header, cert_user):
        """-> (user, method) or None (401). method: bearer|cert|none."""
        toks = self.accepted()
        required = toks is not None or self.client_ca is not None
        if header:
            parts = header.split(None, 1)
            token = parts[1].strip() if (len(parts) == 2 and
                                         parts[0].lower() == "bearer") else None
            if toks is None and token:
                return (cert_user or TOKEN_USER,
                        "cert" if cert_user else "bearer")
            if token and token in toks:
                return TOKEN_USER, "bearer"
            if cert_user:
                return cert_user, "cert"
            return None
        if cert_user:
            return cert_user, "cert"
        if required:
            return None
        return ANONYMOUS, "none"


class Forbid:
    def __init__(self, rules):
        self.rules = list(rules or [])

    def denied(self, verb, resource):
        for r in self.rules:
            v, _, res = r.partition(":")
            if v in ("*", verb) and res in ("*", resource):
                return True
        return False


class Logs:
    def __init__(self, maxlen=200000):
        self.lock = threading.Lock()
        self.requests = collections.deque(maxlen=maxlen)
        self.writes = collections.deque(maxlen=maxlen)
        self.emitted = collections.deque(maxlen=maxlen)
        self.node_keys = {}  # (namespace, name) -> Node- keys of the last write

    def add(self, which, rec):
        with self.lock:
            getattr(self, which).append(rec)

    def add_write(self, rec, data, key_diff):
        """Logs a ConfigMap write; with key_diff also the Node- keys it
        added/removed against the previous logged write of that ConfigMap,
        computed under the log lock so that consecutive writes chain."""
        with self.lock:
            if key_diff:
                cur = {k for k in data if k.startswith("Node-")}
                prev = self.node_keys.get((rec["namespace"], rec["name"]), set())
                rec["node_keys"] = len(cur)
                rec["node_keys_added"] = sorted(cur - prev)
                rec["node_keys_removed"] = sorted(prev - cur)
                rec["data_bytes"] = sum(len(k) + len(v) for k, v in data.items())
                rec["value_bytes"] = sum(len(v) for v in data.values())
                self.node_keys[(rec["namespace"], rec["name"])] = cur
            self.writes.append(rec)

    def get(self, which):
        with self.lock:
            return list(getattr(self, which))

    def clear(self, which):
        with self.lock:
            getattr(self, which).clear()


class Connections:
    """Open API connections, so faults can cut them (drop_watches, refuse)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.all = set()
        self.watches = {}  # socket -> WatchStream

    def add(self, sock, stream=None):
        with self.lock:
            if stream is None:
                self.all.add(sock)
            else:
                self.watches[sock] = stream

    def remove(self, sock, stream=None):
        with self.lock:
            if stream is None:
                self.all.discard(sock)
            else:
                self.watches.pop(sock, None)

    def cut(self, watches_only):
        """Shut the sockets down mid-stream (no final chunk); the watch
        threads see `aborted` and end without writing anything more."""
        with self.lock:
            for stream in self.watches.values():
                stream.aborted = True
            socks = list(self.watches)
            if not watches_only:
                socks += list(self.all)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(socks)


class ServerState:
    def __init__(self, args, store):
        self.args = args
        self.store = store
        self.config = Config(args)
        self.faults = Faults()
        self.auth = Auth(args.token, args.token_file, args.client_ca)
        self.forbid = Forbid(args.forbid)
        self.logs = Logs()
        self.conns = Connections()
        self.started = time.time()
        self.pid = os.getpid()
        self.api_server = None     # set by the main module
        self.stopping = threading.Event()
        self.watch_ids = 0
        self.watch_lock = threading.Lock()

    def next_watch_id(self):
        with self.watch_lock:
            self.watch_ids += 1
            return self.watch_ids
