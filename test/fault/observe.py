"""What the fault campaign watches: the API (as admin), every revision of the
ConfigMap (a watch of its own), the exact state the ConfigMap must reach, and
continuous pings from the device to the pods.

Everything here reaches the API server through sockets opened inside the API
namespace (deploy/devcluster/netns.py), so it works the same on the real
control plane and on the fake.
"""

import http.client
import ipaddress
import json
import re
import ssl
import subprocess
import threading
import time

import netns

CM_NS, CM_NAME = "kube-system", "kube-chorus-router"
CM_PATH = f"/api/v1/namespaces/{CM_NS}/configmaps/{CM_NAME}"
OWN_PREFIXES = ("Host-", "Node-", "Interface-", "Mac-", "CNI-", "Name-")
OVERLAY = ipaddress.ip_network("192.168.254.0/24")
ENDPOINT = "192.168.254.254"
CILIUM = "network.cilium.io/ipv4-pod-cidr"
MERGE = "application/merge-patch+json"


class ApiDown(RuntimeError):
    pass


class Api:
    """Admin access over HTTPS: the client certificate on the real control
    plane, the bearer token on the fake (which only compares it)."""

    def __init__(self, cluster):
        a = cluster.apiserver
        self.ns, self.host = cluster.api, "198.51.100.2"
        self.port = int(a.server.rsplit(":", 1)[1])
        self.ctx = ssl.create_default_context(cafile=a.ca_file)
        self.headers = {"Accept": "application/json"}
        if a.kind == "real":
            self.ctx.load_cert_chain(a.info["admin_cert"], a.info["admin_key"])
        else:
            with open(a.device_token_file) as f:
                self.headers["Authorization"] = "Bearer " + f.read().strip()
        self.local = threading.local()  # one keep-alive connection per thread

    def client(self, timeout=5):
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = netns.NsClient(self.ns, self.host, self.port, self.ctx, timeout)
        return c

    def call(self, method, path, body=None, ok=(200, 201), ctype="application/json"):
        """-> (status, parsed body); ApiDown when unreachable or the status is not in ok."""
        h = dict(self.headers)
        if body is not None:
            h["Content-Type"] = ctype
            body = json.dumps(body)
        try:
            status, text = self.client().request(method, path, body, headers=h)
        except (OSError, http.client.HTTPException) as e:
            raise ApiDown(f"{method} {path}: {e}") from None
        if status not in ok:
            raise ApiDown(f"{method} {path}: {status} {text[:200]!r}")
        return status, (json.loads(text) if text else None)

    def nodes(self):
        return self.call("GET", "/api/v1/nodes")[1]["items"]

    def configmap(self):
        return self.call("GET", CM_PATH)[1]

    def ready(self):
        """kube-apiserver's /readyz (plain text) answers 200."""
        try:
            return self.client().request("GET", "/readyz", headers=self.headers)[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def watch_stream(self, path, timeout):
        """An open streaming response (the caller reads lines and closes it)."""
        sock = netns.connect_in(self.ns, self.host, self.port, timeout)
        sock = self.ctx.wrap_socket(sock, server_hostname=self.host)
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                           context=self.ctx)
        conn.sock = sock
        conn.request("GET", path, headers=self.headers)
        return conn, conn.getresponse()


# ---- the exact state ------------------------------------------------------------------
def internal_ip(node):
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return a["address"]
    return None


def pod_ranges(node):
    spec = node.get("spec") or {}
    got = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    if not got:
        ann = (node["metadata"].get("annotations") or {}).get(CILIUM)
        got = [ann] if ann else []
    return got


def mac_of(overlay_ip):
    return "0a:58:" + ":".join(f"{int(o):02x}" for o in overlay_ip.split("."))


def refused(ranges, earlier):
    """Why the product must refuse these ranges (None: it must publish them):
    wider than /16 (no --pod-network), inside the overlay or the underlay, or
    overlapping a range an earlier node already holds."""
    for r in ranges:
        try:
            net = ipaddress.ip_network(r, strict=False)
        except ValueError:
            return f"{r} is not a range"
        if net.prefixlen < 16:
            return f"{r} is wider than /16"
        for other in [OVERLAY, ipaddress.ip_network("198.51.100.0/24")] + earlier:
            if net.overlaps(other):
                return f"{r} overlaps {other}"
    return None


def expected_entries(nodes, first_owners):
    """{node name: want dict without Interface-/Mac-} of the nodes whose ranges
    the product must publish. first_owners: names whose ranges win overlaps
    (the nodes that existed throughout)."""
    order = sorted(nodes, key=lambda n: (n["metadata"]["name"] not in first_owners,
                                         n["metadata"]["creationTimestamp"],
                                         n["metadata"]["name"]))
    held, want = [], {}
    for n in order:
        ranges, ip = pod_ranges(n), internal_ip(n)
        if not ip or not ranges or refused(ranges, held):
            continue
        held += [ipaddress.ip_network(r, strict=False) for r in ranges]
        cni = ",".join(f"{ipaddress.ip_network(r, strict=False).network_address + 1}/"
                       f"{ipaddress.ip_network(r, strict=False).prefixlen}" for r in ranges)
        name = n["metadata"]["name"]
        want[name] = {f"Host-{n['metadata']['uid']}": ip, f"Node-{ip}": ip,
                      f"Name-{ip}": name, f"CNI-{ip}": cni}
    return want


