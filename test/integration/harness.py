"""Shared helper of the integration tests: the REAL kube-chorus-router binary
against the fake API server (test/fakeapi).

A test builds a Harness (a context manager), which
  - starts the fake API server with TLS (its own CA) and a bearer token,
  - writes one kubeconfig per instance (TLS + token, as a real cluster),
  - starts N instances of the binary, each with its own node name, health and
    metrics ports and log file,
  - waits for conditions with deadlines (polling every 50 ms),
  - and, whatever happens, kills every process it started and prints the
    logs when the test failed.

Each test is a function run by run_test(); check() prints what is checked and
raises Failure, so a failed check ends the test with exit status 1.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fakeapi", "fake_apiserver.py")
TOKEN = "integration-token"
NS, NAME = "kube-system", "kube-chorus-router"
POLL = 0.05  # seconds between two polls of the API / a condition


class Failure(Exception):
    pass


def check(cond, what, detail=""):
    """Prints the check; raises Failure when it does not hold."""
    if cond:
        print(f"ok   {what}", flush=True)
        return
    print(f"FAIL {what}" + (f": {detail}" if detail else ""), flush=True)
    raise Failure(what + (f": {detail}" if detail else ""))


# Instances that must keep running: wait_for() fails at once when one of
# them exits without having been signalled by the test (a crash).
_RUNNING = []


def _crashed():
    for inst in _RUNNING:
        rc = inst.proc.poll() if inst.proc else None
        if rc is not None and not inst.expect_exit:
            return f"instance {inst.index} ({inst.node}) exited with status {rc}"
    return None


def wait_for(pred, timeout, what, interval=POLL):
    """Polls pred() until it returns a truthy value; -> (value, seconds).
    Exceptions of pred() count as 'not yet' (e.g. the ConfigMap is missing)."""
    start = time.monotonic()
    last_err = None
    while True:
        crash = _crashed()
        if crash:
            raise Failure(f"{crash} while waiting for {what}")
        try:
            v = pred()
            if v:
                return v, time.monotonic() - start
        except Exception as e:  # noqa: BLE001 - 'not yet', kept for the message
            last_err = e
        if time.monotonic() - start > timeout:
            raise Failure(f"timed out after {timeout:.1f} s waiting for {what}"
                          + (f" (last error: {last_err})" if last_err else ""))
        time.sleep(interval)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies (a
    ctest timeout), so no binary or fake outlives its test."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def exit_on_sigterm():
    """SIGTERM (ctest, a user) unwinds the test so its finally blocks kill
    the processes and delete the namespaces."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """-> (status, body text) of a plain HTTP GET."""
    assert url.startswith("http://")
    hostport, _, path = url[len("http://"):].partition("/")
    host, _, port = hostport.rpartition(":")
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", "/" + path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def metric(text, name):
    """Value of an unlabelled (or the first labelled) sample of `name`."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head == name or head.startswith(name + "{"):
            return float(value)
    return None


def metric_sum(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels` (e.g.
    result="ok"); None when there is no such sample."""
    total = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        base, _, rest = head.partition("{")
        if base != name:
            continue
        if any(f'{k}="{v}"' not in rest for k, v in labels.items()):
            continue
        total = (total or 0) + float(value)
    return total


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
                                     preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fake_apiserver did not start; see "
                               + self.log_path)
        self.info = json.loads(line)
        self.api_url = self.info["api_url"]
        self.cport = self.info["control_port"]
        self.ca_file = self.info["ca_file"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
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

    # Reads of the published state (raise when missing: wait_for retries).
    def configmap(self):
        return self.ctl("GET", f"/configmaps/{NS}/{NAME}")

    def data(self):
        return self.configmap().get("data") or {}

    def lease(self):
        return self.ctl("GET", f"/leases/{NS}/{NAME}")

    def writes(self):
        return [w for w in self.ctl("GET", "/writes")
                if w.get("name") == NAME and w.get("namespace") == NS]


def write_kubeconfig(path, server, ca_file, token):
    cluster = f"    server: {server}\n"
    if ca_file:
        cluster += f"    certificate-authority: {ca_file}\n"
    user = f"    token: {token}\n" if token else "    {}\n"
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: it\n"
                "clusters:\n- name: fake\n  cluster:\n" + cluster +
                "users:\n- name: robot\n  user:\n" + user +
                "contexts:\n- name: it\n  context:\n    cluster: fake\n"
                "    user: robot\n")


class Instance:
    """One kube-chorus-router process with its own kubeconfig and ports."""

    def __init__(self, h, node, extra, token, run_tunnel, leases, prefix,
                 remote_vtep="192.0.2.1", endpoints=True, env=None):
        self.node = node
        self.index = len(h.instances)
        self.health = f"127.0.0.1:{free_port()}"
        self.metrics = f"127.0.0.1:{free_port()}"
        self.kubeconfig = os.path.join(h.workdir, f"kubeconfig-{self.index}")
        write_kubeconfig(self.kubeconfig, h.fake.api_url, h.fake.ca_file,
                         token)
        self.log_path = os.path.join(h.workdir, f"kcr-{self.index}-{node}.log")
        self.cmd = [*prefix, h.binary, "--kubeconfig", self.kubeconfig,
                    "--overlay-network", "192.168.254.0/24",
                    "--remote-vtep", remote_vtep,
                    "--hostname-override", node]
        if endpoints:  # False: the test passes its own (or none)
            self.cmd += ["--health-addr", self.health,
                         "--metrics-addr", self.metrics]
        self.env = dict(os.environ, **(env or {}))
        if leases:
            self.cmd += ["--leader-elect-retry-period", "500ms",
                         "--leader-elect-renew-deadline", "1s",
                         "--leader-elect-lease-duration", "2s"]
        if not run_tunnel:
            self.cmd += ["--run-tunnel=false"]
        self.cmd += list(extra)
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.log.write(f"=== {' '.join(self.cmd)}\n")
        self.log.flush()
        self.expect_exit = False
        self.proc = subprocess.Popen(self.cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     env=self.env,
                                     preexec_fn=_die_with_parent)
        if self not in _RUNNING:
            _RUNNING.append(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.expect_exit = True
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """-> exit status, or None when still running after timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; -> exit status."""
        if self.proc is None:
            return None
        self.expect_exit = True
        if self.proc.poll() is None:
            self.proc.terminate()
            if self.wait(5) is None:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def healthz(self, path="/healthz"):
        return http_get(f"http://{self.health}{path}")

    def metrics_text(self):
        status, body = http_get(f"http://{self.metrics}/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        return body


class Harness:
    def __init__(self, binary, *fake_args, tls=True, token=TOKEN,
                 netns=None, workdir=None):
        """netns: run the fake and every instance inside that network
        namespace (it must exist, with `lo` up)."""
        self.binary = os.path.abspath(binary)
        self.workdir = workdir or tempfile.mkdtemp(prefix="kcr-integration-")
        self.netns = netns
        self.instances = []
        self.fake = None
        try:
            self.fake = Fake(self.workdir, *fake_args, tls=tls, token=token,
                             netns=netns)
        except Exception:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    def instance(self, node, *extra, token=TOKEN, run_tunnel=False,
                 leases=True, prefix=(), remote_vtep="192.0.2.1",
                 endpoints=True, env=None):
        if self.netns:
            prefix = ("ip", "netns", "exec", self.netns, *prefix)
        inst = Instance(self, node, extra, token, run_tunnel, leases, prefix,
                        remote_vtep, endpoints, env)
        self.instances.append(inst)
        return inst

    def add_node(self, name, ip, pod_cidr, uid=None):
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name},
                "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
                "status": {"addresses": [{"type": "InternalIP", "address": ip},
                                         {"type": "Hostname", "address": name}],
                           "conditions": [{"type": "Ready", "status": "True"}]}}
        if uid:
            node["metadata"]["uid"] = uid
        return self.fake.ctl("POST", "/nodes", node)

    def close(self, failed):
        for inst in self.instances:
            try:
                inst.stop()
            except Exception:  # noqa: BLE001 - keep cleaning up
                traceback.print_exc()
        if self.fake:
            self.fake.stop()
        try:
            self._report(failed)
        finally:  # even when printing fails (e.g. a closed pipe)
            if os.environ.get("KCR_IT_KEEP"):
                print("kept", self.workdir)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def _report(self, failed):
        if failed or os.environ.get("KCR_IT_LOGS"):
            for inst in self.instances:
                print(f"----- log of instance {inst.index} ({inst.node}) -----")
                print(tail(inst.log_path))
            if self.fake:
                print("----- log of the fake API server -----")
                print(tail(self.fake.log_path, 40))


def tail(path, n=80):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        return str(e)
    return "".join(lines[-n:])


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True,
                   help="path of the kube-chorus-router binary")
    return p.parse_args()


def run_test(body, *fake_args, **harness_kw):
    """Runs body(harness) against a fresh fake API server; exit 0 when every
    check held, 1 on the first failed check or any error."""
    args = parse_args()
    exit_on_sigterm()
    if not os.access(args.binary, os.X_OK):
        print(f"FAIL the binary {args.binary} is not executable")
        sys.exit(1)
    name = os.path.basename(sys.argv[0])
    h = None
    failed = True
    try:
        h = Harness(args.binary, *fake_args, **harness_kw)
        body(h)
        failed = False
    except Failure:
        pass
    except Exception:  # noqa: BLE001 - an error is a failure too
        traceback.print_exc()
    finally:
        if h:
            h.close(failed)
    print(f"{name}: {'FAILED' if failed else 'PASSED'}", flush=True)
    sys.exit(1 if failed else 0)


def term_and_wait(inst, timeout=5.0):
    """SIGTERM; -> (exit status or None, seconds)."""
    t0 = time.monotonic()
    inst.signal(signal.SIGTERM)
    rc = inst.wait(timeout)
    return rc, time.monotonic() - t0


# --- the seed's ConfigMap format -------------------------------------------
OWN_PREFIXES = ("Host-", "Node-", "Interface-", "Mac-", "CNI-", "Name-")
OVERLAY = "192.168.254.0/24"
ENDPOINT = "192.168.254.254"


def internal_ip(node):
    for a in node.get("status", {}).get("addresses", []):
        if a.get("type") == "InternalIP":
            return a["address"]
    return None


def cni_value(node):
    """First host of each pod CIDR with its prefix, comma-separated."""
    import ipaddress
    spec = node.get("spec", {})
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR")
                                     else [])
    out = []
    for c in cidrs:
        net = ipaddress.ip_network(c)
        out.append(f"{net.network_address + 1}/{net.prefixlen}")
    return ",".join(out)


def mac_of(overlay_ip):
    return "0a:58:" + ":".join(f"{int(o):02x}" for o in overlay_ip.split("."))


def seed_format_problems(data, nodes):
    """Every way `data` differs from the seed format for `nodes` (Node
    objects); an empty list when it is right. The overlay IPs are the
    binary's choice: only their validity and distinctness are checked."""
    import ipaddress
    net = ipaddress.ip_network(OVERLAY)
    p = []
    if data.get("EndpointIP") != ENDPOINT:
        p.append(f"EndpointIP={data.get('EndpointIP')!r}, want {ENDPOINT}")
    if data.get("Type") != "VXLAN":
        p.append(f"Type={data.get('Type')!r}, want VXLAN")
    overlay_ips = []
    for n in nodes:
        name, uid, ip = n["metadata"]["name"], n["metadata"]["uid"], internal_ip(n)
        want = {f"Host-{uid}": ip, f"Node-{ip}": ip, f"Name-{ip}": name,
                f"CNI-{ip}": cni_value(n)}
        for k, v in want.items():
            if data.get(k) != v:
                p.append(f"{name}: {k}={data.get(k)!r}, want {v!r}")
        ov = data.get(f"Interface-{ip}")
        try:
            a = ipaddress.ip_address(ov)
            if (a not in net or a in (net.network_address, net.broadcast_address)
                    or str(a) == ENDPOINT):
                p.append(f"{name}: Interface-{ip}={ov} is not a usable node "
                         f"address of {OVERLAY}")
            overlay_ips.append(ov)
            if data.get(f"Mac-{ip}") != mac_of(ov):
                p.append(f"{name}: Mac-{ip}={data.get(f'Mac-{ip}')!r}, "
                         f"want {mac_of(ov)}")
        except ValueError:
            p.append(f"{name}: Interface-{ip}={ov!r} is not an IP")
    if len(set(overlay_ips)) != len(overlay_ips):
        p.append(f"overlay IPs are not distinct: {sorted(overlay_ips)}")
    own = [k for k in data if k.startswith(OWN_PREFIXES)]
    if len(own) != 6 * len(nodes):
        known = {f"Host-{n['metadata']['uid']}" for n in nodes}
        for n in nodes:
            known |= {f"{pre}{internal_ip(n)}" for pre in OWN_PREFIXES[1:]}
        p.append(f"{len(own)} per-node keys for {len(nodes)} nodes; "
                 f"unexpected: {sorted(set(own) - known)[:10]}")
    return p


def own_entries(data):
    """The per-node keys of a ConfigMap's data (the controller's own)."""
    return {k: v for k, v in data.items() if k.startswith(OWN_PREFIXES)}
