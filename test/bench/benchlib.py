"""Helpers of the benchmark harness (test/bench/bench.py): the fake API
server and the real binary as child processes, their CPU time and peak RSS
from /proc, Node objects with known IPs, percentiles and the machine
description.

Python 3 standard library only."""

import http.client
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "test", "fakeapi"))
# appended: its cluster.py must not shadow test/bench/cluster.py
sys.path.append(os.path.join(ROOT, "deploy", "devcluster"))
import netns  # noqa: E402  (sockets inside a network namespace)
import nodegen  # noqa: E402  (the fake's own Node shape)

FAKE = os.path.join(ROOT, "test", "fakeapi", "fake_apiserver.py")
NS, NAME = "kube-system", "kube-chorus-router"
CM_PATH = f"/api/v1/namespaces/{NS}/configmaps"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- /proc ----------------------------------------------------------------------
def cpu_seconds(pid):
    """utime + stime of a process (its own threads, not children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14, 15


def peak_rss_mib(pid):
    """VmHWM of a process in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


RSS_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def rss_mib(pid):
    """(VmRSS, VmHWM, RssAnon, RssFile) of a process in MiB: resident now,
    its peak, and now's split into heap/stacks and mapped files (the
    binary and its libraries)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in RSS_FIELDS:
                out[key] = int(line.split()[1]) / 1024.0
    return tuple(out.get(k, float("nan")) for k in RSS_FIELDS)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    return (f"{model}, {os.cpu_count()} CPUs, {mem:.1f} GiB RAM, "
            f"Linux {platform.release()}, Python {platform.python_version()}")


# --- statistics -------------------------------------------------------------------
def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


# --- Nodes with known IPs -------------------------------------------------------------
def bench_node(i):
    """A Node shaped like the fake's seeds, index i >= 10000 (outside the
    seeds' range): name bench-<i>, InternalIP 198.18.0.0/15 + 1 + i."""
    return nodegen.node(f"bench-{i}", i)


def node_ip(node):
    for a in node["status"]["addresses"]:
        if a["type"] == "InternalIP":
            return a["address"]
    raise ValueError("node without InternalIP")


# --- the fake API server ----------------------------------------------------------------
class Fake:
    """fake_apiserver.py as a child process, plain HTTP."""

    def __init__(self, seed_nodes=0, host="127.0.0.1", netns=None, logdir=None):
        cmd = [sys.executable, FAKE, "--host", host, "--control-host", host,
               "--seed-nodes", str(seed_nodes)]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.log = open(os.path.join(logdir or tempfile.gettempdir(),
                                     f"fake-{os.getpid()}-{time.time():.0f}.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fake_apiserver did not start (see " + self.log.name + ")")
        info = json.loads(line)
        self.host, self.pid = host, info["pid"]
        self.port, self.cport = info["api_port"], info["control_port"]
        self.url = f"http://{host}:{self.port}"
        self._ctl = None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()

    def cpu(self):
        return cpu_seconds(self.pid)

    def ctl(self, method, path, body=None):
        """Control interface on one kept-alive connection -> decoded JSON."""
        for attempt in (0, 1):
            if self._ctl is None:
                self._ctl = http.client.HTTPConnection(self.host, self.cport, timeout=60)
            try:
                data = None if body is None else json.dumps(body)
                self._ctl.request(method, path, data,
                                  {"Content-Type": "application/json"})
                r = self._ctl.getresponse()
                raw = r.read()
                out = json.loads(raw)
                if r.status != 200:
                    raise RuntimeError(f"control {method} {path}: {r.status} {out}")
                return out
            except (http.client.HTTPException, ConnectionError):
                self._ctl.close()
                self._ctl = None
                if attempt:
                    raise


# --- network namespaces: deploy/devcluster/netns.py ---------------------------------------
def http_get(addr, path, ns=None, timeout=10):
    """GET http://addr/path (addr "host:port", inside namespace ns) -> (status, text)."""
    host, port = addr.rsplit(":", 1)
    sock = netns.connect_in(ns, host, int(port), timeout)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    c.sock = sock
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


METRIC_LINE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text):
    """Prometheus text -> {name: {labels text ('' when none): value}}."""
    out = {}
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if m:
            out.setdefault(m.group(1), {})[m.group(2) or ""] = float(m.group(3))
    return out


def free_port(ns=None):
    """A free loopback port (in namespace ns: its own port space)."""
    with netns.socket_in(ns) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the binary ---------------------------------------------------------------------------
class Product:
    """kube-chorus-router as a child process, talking to `master` (a URL) or
    with `api` arguments (e.g. --kubeconfig); `started` is time.time()
    right before the fork."""

    def __init__(self, binary, master=None, overlay="10.200.0.0/16", extra=(), netns=None,
                 logdir=None, node="bench", api=()):
        api = ["--master", master] if master else list(api)
        # Ports picked here (in the namespace's own port space when in one):
        # the harness reads /metrics and /readyz.
        self.netns = netns
        self.metrics_addr = f"127.0.0.1:{free_port(netns)}"
        self.health_addr = f"127.0.0.1:{free_port(netns)}"
        if "--leader-elect" not in " ".join(extra):
            extra = [*extra, "--leader-elect=false"]
        cmd = [binary, *api, "--overlay-network", overlay,
               "--remote-vtep", "192.0.2.1",
               "--hostname-override", node, "--health-addr", self.health_addr,
               "--metrics-addr", self.metrics_addr, *extra]
        if "--run-tunnel" not in " ".join(extra):
            cmd.append("--run-tunnel=false")
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.log = open(os.path.join(logdir or tempfile.gettempdir(),
                                     f"kcr-{os.getpid()}-{time.time():.3f}.log"), "w")
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid  # `ip netns exec` execs the binary: same pid

    def alive(self):
        return self.proc.poll() is None

    def cpu(self):
        try:
            return cpu_seconds(self.pid)
        except FileNotFoundError:  # exited and reaped
            return float("nan")

    def peak_rss_mib(self):
        try:
            return peak_rss_mib(self.pid)
        except FileNotFoundError:
            return float("nan")

    def rss_mib(self):
        """(VmRSS, VmHWM, RssAnon, RssFile) in MiB."""
        try:
            return rss_mib(self.pid)
        except FileNotFoundError:
            return (float("nan"),) * len(RSS_FIELDS)

    def metrics(self):
        """/metrics parsed: {name: {labels: value}}."""
        status, text = http_get(self.metrics_addr, "/metrics", self.netns)
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        return parse_metrics(text)

    def metric(self, name, labels_has=""):
        """Sum of a metric's samples whose labels contain `labels_has`."""
        return sum(v for k, v in self.metrics().get(name, {}).items() if labels_has in k)

    def ready(self):
        try:
            return http_get(self.health_addr, "/readyz", self.netns, timeout=2)[0] == 200
        except OSError:
            return False

    def kill(self):
        """SIGKILL, as a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until truthy -> its value; RuntimeError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
