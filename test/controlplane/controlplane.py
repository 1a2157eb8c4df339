#!/usr/bin/env python3
"""Launcher of the real control plane: etcd and kube-apiserver built by
build.sh, on loopback ports it picks, with envtest-like settings.

  controlplane.py up [--dir D] [--netns NS] [--json]   # until SIGINT/SIGTERM
  controlplane.py selftest                               # start, check, stop

As a module: `with ControlPlane() as cp:` gives cp.kubeconfig (admin, in
system:masters), cp.api(...) (admin calls), cp.token(sa) (TokenRequest),
cp.kubeconfig_for_token(token), cp.compact() and cp.etcd_metric(name).

What it sets up: a CA, a serving certificate for 127.0.0.1/localhost/
kubernetes.default.svc (and the bind address), an admin client certificate,
a service-account signing key and issuer (so TokenRequest and `kubectl
create token` work), RBAC authorization. Every process gets SIGKILL when the
launcher dies (PR_SET_PDEATHSIG) and the work folder is removed on stop, on
an exception and on SIGTERM/SIGINT. Python standard library + openssl CLI.
"""

import argparse
import base64
import atexit
import ctypes
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_BIN = os.path.join(ROOT, "build", "controlplane", "bin")
# s: a cold kube-apiserver on 2 busy cores takes ~10 s; inside user-mode Linux
# (one slow CPU) 20-100 s, so the UML tests raise it.
READY_TIMEOUT = int(os.environ.get("KCR_CONTROLPLANE_READY_TIMEOUT", "90"))


def bin_dir():
    """Where build.sh put the binaries (KCR_CONTROLPLANE_BIN overrides)."""
    if os.environ.get("KCR_CONTROLPLANE_BIN"):
        return os.environ["KCR_CONTROLPLANE_BIN"]
    in_build = os.path.join(os.environ.get("KCR_BINARY_DIR", "/nonexistent"),
                            "controlplane", "bin")
    return in_build if os.path.isdir(in_build) else DEFAULT_BIN


def missing_binaries(where=None):
    where = where or bin_dir()
    return [b for b in ("etcd", "kube-apiserver", "kubectl")
            if not os.access(os.path.join(where, b), os.X_OK)]


def _die_with_parent():
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _openssl(args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.strip()}")


def _sign(cwd, name, subject, ext):
    """name.key (EC P-256) and name.crt signed by ca.crt/ca.key."""
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-out", name + ".key"], cwd)
    _openssl(["req", "-new", "-key", name + ".key", "-subj", subject,
              "-out", name + ".csr"], cwd)
    with open(os.path.join(cwd, name + ".ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n" + ext)
    _openssl(["x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
              "-CAkey", "ca.key", "-CAcreateserial", "-days", "365",
              "-sha256", "-extfile", name + ".ext", "-out", name + ".crt"],
             cwd)


def make_pki(d, host):
    """CA, apiserver serving cert, admin client cert, SA signing key."""
    os.makedirs(d, exist_ok=True)
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-out", "ca.key"], d)
    _openssl(["req", "-x509", "-new", "-key", "ca.key", "-days", "365",
              "-sha256", "-subj", "/CN=kcr-test-kubernetes-ca",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-out", "ca.crt"], d)
    sans = ["IP:127.0.0.1", "IP:::1", "DNS:localhost", "DNS:kubernetes",
            "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local", "IP:10.0.0.1"]
    if f"IP:{host}" not in sans:
        sans.append(f"IP:{host}")
    _sign(d, "apiserver", "/CN=kube-apiserver",
          "extendedKeyUsage=serverAuth\n"
          f"subjectAltName={','.join(sans)}\n")
    _sign(d, "admin", "/O=system:masters/CN=kcr-admin",
          "extendedKeyUsage=clientAuth\n")
    _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt",
              "rsa_keygen_bits:2048", "-out", "sa.key"], d)
    _openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], d)


PREFIX = "kcr-controlplane-"


