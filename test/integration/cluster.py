"""The cluster an integration test drives, behind one small interface: the
REAL control plane (etcd + kube-apiserver, test/controlplane; the default)
or the fake API server (test/fakeapi; for the faults a real server cannot
produce on demand).

Both classes offer the same methods, so that a test body does not care:
  nodes() node(name) create_node(obj) add_node(name, ip, cidr)
  create_nodes(count, prefix) patch_node(name, merge_patch) delete_node(name)
  configmap() data() create_configmap(data) put_configmap(cm)
  delete_configmap() lease() events()
  writes() clear_writes()      ConfigMap writes, each {t, resourceVersion, ...}
  requests() clear_requests()  the API requests of everybody but the test
  forbid(["verb:resource", ...])  403 for those (an empty list lifts it)
  install_crds(paths)  CustomResourceDefinitions, served when it returns
                       (the real control plane only)
  server, ca_file, binary_token   what the binary connects with
  stop() log_tail()
Reads raise when the object is missing (wait_for counts that as 'not yet').
"""

import concurrent.futures
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FAKE = os.path.join(ROOT, "test", "fakeapi", "fake_apiserver.py")
DEPLOY = os.path.join(ROOT, "deploy", "kubernetes")
sys.path.insert(0, os.path.join(ROOT, "test", "controlplane"))
sys.path.insert(0, os.path.join(ROOT, "test", "fakeapi"))
import controlplane  # noqa: E402
import nodegen  # noqa: E402  - the fake's --seed-nodes shapes, held once

