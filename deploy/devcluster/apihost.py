"""The API server of the dev cluster, in namespace kcr-T-api at 198.51.100.2.

Two kinds, one interface (Cluster uses whichever --api names):

  RealApi  (default) etcd + kube-apiserver started by test/controlplane/controlplane.py
           inside the namespace: RBAC on, the shipped ServiceAccounts and RBAC
           (deploy/kubernetes) applied with the built kubectl, every instance on
           its own TokenRequest token of its workload's ServiceAccount (the
           controller's or the agents'; least privilege, as in production), the
           device on a token that may only read the ConfigMap. The orchestrator
           is admin (client certificate).
  FakeApi  test/fakeapi/fake_apiserver.py: starts in a second; one service-account-
           shaped token for everyone; objects are read and written through its
           control port.

The orchestrator reaches either through sockets opened inside the namespace
(netns.NsClient): 198.51.100.2 exists only there and on the underlay.
"""

import base64
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "controlplane"))
import controlplane  # noqa: E402  (bin_dir, missing_binaries, request_token; run as a script)
import netns  # noqa: E402

API_IP = "198.51.100.2"
CM_NS, CM_NAME = "kube-system", "kube-chorus-router"
# deploy/kubernetes/serviceaccount.yaml: role -> ServiceAccount. A combined
# instance (both roles) runs as the controller, whose grants are the union.
ACCOUNTS = {"controller": "kube-chorus-router", "agent": "kube-chorus-router-agent"}
DEVICE_SA = "kcr-device"
CM_PATH = f"/api/v1/namespaces/{CM_NS}/configmaps/{CM_NAME}"
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{CM_NS}/leases/{CM_NAME}"
FAKE = os.path.join(ROOT, "test", "fakeapi", "fake_apiserver.py")
LAUNCHER = os.path.join(ROOT, "test", "controlplane", "controlplane.py")
MANIFESTS = [os.path.join(ROOT, "deploy", "kubernetes", f)
             for f in ("serviceaccount.yaml", "rbac.yaml")]
TOKEN_SECONDS = 24 * 3600  # a `make run` session rarely lasts longer


def make(kind, cluster, **kw):
    return {"real": RealApi, "fake": FakeApi}[kind](cluster, **kw)


class ApiError(RuntimeError):
    pass


class FakeApi:
    kind = "fake"
    PORT = 6443

    def __init__(self, c):
        self.c = c
        self.server = f"https://{API_IP}:{self.PORT}"
        self.ca_file = self.control_port = None
        self.device_token_file = c.path("token")
        self._ctl = None

    def start(self):
        with open(self.device_token_file, "w") as f:
            f.write(service_account_token() + "\n")
        argv = [sys.executable, FAKE, "--host", API_IP, "--port", str(self.PORT),
                "--tls-dir", self.c.path("tls"), "--token-file", self.device_token_file,
                "--control-host", "127.0.0.1"]
        p = self.c.spawn("api", self.c.api, argv, "fakeapi.log", stdout=subprocess.PIPE)
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("the fake API server did not start; see "
                               + self.c.path("logs", "fakeapi.log"))
        info = json.loads(line)
        self.control_port, self.ca_file = info["control_port"], info["ca_file"]

    def state(self):
        return {"control_port": self.control_port, "ca_file": self.ca_file}

    def restore(self, st):
        self.control_port, self.ca_file = st["control_port"], st["ca_file"]

    def stop(self):
        self.c.terminate(["api"], grace=3)
        if self._ctl:
            self._ctl.close()

    def remove_data(self):
        pass  # the fake keeps everything in memory

    def role_token(self, role):
        with open(self.device_token_file) as f:
            return f.read().strip()

    def call(self, method, path, body=None, ok=(200,)):
        """A control call; -> parsed JSON (None on 404 when 404 is in ok)."""
        if self._ctl is None:
            self._ctl = netns.NsClient(self.c.api, "127.0.0.1", self.control_port)
        status, text = self._ctl.request(method, path, body)
        if status not in ok:
            raise ApiError(f"control {method} {path}: {status} {text[:300]!r}")
        return json.loads(text or b"null") if status != 404 else None

    def create_node(self, obj):
        self.call("POST", "/nodes", obj)

    def delete_node(self, name):
        self.call("DELETE", f"/nodes/{name}")

    def nodes(self):
        got = self.call("GET", "/nodes")
        return got.get("items", []) if isinstance(got, dict) else got

    def configmap(self):
        return self.call("GET", f"/configmaps/{CM_NS}/{CM_NAME}", ok=(200, 404))

    def lease(self):
        return self.call("GET", f"/leases/{CM_NS}/{CM_NAME}", ok=(200, 404))


