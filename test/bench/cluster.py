"""The API server under the benchmark, seen as a client sees it: the REAL
kube-apiserver + etcd (test/controlplane, the default) or the fake
(test/fakeapi, `--api fake`), both driven only through the Kubernetes API:
Nodes created and deleted with POST/DELETE /api/v1/nodes as admin, the
ConfigMap's revisions and the Nodes' events recorded by admin watches.

Python 3 standard library only."""

import base64
import http.client
import json
import os
import ssl
import sys
import threading
import time

from benchlib import CM_PATH, NAME, NS, ROOT, Fake, cpu_seconds

sys.path.insert(0, os.path.join(ROOT, "test", "controlplane"))
import controlplane  # noqa: E402

# The API server names the field manager of a write after the User-Agent;
# without one it records no managedFields at all, unlike any real client.
USER_AGENT = "kcr-bench/0 (admin harness)"


class HttpError(RuntimeError):
    def __init__(self, method, path, status, text):
        super().__init__(f"{method} {path}: {status} {text[:300]}")
        self.status, self.text = status, text


class Cluster:
    """Common client side: keep-alive connections per thread, admin calls."""

    def __init__(self):
        self._local = threading.local()

    # --- subclass facts: host, port, ssl context (None: plain HTTP) -----------
    def connect(self, timeout=120):
        if self.ctx is None:
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                           context=self.ctx)

    def call(self, method, path, body=None, ok=(200, 201), ctype="application/json"):
        """One admin call on this thread's kept-alive connection -> (status,
        raw body); HttpError unless the status is in `ok`."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        for attempt in (0, 1):
            c = getattr(self._local, "conn", None)
            if c is None:
                c = self._local.conn = self.connect()
            try:
                c.request(method, path, data, {"Content-Type": ctype, "User-Agent": USER_AGENT,
                                               "Accept": "application/json"})
                r = c.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, OSError):
                c.close()
                self._local.conn = None
                if attempt:
                    raise
        if ok and r.status not in ok:
            raise HttpError(method, path, r.status, raw.decode(errors="replace"))
        return r.status, raw

    def api(self, method, path, body=None, ok=(200, 201)):
        return json.loads(self.call(method, path, body, ok)[1])

    # --- the objects of the benchmark ----------------------------------------------
    def configmap_raw(self):
        return self.call("GET", f"{CM_PATH}/{NAME}")[1]

    def nodes(self):
        return self.api("GET", "/api/v1/nodes")["items"]

    def reset_configmap(self):
        """Deletes the ConfigMap (if any) and creates it empty."""
        self.call("DELETE", f"{CM_PATH}/{NAME}", ok=(200, 202, 404))
        self.call("POST", CM_PATH, {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": NAME, "namespace": NS},
                                    "data": {}})

    def server_cpu(self):
        return sum(cpu_seconds(p) for p in self.pids())


class RealCluster(Cluster):
    """etcd + kube-apiserver of test/controlplane (admin: client certificate)."""

    kind = "real"

    def __init__(self):
        super().__init__()
        self.cp = controlplane.ControlPlane()
        self.cp.__enter__()
        self.host, self.port = self.cp.host, self.cp.port
        self.ctx = ssl.create_default_context(cafile=self.cp.ca_file)
        self.ctx.load_cert_chain(self.cp.admin_cert, self.cp.admin_key)
        self.startup_seconds = self.cp.startup_seconds
        self.version = self.api("GET", "/version")["gitVersion"]

    def product_args(self):
        return ["--kubeconfig", self.cp.kubeconfig]

    def pids(self):
        return [p.pid for _, p, _ in self.cp.procs]

    def etcd_metric(self, name):
        return self.cp.etcd_metric(name)

    def etcd_value_bytes(self):
        """Size of the ConfigMap as etcd stores it (the protobuf value the
        API server wrote, read back with etcd's JSON gateway)."""
        key = base64.b64encode(f"/registry/configmaps/{NS}/{NAME}".encode()).decode()
        host, port = self.cp.etcd_url[len("http://"):].rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            c.request("POST", "/v3/kv/range", json.dumps({"key": key}))
            kvs = json.loads(c.getresponse().read()).get("kvs") or []
        finally:
            c.close()
        return len(base64.b64decode(kvs[0]["value"])) if kvs else None

    def log_lines(self, needle):
        """The kube-apiserver log's lines containing `needle`."""
        with open(os.path.join(self.cp.dir, "kube-apiserver.log"), errors="replace") as f:
            return [ln.strip() for ln in f if needle in ln]

    def stop(self):
        self.cp.stop()


class FakeCluster(Cluster):
    """test/fakeapi over plain HTTP (no auth), empty at start."""

    kind = "fake"
    version = "fake_apiserver.py"
    startup_seconds = 0.0
    ctx = None

    def __init__(self, logdir):
        super().__init__()
        self.fake = Fake(seed_nodes=0, logdir=logdir)
        self.host, self.port = self.fake.host, self.fake.port

    def product_args(self):
        return ["--master", self.fake.url]

    def pids(self):
        return [self.fake.pid]

    def etcd_metric(self, name):
        return None

    def etcd_value_bytes(self):
        return None

    def log_lines(self, needle):
        return []

    def stop(self):
        self.fake.stop()


# --- watches ------------------------------------------------------------------------
class Watch(threading.Thread):
    """An admin watch from the collection's current resourceVersion; every
    event line is kept raw with time.time() taken when its last byte was
    read (decoding is left to the reader so a 1-2 MB ConfigMap does not
    delay the timestamp of the next event)."""

    def __init__(self, cluster, path, field_selector=None):
        super().__init__(daemon=True)
        sel = f"&fieldSelector={field_selector}" if field_selector else ""
        rv = cluster.api("GET", f"{path}?limit=1{sel}")["metadata"]["resourceVersion"]
        self.conn = cluster.connect(timeout=None)
        self.conn.request("GET", f"{path}?watch=true&resourceVersion={rv}"
                                 f"&timeoutSeconds=3600{sel}",
                          headers={"Accept": "application/json", "User-Agent": USER_AGENT})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise HttpError("WATCH", path, self.resp.status, self.resp.read().decode())
        self.events = []  # (t, raw line)
        self.error = None
        self.start()

    def run(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                self.events.append((time.time(), line))
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.error = e  # cut by stop(), or the server went away

    def stop(self):
        """Cuts the stream under the reader, waits for it, then closes."""
        try:
            self.conn.sock.shutdown(2)
        except (OSError, AttributeError):
            pass
        self.join(10)
        self.conn.close()


class Revision:
    """One ConfigMap revision seen on the watch."""

    def __init__(self, t, line):
        self.t, self.size = t, len(line)
        ev = json.loads(line)
        self.type = ev["type"]
        obj = ev["object"]
        self.rv = obj.get("metadata", {}).get("resourceVersion")
        self.data = obj.get("data") or {}
        self.node_keys = {k for k in self.data if k.startswith("Node-")}
        self.mf_bytes = len(json.dumps(obj.get("metadata", {}).get("managedFields", []),
                                       separators=(",", ":")))


class ConfigMapWatch(Watch):
    def __init__(self, cluster, name=NAME):
        super().__init__(cluster, CM_PATH, f"metadata.name={name}")
        self._parsed = []

    def revisions(self):
        """Decoded revisions so far (ADDED/MODIFIED only), decoded once."""
        while len(self._parsed) < len(self.events):
            self._parsed.append(Revision(*self.events[len(self._parsed)]))
        return [r for r in self._parsed if r.type in ("ADDED", "MODIFIED")]

    def first_with(self, n):
        """-> (t, writes so far, size) of the first event whose data holds n
        `Node-` keys, or None. Counted on the raw bytes (managedFields
        spells them "f:Node-...") so that polling never holds the GIL for
        a full decode while the reader timestamps the next event."""
        for i, (t, line) in enumerate(list(self.events)):
            if line.count(b'"Node-') == n:
                return t, i + 1, len(line)
        return None


class NodeWatch(Watch):
    def __init__(self, cluster):
        super().__init__(cluster, "/api/v1/nodes")

    def seen(self):
        """{(name, ADDED|DELETED): first t}."""
        out = {}
        for t, line in list(self.events):
            ev = json.loads(line)
            if ev["type"] in ("ADDED", "DELETED"):
                out.setdefault((ev["object"]["metadata"]["name"], ev["type"]), t)
        return out


# --- Nodes in bulk ----------------------------------------------------------------------
def parallel(cluster, jobs, threads):
    """Runs [(method, path, body)] on `threads` kept-alive connections ->
    (seconds, [status of each job])."""
    statuses = [None] * len(jobs)
    nxt = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            m, p, b = jobs[i]
            statuses[i] = cluster.call(m, p, b, ok=None)[0]

    t0 = time.monotonic()
    ws = [threading.Thread(target=worker) for _ in range(threads)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    return time.monotonic() - t0, statuses


def create_nodes(cluster, nodes, threads=8):
    """POST each Node as admin -> seconds; raises if any was refused."""
    secs, st = parallel(cluster, [("POST", "/api/v1/nodes", n) for n in nodes], threads)
    bad = [s for s in st if s != 201]
    if bad:
        raise RuntimeError(f"{len(bad)} Node creations refused: {sorted(set(bad))}")
    return secs