TOKEN = "integration-token"  # the fake's accepted bearer token
NS, NAME = "kube-system", "kube-chorus-router"
SA_USER = f"system:serviceaccount:{NS}:{NAME}"


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies (a
    ctest timeout), so no binary or fake outlives its test."""
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def tail(path, n=80):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        return str(e)
    return "".join(lines[-n:])


def node_object(name, ip, pod_cidr):
    """A Ready Node with one InternalIP and (when given) one pod CIDR."""
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {},
            "status": {"addresses": [{"type": "InternalIP", "address": ip},
                                     {"type": "Hostname", "address": name}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}
    if pod_cidr:
        node["spec"] = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    return node


# --- the fake API server ---------------------------------------------------------


class Fake:
    """The fake API server as a subprocess (logs to a file), with its control
    interface. `prefix` runs it under a wrapper, e.g. ['ip','netns','exec',NS]."""

    def __init__(self, workdir, *args, prefix=(), tls=True, token=TOKEN,
                 netns=None):
        self.netns = netns  # the control port is only reachable in there
        if netns:
            prefix = ("ip", "netns", "exec", netns, *prefix)
        self.log_path = os.path.join(workdir, "fakeapi.log")
        self.log = open(self.log_path, "w")
        cmd = [*prefix, sys.executable, FAKE, *args]
        if tls:
            cmd += ["--tls-dir", os.path.join(workdir, "tls")]
        if token:
            cmd += ["--token", token]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True,
                                     preexec_fn=die_with_parent)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fake_apiserver did not start; see "
                               + self.log_path)
        self.info = json.loads(line)
        self.api_url = self.info["api_url"]
        self.cport = self.info["control_port"]
        self.ca_file = self.info["ca_file"]

    def stop(self):
        controlplane.stop_process(self.proc)
        self.proc.stdout.close()
        self.log.close()

    def ctl(self, method, path, body=None):
        if self.netns:
            return self._ctl_in_netns(method, path, body)
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=30)
        try:
            h = {"Content-Type": "application/json"} if body is not None else {}
            c.request(method, path,
                      body=None if body is None else json.dumps(body), headers=h)
            r = c.getresponse()
            data = json.loads(r.read() or b"null")
            if r.status != 200:
                raise RuntimeError(f"control {method} {path}: {r.status} {data}")
            return data
        finally:
            c.close()

    def _ctl_in_netns(self, method, path, body):
        # A process in another network namespace cannot reach this one's
        # loopback: make the call from inside (ip netns exec python3).
        code = ("import http.client,json,sys\n"
                "c=http.client.HTTPConnection('127.0.0.1',int(sys.argv[1]),"
                "timeout=30)\n"
                "b=sys.argv[4] or None\n"
                "c.request(sys.argv[2],sys.argv[3],body=b,headers="
                "{'Content-Type':'application/json'} if b else {})\n"
                "r=c.getresponse();d=r.read().decode()\n"
                "print(r.status);print(d)\n")
        out = subprocess.run(
            ["ip", "netns", "exec", self.netns, sys.executable, "-c", code,
             str(self.cport), method, path,
             "" if body is None else json.dumps(body)],
            capture_output=True, text=True, timeout=30, check=True).stdout
        status, _, data = out.partition("\n")
        data = json.loads(data or "null")
        if status.strip() != "200":
            raise RuntimeError(f"control {method} {path}: {status} {data}")
        return data


class FakeCluster:
    """The cluster interface on the fake (its control port)."""
    backend = "fake"

    def __init__(self, workdir, seed_nodes=0, forbid=(), fake_args=(),
                 tls=True, token=TOKEN, netns=None):
        args = list(fake_args)
        if seed_nodes:
            args += ["--seed-nodes", str(seed_nodes)]
        for rule in forbid:
            args += ["--forbid", rule]
        self.fake = Fake(workdir, *args, tls=tls, token=token, netns=netns)
        self.server, self.ca_file = self.fake.api_url, self.fake.ca_file
        self.binary_token = token

    def stop(self):
        self.fake.stop()

    def log_tail(self):
        return "----- log of the fake API server -----\n" + tail(
            self.fake.log_path, 40)

    def nodes(self):
        return self.fake.ctl("GET", "/nodes")

    def node(self, name):
        return self.fake.ctl("GET", f"/nodes/{name}")

    def create_node(self, obj):
        return self.fake.ctl("POST", "/nodes", obj)

    def add_node(self, name, ip, pod_cidr):
        return self.create_node(node_object(name, ip, pod_cidr))

    def create_nodes(self, count, prefix):
        return self.fake.ctl("POST", "/nodes/bulk",
                             {"count": count, "prefix": prefix})["created"]

    def patch_node(self, name, patch):
        return self.fake.ctl("PATCH", f"/nodes/{name}", patch)

    def delete_node(self, name):
        self.fake.ctl("DELETE", f"/nodes/{name}")

    def configmap(self):
        return self.fake.ctl("GET", f"/configmaps/{NS}/{NAME}")

    def data(self):
        return self.configmap().get("data") or {}

    def create_configmap(self, data):
        return self.fake.ctl("POST", "/configmaps", {
            "metadata": {"name": NAME, "namespace": NS}, "data": data})

    def put_configmap(self, cm):
        return self.fake.ctl("PUT", f"/configmaps/{NS}/{NAME}", cm)

    def delete_configmap(self):
        self.fake.ctl("DELETE", f"/configmaps/{NS}/{NAME}")

    def lease(self):
        return self.fake.ctl("GET", f"/leases/{NS}/{NAME}")

    def events(self):
        return self.fake.ctl("GET", "/events")

    def writes(self):
        return [w for w in self.fake.ctl("GET", "/writes")
                if w.get("name") == NAME and w.get("namespace") == NS]

    def clear_writes(self):
        self.fake.ctl("DELETE", "/writes")

    def requests(self):
        return self.fake.ctl("GET", "/requests")

    def clear_requests(self):
        self.fake.ctl("DELETE", "/requests")

    def forbid(self, rules):
        self.fake.ctl("POST", "/forbid", {"rules": list(rules)})

    def install_crds(self, paths):
        raise RuntimeError("the fake API server serves no "
                           "CustomResourceDefinitions: run on the real one")


# --- the real control plane --------------------------------------------------------

# Every request but the test's own (admin certificate) and the API server's
# loopback client, at Metadata level: who, verb, URI, status, times. The log
# backend writes each event before the request is done (blocking mode).
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["kcr-admin", "system:apiserver"]
- level: Metadata
"""

VERB_METHOD = {"get": "GET", "list": "GET", "watch": "GET", "create": "POST",
               "update": "PUT", "patch": "PATCH", "delete": "DELETE",
               "deletecollection": "DELETE"}

# The Roles of deploy/kubernetes/rbac.yaml, bound to the ServiceAccount.
ROLES = (("ClusterRole", "", NAME), ("Role", NS, NAME),
         ("Role", "default", NAME + "-events"))


def role_path(kind, ns, name):
    base = "/apis/rbac.authorization.k8s.io/v1"
    return (f"{base}/clusterroles/{name}" if kind == "ClusterRole"
            else f"{base}/namespaces/{ns}/roles/{name}")