def service_account_token():
    """A token shaped like a service-account JWT (the fake only compares it)."""
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    claims = {"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:kube-system:"
              "kube-chorus-router", "kubernetes.io/serviceaccount/namespace": "kube-system",
              "kubernetes.io/serviceaccount/service-account.name": "kube-chorus-router"}
    return f"{b64({'alg': 'RS256', 'kid': 'devcluster'})}.{b64(claims)}.{secrets.token_urlsafe(32)}"


class RealApi:
    kind = "real"

    def __init__(self, c, bin_dir=None):
        self.c = c
        self.bin_dir = os.path.abspath(bin_dir or controlplane.bin_dir())
        self.workdir = c.path("controlplane")  # the launcher's --dir: logs, pki, etcd data
        self.device_token_file = c.path("device-token")
        self.info = {}
        self._admin = None

    # ---- facts of the running control plane ----------------------------------
    @property
    def server(self):
        return self.info["server"]

    @property
    def ca_file(self):
        return self.info["ca_file"]

    @property
    def kubeconfig(self):
        """The admin kubeconfig (client certificate in system:masters)."""
        return self.info["kubeconfig"]

    @property
    def kubectl(self):
        return os.path.join(self.bin_dir, "kubectl")

    def kubectl_command(self):
        """How to use the admin kubeconfig from another terminal."""
        return f"ip netns exec {self.c.api} {self.kubectl} --kubeconfig {self.kubeconfig}"

    # ---- lifecycle ---------------------------------------------------------------
    def start(self):
        missing = controlplane.missing_binaries(self.bin_dir)
        if missing:
            raise RuntimeError(f"control plane binaries missing in {self.bin_dir}: "
                               f"{', '.join(missing)} (run `make controlplane`, or use the "
                               "fake API server: --api fake)")
        argv = [sys.executable, LAUNCHER, "up", "--json", "--host", API_IP,
                "--dir", self.workdir] + ([] if self.c.detach else ["--die-with-parent"])
        env = dict(os.environ, KCR_CONTROLPLANE_BIN=self.bin_dir)
        os.makedirs(self.workdir, exist_ok=True)  # the launcher's --dir must exist
        p = self.c.spawn("api", self.c.api, argv, "controlplane.log", stdout=subprocess.PIPE,
                         env=env)
        line = p.stdout.readline()  # printed once kube-apiserver is ready
        if not line:
            raise RuntimeError("the control plane did not start; see "
                               + self.c.path("logs", "controlplane.log"))
        self.info = json.loads(line)
        for name in ("etcd.log", "kube-apiserver.log"):  # one place for every log
            os.symlink(os.path.join(self.workdir, name), self.c.path("logs", name))
        self._apply_manifests()
        self._device_reader()
        for sa in ACCOUNTS.values():
            self._wait_authorized(sa, self.token(sa, seconds=600))

    def state(self):
        return {"info": self.info, "bin_dir": self.bin_dir}

    def restore(self, st):
        self.info, self.bin_dir = st["info"], st["bin_dir"]

    def stop(self):
        """The launcher stops kube-apiserver and etcd on SIGTERM (0.5 s once no
        watch is open, longer while one is); then only the logs are kept."""
        self.c.terminate(["api"], grace=15)
        if self._admin:
            self._admin.close()
        self.remove_data()

    def remove_data(self):
        """etcd's data (WAL files are preallocated: 64 MB), keys and certificates."""
        for sub in ("etcd", "pki", "apiserver-certs"):
            shutil.rmtree(os.path.join(self.workdir, sub), ignore_errors=True)

    def _apply_manifests(self):
        """The shipped ServiceAccount and RBAC, applied as a user would: the
        built kubectl, run inside the namespace (the real server validates)."""
        home = self.c.path("kubectl-home")  # its own discovery cache
        os.makedirs(home, exist_ok=True)
        argv = ["env", f"HOME={home}", self.kubectl, "--kubeconfig", self.kubeconfig, "apply"]
        for m in MANIFESTS:
            argv += ["-f", m]
        out = netns.run(netns.exec_argv(self.c.api, argv), timeout=60).stdout
        with open(self.c.path("logs", "controlplane.log"), "a") as f:
            f.write(f"kubectl apply {' '.join(MANIFESTS)}:\n{out}")

    def _device_reader(self):
        """The device's automation may read the published ConfigMap and nothing
        else: its own ServiceAccount with `get` on that one name."""
        ns, meta = CM_NS, {"name": DEVICE_SA, "namespace": CM_NS}
        self.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
            "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                       "resourceNames": [CM_NAME], "verbs": ["get"]}]})
        self.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": DEVICE_SA},
            "subjects": [{"kind": "ServiceAccount", "name": DEVICE_SA, "namespace": ns}]})
        with open(self.device_token_file, "w") as f:
            f.write(self.token(DEVICE_SA, create=True) + "\n")
        os.chmod(self.device_token_file, 0o600)

    def _wait_authorized(self, sa, token, timeout=10):
        """RBAC objects take effect through the authorizer's informers: wait
        until the ServiceAccount may list Nodes, so no instance starts on a 403."""
        t0 = time.monotonic()
        while True:
            status = self.status_as(token, "GET", "/api/v1/nodes?limit=1")
            if status == 200:
                return
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{sa}'s token still gets {status} on "
                                   "GET /api/v1/nodes after the RBAC was applied")
            time.sleep(0.05)

    def status_as(self, token, method, path):
        """The HTTP status of one call with a bearer token (no client certificate:
        it would win over the token)."""
        client = netns.NsClient(self.c.api, API_IP, self._port(),
                                ssl.create_default_context(cafile=self.ca_file))
        try:
            return client.request(method, path,
                                  headers={"Authorization": f"Bearer {token}"})[0]
        finally:
            client.close()

    # ---- admin calls -------------------------------------------------------------
    def _port(self):
        return int(self.server.rsplit(":", 1)[1])

    def api(self, method, path, body=None, ok=(200, 201), ctype="application/json"):
        """An admin call; -> parsed JSON (None on 404 when 404 is in ok)."""
        if self._admin is None:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            ctx.load_cert_chain(self.info["admin_cert"], self.info["admin_key"])
            self._admin = netns.NsClient(self.c.api, API_IP, self._port(), ctx)
        h = {"Accept": "application/json"}
        if body is not None:
            h["Content-Type"] = ctype
        status, text = self._admin.request(method, path, body, headers=h)
        if status not in ok:
            raise ApiError(f"{method} {path}: {status} {text[:300]!r}")
        return json.loads(text) if status != 404 and text else None

    def token(self, sa, seconds=TOKEN_SECONDS, create=False):
        """A TokenRequest token of ServiceAccount sa in kube-system (as the
        kubelet mounts one per pod)."""
        return controlplane.request_token(self.api, sa, CM_NS, seconds, create)

    def role_token(self, role):
        """A fresh token for one instance of `role` (controller or agent)."""
        return self.token(ACCOUNTS[role])

    def create_node(self, obj):
        self.api("POST", "/api/v1/nodes", obj)

    def delete_node(self, name):
        self.api("DELETE", f"/api/v1/nodes/{name}")

    def nodes(self):
        return self.api("GET", "/api/v1/nodes")["items"]

    def configmap(self):
        return self.api("GET", CM_PATH, ok=(200, 404))

    def lease(self):
        return self.api("GET", LEASE_PATH, ok=(200, 404))