def sweep_leftovers():
    """Removes the work folders of launchers that were SIGKILLed (their
    children died with them through PDEATHSIG; only files can be left)."""
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        d = os.path.join(tmp, name)
        try:
            with open(os.path.join(d, "owner.pid")) as f:
                owner = int(f.read())
        except (OSError, ValueError):
            continue
        if name.startswith(PREFIX) and not os.path.exists(f"/proc/{owner}"):
            shutil.rmtree(d, ignore_errors=True)


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` s; waits for the end."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request_token(api, sa, namespace="kube-system", seconds=3600,
                  create=True):
    """A TokenRequest-issued token of ServiceAccount `sa`, as the kubelet
    mounts one; `api(method, path, body, ok=...)` makes the calls (admin),
    `create` makes the ServiceAccount first when it is missing."""
    base = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    if create:
        api("POST", base, {"apiVersion": "v1", "kind": "ServiceAccount",
                           "metadata": {"name": sa}}, ok=(201, 409))
    tr = api("POST", f"{base}/{sa}/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds}})
    return tr["status"]["token"]


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class PortTaken(RuntimeError):
    """A server exited because its port was taken between pick and bind."""

    def __init__(self, message, name):
        super().__init__(message)
        self.name = name


BIND_ATTEMPTS = 3


def free_port(host="127.0.0.1"):
    """A port that binds now, picked at random BELOW the kernel's ephemeral
    range: a port from that range (what bind(0) returns) can be taken as the
    source port of any outgoing connection before the server binds it, which
    once failed etcd with "address already in use" in CI. The random pick
    keeps concurrent runs apart; start() retries the rare collision left."""
    high = _ephemeral_low() - 1
    low = max(1024, high - 12000)
    for _ in range(500):
        port = random.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {host} in {low}-{high}")


class ControlPlane:
    """etcd + kube-apiserver for one test run (a context manager)."""

    def __init__(self, workdir=None, host="127.0.0.1", binaries=None,
                 apiserver_args=(), etcd_args=()):
        self.bin = binaries or bin_dir()
        self.host = host
        self.extra_api, self.extra_etcd = list(apiserver_args), list(etcd_args)
        self.own_dir = workdir is None
        if self.own_dir:
            sweep_leftovers()
        self.dir = workdir or tempfile.mkdtemp(prefix=PREFIX)
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        self.procs = []
        self.stopped = False

    # --- lifecycle --------------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        missing = missing_binaries(self.bin)
        if missing:
            raise RuntimeError(
                f"control plane binaries missing in {self.bin}: "
                f"{', '.join(missing)} (build them with `make controlplane`)")
        t0 = time.monotonic()
        self.pki = os.path.join(self.dir, "pki")
        make_pki(self.pki, self.host)
        self.ca_file = os.path.join(self.pki, "ca.crt")
        self.admin_cert = os.path.join(self.pki, "admin.crt")
        self.admin_key = os.path.join(self.pki, "admin.key")
        atexit.register(self.stop)
        for attempt in range(1, BIND_ATTEMPTS + 1):
            try:
                self._start_processes(t0)
                break
            except PortTaken as e:
                if attempt == BIND_ATTEMPTS:
                    raise RuntimeError(str(e)) from None
                print(f"controlplane: {e.name} could not bind its port "
                      f"(attempt {attempt}); again on new ports",
                      file=sys.stderr)
                self._stop_processes()
                shutil.rmtree(os.path.join(self.dir, "etcd"),
                              ignore_errors=True)
        self.startup_seconds = time.monotonic() - t0

    def _start_processes(self, t0):
        self._start_etcd()
        self._start_apiserver()
        self.kubeconfig = os.path.join(self.dir, "admin.kubeconfig")
        self._write_kubeconfig(self.kubeconfig, user=(
            f"    client-certificate: {self.admin_cert}\n"
            f"    client-key: {self.admin_key}\n"))
        self._wait_ready(t0)

    def _spawn(self, name, argv):
        log = open(os.path.join(self.dir, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL,
                             preexec_fn=_die_with_parent)
        self.procs.append((name, p, log))
        return p

    def _start_etcd(self):
        # etcd stays on loopback whatever --host is: only kube-apiserver (in
        # the same network namespace) talks to it, and it has no auth.
        cport, pport = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{cport}"
        peer = f"http://127.0.0.1:{pport}"
        self._spawn("etcd", [
            os.path.join(self.bin, "etcd"), "--name", "kcr",
            "--data-dir", os.path.join(self.dir, "etcd"),
            "--listen-client-urls", self.etcd_url,
            "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"kcr={peer}",
            # Tests do not need durability across a machine crash (envtest
            # sets the same): fsync per write would dominate on small disks.
            "--unsafe-no-fsync", "--log-level", "warn", *self.extra_etcd])

    def _start_apiserver(self):
        self.port = free_port(self.host)
        self.server = f"https://{self.host}:{self.port}"
        p = self.pki
        self._spawn("kube-apiserver", [
            os.path.join(self.bin, "kube-apiserver"),
            "--etcd-servers", self.etcd_url,
            "--bind-address", self.host, "--advertise-address", self.host,
            # The endpoint reconciler refuses a loopback advertise address (and
            # a bare control plane has no Service network to publish it in);
            # envtest turns it off the same way.
            "--endpoint-reconciler-type", "none",
            "--secure-port", str(self.port),
            "--cert-dir", os.path.join(self.dir, "apiserver-certs"),
            "--tls-cert-file", f"{p}/apiserver.crt",
            "--tls-private-key-file", f"{p}/apiserver.key",
            "--client-ca-file", f"{p}/ca.crt",
            "--authorization-mode", "RBAC",
            "--service-cluster-ip-range", "10.0.0.0/24",
            "--allow-privileged=true",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", f"{p}/sa.pub",
            "--service-account-signing-key-file", f"{p}/sa.key",
            "--api-audiences", "https://kubernetes.default.svc",
            "--v", "0", *self.extra_api])

    def _write_kubeconfig(self, path, user):
        with open(path, "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: kcr\n"
                    "clusters:\n- name: kcr\n  cluster:\n"
                    f"    server: {self.server}\n"
                    f"    certificate-authority: {self.ca_file}\n"
                    "users:\n- name: kcr\n  user:\n" + user +
                    "contexts:\n- name: kcr\n  context:\n"
                    "    cluster: kcr\n    user: kcr\n")
        os.chmod(path, 0o600)

    def _wait_ready(self, t0):
        last = None
        while time.monotonic() - t0 < READY_TIMEOUT:
            for name, proc, _ in self.procs:
                if proc.poll() is not None:
                    tail = self.log_tail(name)
                    why = f"{name} exited with status {proc.returncode}:\n{tail}"
                    if "address already in use" in tail:
                        raise PortTaken(why, name)
                    raise RuntimeError(why)
            try:
                status, body = self.request("GET", "/readyz")
                if status == 200:
                    return
                last = f"/readyz {status}: {body[-300:]!r}"
            except OSError as e:
                last = str(e)
            time.sleep(0.2)
        raise RuntimeError(f"kube-apiserver not ready after {READY_TIMEOUT} s "
                           f"({last}):\n{self.log_tail('kube-apiserver')}")

    def _stop_processes(self):
        for name, proc, log in reversed(self.procs):  # apiserver first
            stop_process(proc)
            log.close()
        self.procs = []

    def log_tail(self, name, n=30):
        try:
            with open(os.path.join(self.dir, name + ".log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return str(e)

    def stop(self):
        """Stops both processes (SIGTERM, SIGKILL after 10 s) and removes
        the work folder; safe to call twice."""
        if self.stopped:
            return
        self.stopped = True
        self._stop_processes()
        if self.own_dir and not os.environ.get("KCR_CONTROLPLANE_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- admin access ---------------------------------------------------------
    def _ssl(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.load_cert_chain(self.admin_cert, self.admin_key)
        return ctx

    def request(self, method, path, body=None, ctype="application/json",
                token=None, timeout=30):
        """One call as admin (client cert) or with a bearer `token`;
        -> (status, body text)."""
        ctx = self._ssl() if token is None else ssl.create_default_context(
            cafile=self.ca_file)
        c = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                        context=ctx)
        try:
            h = {"Accept": "application/json"}
            if token is not None:
                h["Authorization"] = "Bearer " + token
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if body is not None:
                h["Content-Type"] = ctype
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def api(self, method, path, body=None, ok=(200, 201), **kw):
        """As request(), parsed; raises unless the status is in `ok`."""
        status, text = self.request(method, path, body, **kw)
        if ok and status not in ok:
            raise RuntimeError(f"{method} {path}: {status} {text[:500]}")
        return json.loads(text) if text else None

    def token(self, sa, namespace="kube-system", seconds=3600):
        """A TokenRequest-issued token of ServiceAccount `sa` (created if
        missing), as the kubelet would mount it."""
        return request_token(self.api, sa, namespace, seconds)

    def kubeconfig_for_token(self, token, path=None):
        path = path or os.path.join(self.dir, f"token-{time.monotonic_ns()}"
                                              ".kubeconfig")
        self._write_kubeconfig(path, user=f"    token: {token}\n")
        return path

    # --- etcd ---------------------------------------------------------------------
    def _etcd(self, path, body):
        host, port = self.etcd_url[len("http://"):].rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            c.request("POST", path, body=json.dumps(body))
            r = c.getresponse()
            text = r.read().decode()
            if r.status != 200:
                raise RuntimeError(f"etcd {path}: {r.status} {text}")
            return json.loads(text)
        finally:
            c.close()

    def compact(self):
        """Compacts etcd up to its current revision (what the API server
        does every 5 min), so older resourceVersions answer 410; -> rev."""
        rev = int(self._etcd("/v3/kv/range", {"key": "AA=="})
                  ["header"]["revision"])
        # Like kube-apiserver's own compactor, record it under compact_rev_key
        # first: the API server watches that key and only then stops serving
        # lists / continues at older RVs from its watch-cache snapshots (a
        # bare etcd compaction goes unnoticed; it notices within ~15 s).
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        self._etcd("/v3/kv/put", {"key": b64(b"compact_rev_key"),
                                  "value": b64(str(rev).encode())})
        self._etcd("/v3/kv/compaction", {"revision": rev, "physical": True})
        return rev

    def etcd_metric(self, name):
        host, port = self.etcd_url[len("http://"):].rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
        finally:
            c.close()
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def info(self):
        return {"server": self.server, "kubeconfig": self.kubeconfig,
                "ca_file": self.ca_file, "admin_cert": self.admin_cert,
                "admin_key": self.admin_key, "etcd_url": self.etcd_url,
                "workdir": self.dir, "bin_dir": self.bin,
                "startup_seconds": round(self.startup_seconds, 2)}


def _up(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    if args.die_with_parent:
        _die_with_parent()
    if args.netns:  # the launcher itself moves in: every address is in there
        argv = [a for a in sys.argv[1:] if a not in ("--netns", args.netns)]
        os.execvp("ip", ["ip", "netns", "exec", args.netns, sys.executable,
                         os.path.abspath(__file__), *argv])
    with ControlPlane(workdir=args.dir, host=args.host) as cp:
        info = cp.info()
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            version = cp.api("GET", "/version")["gitVersion"]
            print(f"control plane: kube-apiserver {version} at {cp.server} "
                  f"(etcd {cp.etcd_url}), ready in "
                  f"{info['startup_seconds']} s", flush=True)
            print(f"KUBECONFIG={cp.kubeconfig}", flush=True)
            print(f"kubectl: {cp.bin}/kubectl  (Ctrl-C stops and removes "
                  "everything)", flush=True)
        while not stop:
            for name, proc, _ in cp.procs:
                if proc.poll() is not None:
                    print(f"control plane: {name} exited "
                          f"({proc.returncode}):\n{cp.log_tail(name)}",
                          file=sys.stderr)
                    return 1
            time.sleep(0.2)
    return 0


def _selftest(_args):
    """Start, check /version, a TokenRequest token and RBAC, stop, and check
    that nothing is left: the launcher's own test (ctest controlplane_selftest)."""
    want = _pinned_version()
    fails = []

    def check(ok, what):
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            fails.append(what)

    with ControlPlane() as cp:
        v = cp.api("GET", "/version")["gitVersion"]
        check(v == want, f"/version reports {v} (pinned {want}), ready in "
              f"{cp.startup_seconds:.1f} s")
        tok = cp.token("kcr-selftest")
        st, _ = cp.request("GET", "/api/v1/nodes", token=tok)
        check(st == 403, f"a TokenRequest token is authenticated and RBAC "
              f"refuses it a Node list: {st}")
        st, _ = cp.request("GET", "/api/v1/nodes", token="not-a-token")
        check(st == 401, f"a wrong token gets 401: {st}")
        pids = [p.pid for _, p, _ in cp.procs]
        workdir = cp.dir
    check(not os.path.exists(workdir), f"work folder {workdir} removed")
    alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
    check(not alive, f"etcd and kube-apiserver gone (pids {pids})")
    print(f"{len(fails)} failed" if fails else "controlplane selftest: PASSED")
    return 1 if fails else 0


def _pinned_version():
    """The k8s.io/kubernetes version that go.mod requires (build.sh's too)."""
    with open(os.path.join(HERE, "go.mod")) as f:
        for line in f:
            parts = line.split()
            if parts[:1] == ["k8s.io/kubernetes"] and len(parts) == 2:
                return parts[1]
    raise RuntimeError("go.mod does not require k8s.io/kubernetes")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start; run until SIGINT/SIGTERM")
    up.add_argument("--dir", help="work folder (kept); default: a temp one, "
                    "removed on stop")
    up.add_argument("--netns", help="run etcd and kube-apiserver in this "
                    "network namespace")
    up.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1)")
    up.add_argument("--json", action="store_true",
                    help="print one JSON line of connection facts")
    up.add_argument("--die-with-parent", action="store_true",
                    help="stop when the calling process dies")
    sub.add_parser("selftest", help="start, check /version and a token, stop")
    args = p.parse_args()
    try:
        return {"up": _up, "selftest": _selftest}[args.cmd](args)
    except RuntimeError as e:
        print(f"control plane: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