def kubectl(cp, home, *args, timeout=120):
    """The built kubectl as admin, with its own HOME (discovery cache);
    -> stdout. Raises with stderr on failure."""
    env = dict(os.environ, HOME=home, KUBECONFIG=cp.kubeconfig)
    r = subprocess.run([os.path.join(cp.bin, "kubectl"), *args], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: exit {r.returncode}: "
                           f"{r.stderr.strip()}")
    return r.stdout


def start_controlplane(workdir):
    """A ControlPlane with the audit log on; -> (cp, audit log path).
    Missing binaries: RuntimeError saying so (a real test then FAILS)."""
    missing = controlplane.missing_binaries()
    if missing:
        raise RuntimeError(
            f"the real control plane is not built: {', '.join(missing)} "
            f"missing in {controlplane.bin_dir()} (run `make controlplane`; "
            "`make test` builds it first)")
    policy = os.path.join(workdir, "audit-policy.yaml")
    with open(policy, "w") as f:
        f.write(AUDIT_POLICY)
    audit = os.path.join(workdir, "audit.log")
    cp = controlplane.ControlPlane(apiserver_args=[
        "--audit-policy-file", policy, "--audit-log-path", audit,
        "--audit-log-maxbackup", "1"])
    cp.__enter__()
    return cp, audit


def admin_ssl(cp):
    ctx = ssl.create_default_context(cafile=cp.ca_file)
    ctx.load_cert_chain(cp.admin_cert, cp.admin_key)
    return ctx


class AuditLog:
    """The API server's audit log as the fake's /requests: one entry per
    request {t, method, path, query, status, user, verb, resource,
    subresource, group, namespace, name}."""

    def __init__(self, path):
        self.path, self.start = path, 0

    def clear(self):
        self.start = os.path.getsize(self.path) if os.path.exists(
            self.path) else 0

    def entries(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.start)
            lines = f.read().decode(errors="replace").splitlines()
        out = []
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line being written
            # A watch is logged when its stream starts (as the fake does);
            # a failed authentication only ever gets ResponseStarted.
            status = (ev.get("responseStatus") or {}).get("code")
            started = ev.get("verb") == "watch" or status == 401
            if ev.get("stage") != ("ResponseStarted" if started
                                   else "ResponseComplete"):
                continue
            path, _, query = ev.get("requestURI", "").partition("?")
            ref = ev.get("objectRef") or {}
            out.append({
                "t": ev.get("stageTimestamp"), "method":
                VERB_METHOD.get(ev.get("verb"), ev.get("verb", "").upper()),
                "path": path, "query": query,
                "status": status,
                "user": (ev.get("user") or {}).get("username", ""),
                "verb": ev.get("verb"), "resource": ref.get("resource", ""),
                "subresource": ref.get("subresource", ""),
                "group": ref.get("apiGroup", ""),
                "namespace": ref.get("namespace", ""),
                "name": ref.get("name", "")})
        return out