def exact_problems(data, nodes, first_owners):
    """Every way the ConfigMap data differs from what the Nodes say ([] = exact).
    Foreign keys are ignored; the overlay addresses only need to be valid,
    distinct and matched by their MAC."""
    p = []
    if data.get("EndpointIP") != ENDPOINT:
        p.append(f"EndpointIP={data.get('EndpointIP')!r}")
    if data.get("Type") != "VXLAN":
        p.append(f"Type={data.get('Type')!r}")
    want_keys, overlays = set(), []
    for name, want in expected_entries(nodes, first_owners).items():
        ip = want[next(k for k in want if k.startswith("Node-"))]
        want_keys |= set(want) | {f"Interface-{ip}", f"Mac-{ip}"}
        for k, v in want.items():
            if data.get(k) != v:
                p.append(f"{name}: {k}={data.get(k)!r}, want {v!r}")
        ov = data.get(f"Interface-{ip}")
        try:
            a = ipaddress.ip_address(ov)
            if a not in OVERLAY or str(a) == ENDPOINT or a == OVERLAY.network_address:
                p.append(f"{name}: Interface-{ip}={ov} outside the usable overlay")
        except ValueError:
            p.append(f"{name}: Interface-{ip}={ov!r}")
            continue
        overlays.append(ov)
        if data.get(f"Mac-{ip}") != mac_of(ov):
            p.append(f"{name}: Mac-{ip}={data.get(f'Mac-{ip}')!r}")
    if len(set(overlays)) != len(overlays):
        p.append(f"duplicate overlay addresses {sorted(overlays)}")
    extra = {k for k in data if k.startswith(OWN_PREFIXES)} - want_keys
    if extra:
        p.append(f"keys of no node: {sorted(extra)[:6]}")
    return p


def duplicates(data):
    """{overlay address: [keys]} held by more than one node in this revision."""
    by = {}
    for k, v in data.items():
        if k.startswith("Interface-"):
            by.setdefault(v, []).append(k)
    return {v: ks for v, ks in by.items() if len(ks) > 1}


# ---- every revision of the ConfigMap -----------------------------------------------------
class ConfigMapWatch(threading.Thread):
    """Records every revision of the ConfigMap the API server shows a watcher:
    (arrival time, resourceVersion, data). Resumes from the last revision after
    a broken stream; on 410 relists (a gap, counted)."""

    def __init__(self, api):
        super().__init__(daemon=True)
        self.api, self.revisions, self.gaps, self.reconnects = api, [], 0, 0
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.rv = None

    def record(self, obj):
        rv = obj["metadata"]["resourceVersion"]
        with self.lock:
            if self.revisions and self.revisions[-1][1] == rv:
                return
            self.revisions.append((time.time(), rv, dict(obj.get("data") or {})))
        self.rv = rv

    def run(self):
        while not self.stop.is_set():
            try:
                if self.rv is None:
                    self.record(self.api.configmap())
                self.follow()
            except Exception:  # noqa: BLE001 - down, reset, 410: resume or relist
                pass
            self.reconnects += 1
            self.stop.wait(0.1)

    def follow(self):
        path = (f"/api/v1/namespaces/{CM_NS}/configmaps?watch=1&allowWatchBookmarks=true"
                f"&fieldSelector=metadata.name%3D{CM_NAME}&resourceVersion={self.rv}")
        conn, r = self.api.watch_stream(path, timeout=30)
        try:
            if r.status != 200:
                raise ApiDown(f"watch: {r.status}")
            while not self.stop.is_set():
                line = r.readline()
                if not line:
                    return
                ev = json.loads(line)
                if ev["type"] == "ERROR":
                    self.rv = None  # 410 Gone: relist
                    self.gaps += 1
                    return
                if ev["type"] == "BOOKMARK":
                    continue
                if ev["type"] == "DELETED":
                    with self.lock:
                        self.revisions.append((time.time(), "deleted", {}))
                    continue
                self.record(ev["object"])
        finally:
            conn.close()

    def take(self, older_than):
        """The revisions that arrived before older_than, removed from the buffer."""
        with self.lock:
            n = sum(1 for t, _, _ in self.revisions if t < older_than)
            out, self.revisions = self.revisions[:n], self.revisions[n:]
        return out


# ---- pings ------------------------------------------------------------------------------
PING_INTERVAL = 0.2
_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)")
_NOANSWER = re.compile(r"^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)")


class Pinger:
    """`ping -D -O` from the device to one pod for the whole campaign."""

    def __init__(self, ns, target, log_path):
        self.target, self.log_path = target, log_path
        self.f = open(log_path, "w")
        self.p = subprocess.Popen(netns.exec_argv(ns, [
            "ping", "-n", "-D", "-O", "-i", str(PING_INTERVAL), "-W", "1", target]),
            stdout=self.f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self):
        self.p.send_signal(2)
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.f.close()

    def result(self):
        """(sent, [wall time of each lost echo])."""
        replied, noanswer, last = set(), {}, 0
        with open(self.log_path, errors="replace") as f:
            for line in f:
                if m := _REPLY.match(line):
                    replied.add(int(m.group(2)))
                    last = max(last, int(m.group(2)))
                elif m := _NOANSWER.match(line):
                    # printed when the next echo goes out: this one left an interval earlier
                    noanswer[int(m.group(2))] = float(m.group(1)) - PING_INTERVAL
                    last = max(last, int(m.group(2)))
        lost = [t for seq, t in noanswer.items() if seq not in replied]
        return last, sorted(lost)