class WriteRecorder(threading.Thread):
    """ConfigMap writes with their times, seen by an admin watch
    (fieldSelector=metadata.name=NAME): each ADDED/MODIFIED with its arrival
    time and resourceVersion.

    Unlike the fake's /writes (stamped by the server when it stores the
    write), `t` here is when the event ARRIVED at this watcher, i.e. the
    write plus the watch delivery (etcd -> watch cache -> HTTP), usually a
    few ms later; and only writes that changed the object appear (a no-op
    patch makes no event; the fake logs it)."""

    def __init__(self, cp):
        super().__init__(daemon=True)
        self.cp, self.ctx = cp, admin_ssl(cp)
        self.lock = threading.Lock()
        self.log, self.last_rv, self.error = [], 0, None
        self.stopping, self.conn = False, None
        base = f"/api/v1/namespaces/{NS}/configmaps"
        self.base = base + f"?fieldSelector=metadata.name%3D{NAME}"
        self.rv = cp.api("GET", self.base)["metadata"]["resourceVersion"]
        self.start()

    def run(self):
        while not self.stopping:
            try:
                self._watch_once()
            except Exception as e:  # noqa: BLE001 - re-watch; kept for stop()
                if self.stopping:
                    return
                self.error = e
                time.sleep(0.2)

    def _watch_once(self):
        self.conn = http.client.HTTPSConnection(
            self.cp.host, self.cp.port, timeout=90, context=self.ctx)
        try:
            self.conn.request("GET", f"{self.base}&watch=true&resourceVersion="
                              f"{self.rv}&timeoutSeconds=60")
            r = self.conn.getresponse()
            if r.status != 200:
                raise RuntimeError(f"watch: {r.status} {r.read()[:300]!r}")
            while not self.stopping:
                line = r.readline()
                if not line:
                    return  # the server's timeout: watch again from self.rv
                self._event(json.loads(line), time.time())
        finally:
            self.conn.close()

    def _event(self, ev, t):
        obj = ev.get("object") or {}
        md = obj.get("metadata") or {}
        if ev.get("type") == "ERROR":  # Expired: start from the present
            self.rv = self.cp.api("GET", self.base)["metadata"][
                "resourceVersion"]
            return
        self.rv = md.get("resourceVersion", self.rv)
        with self.lock:
            self.last_rv = max(self.last_rv, int(self.rv))
            if ev.get("type") in ("ADDED", "MODIFIED"):
                self.log.append({
                    "t": t, "type": ev["type"], "name": md.get("name"),
                    "namespace": md.get("namespace"),
                    "resourceVersion": md.get("resourceVersion"),
                    "data_keys": len(obj.get("data") or {})})

    def settle(self, rv, timeout=5):
        """Waits until the watch has delivered resourceVersion `rv`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if self.last_rv >= int(rv):
                    return
            time.sleep(0.01)
        raise RuntimeError(f"the ConfigMap watch did not deliver RV {rv} in "
                           f"{timeout} s (last error: {self.error})")

    def writes(self):
        with self.lock:
            return list(self.log)

    def clear(self):
        with self.lock:
            self.log = []

    def stop(self):
        self.stopping = True
        try:
            if self.conn and self.conn.sock:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(5)


class RealCluster:
    """The cluster interface on a real kube-apiserver: the shipped manifests
    applied with kubectl (`apply -k deploy/kubernetes`), the binary's token
    issued to the shipped ServiceAccount (TokenRequest), the test's own calls
    as admin (client certificate, system:masters)."""
    backend = "real"

    def __init__(self, workdir, seed_nodes=0, forbid=()):
        self.cp, audit = start_controlplane(workdir)
        try:
            self.home = tempfile.mkdtemp(prefix="kubectl-home-", dir=workdir)
            # What was applied, one line per object (the RBAC test prints it).
            self.applied = kubectl(self.cp, self.home, "apply", "-k", DEPLOY)
            self.server, self.ca_file = self.cp.server, self.cp.ca_file
            self.binary_token = self.cp.token(NAME, NS)
            self.roles = {r: self.cp.api("GET", role_path(*r)) for r in ROLES}
            if forbid:
                self.forbid(forbid)
            self.generated = 0
            self.create_nodes(seed_nodes, "node-")
            self.audit = AuditLog(audit)
            self.recorder = WriteRecorder(self.cp)
        except BaseException:
            self.cp.stop()
            raise

    def stop(self):
        if getattr(self, "recorder", None):
            self.recorder.stop()
        self.cp.stop()

    def log_tail(self):
        return ("----- log of kube-apiserver -----\n"
                + self.cp.log_tail("kube-apiserver", 40))

    def api(self, method, path, body=None, **kw):
        return self.cp.api(method, path, body, **kw)

    # Nodes -------------------------------------------------------------------
    def nodes(self):
        return self.api("GET", "/api/v1/nodes")["items"]

    def node(self, name):
        return self.api("GET", f"/api/v1/nodes/{name}")

    def create_node(self, obj):
        obj = dict(obj, apiVersion="v1", kind="Node")
        return self.api("POST", "/api/v1/nodes", obj)

    def add_node(self, name, ip, pod_cidr):
        return self.create_node(node_object(name, ip, pod_cidr))

    def create_nodes(self, count, prefix):
        """`count` Nodes shaped as the fake's generator makes them (names
        prefix + index, the index counting on across calls), from 8 threads
        so that they arrive as a burst; -> how many were created."""
        first, self.generated = self.generated, self.generated + count
        width = max(4, len(str(self.generated - 1)))
        objs = [nodegen.node(f"{prefix}{i:0{width}d}", i)
                for i in range(first, self.generated)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return len(list(pool.map(self.create_node, objs)))

    def patch_node(self, name, patch):
        """A merge patch as the fake's control port takes it. A real server
        ignores status in a Node's main resource: status goes to /status."""
        path = f"/api/v1/nodes/{name}"
        ctype = "application/merge-patch+json"
        rest = {k: v for k, v in patch.items() if k != "status"}
        out = None
        if rest:
            out = self.api("PATCH", path, rest, ctype=ctype)
        if "status" in patch:
            out = self.api("PATCH", path + "/status",
                           {"status": patch["status"]}, ctype=ctype)
        return out

    def delete_node(self, name):
        self.api("DELETE", f"/api/v1/nodes/{name}")

    # The ConfigMap, Lease, Events -------------------------------------------
    def configmap(self):
        return self.api("GET", f"/api/v1/namespaces/{NS}/configmaps/{NAME}")

    def data(self):
        return self.configmap().get("data") or {}

    def create_configmap(self, data):
        return self.api("POST", f"/api/v1/namespaces/{NS}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": NS}, "data": data})

    def put_configmap(self, cm):
        return self.api("PUT", f"/api/v1/namespaces/{NS}/configmaps/{NAME}",
                        cm)

    def delete_configmap(self):
        self.api("DELETE", f"/api/v1/namespaces/{NS}/configmaps/{NAME}")

    def lease(self):
        return self.api("GET", "/apis/coordination.k8s.io/v1/namespaces/"
                        f"{NS}/leases/{NAME}")

    def events(self):
        return self.api("GET", "/api/v1/namespaces/default/events")["items"]

    # Logs ----------------------------------------------------------------------
    def writes(self):
        """The writes seen so far, once the watch has caught up with the
        ConfigMap's present (a write answered just now may not have reached
        the watch yet: a count would be one short)."""
        self.catch_up()
        return self.recorder.writes()

    def clear_writes(self):
        """Forgets the writes seen so far, once the watch has caught up with
        the ConfigMap's present (else a late event would count as new)."""
        self.catch_up()
        self.recorder.clear()

    def catch_up(self):
        status, text = self.cp.request(
            "GET", f"/api/v1/namespaces/{NS}/configmaps/{NAME}")
        if status == 200:
            self.recorder.settle(json.loads(text)["metadata"]
                                 ["resourceVersion"])

    def requests(self):
        return self.audit.entries()

    def clear_requests(self):
        self.audit.clear()

    # RBAC ------------------------------------------------------------------------
    def forbid(self, rules):
        """The shipped Roles without the verbs of `rules` ("verb:resource");
        [] puts the shipped Roles back. Updates (PUT) the live objects."""
        rules = set(rules)
        for ref, shipped in self.roles.items():
            kept = []
            for rule in shipped.get("rules", []):
                for res in rule.get("resources", []):
                    verbs = [v for v in rule["verbs"]
                             if f"{v}:{res}" not in rules]
                    if verbs:
                        kept.append(dict(rule, resources=[res], verbs=verbs))
            live = self.api("GET", role_path(*ref))
            self.api("PUT", role_path(*ref), dict(live, rules=kept))

    # CustomResourceDefinitions -----------------------------------------------------
    def install_crds(self, paths, timeout=30):
        """Applies CustomResourceDefinition files (kubectl apply, validated
        by the server) and waits until each is Established and a list of its
        resource answers 200 at every served version; -> the CRD names."""
        args = [a for p in paths for a in ("-f", p)]
        out = kubectl(self.cp, self.home, "apply", "-o", "name", *args)
        names = [line.split("/", 1)[1] for line in out.split()]
        for name in names:
            self._wait_served(name, time.monotonic() + timeout)
        return names

    def _wait_served(self, name, deadline):
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
        while True:
            crd = self.api("GET", base + name)
            established = any(
                c.get("type") == "Established" and c.get("status") == "True"
                for c in (crd.get("status") or {}).get("conditions", []))
            spec = crd["spec"]
            paths = [f"/apis/{spec['group']}/{v['name']}/"
                     f"{spec['names']['plural']}"
                     for v in spec["versions"] if v.get("served")]
            if established and all(self.cp.request("GET", p)[0] == 200
                                   for p in paths):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not served in time: "
                                   f"established={established}")
            time.sleep(0.1)
