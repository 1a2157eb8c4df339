"""Shared helper of the integration tests: the REAL kube-chorus-router binary
against a cluster (cluster.py): the real control plane by default, the fake
API server for the tests that need its fault injection.

A test builds a Harness (a context manager), which
  - starts the cluster (backend "real": etcd + kube-apiserver, the shipped
    manifests applied, seed Nodes created; backend "fake": the fake API
    server with TLS and a bearer token),
  - writes one kubeconfig per instance (TLS + token, as a real cluster; on
    the real server the token is the shipped ServiceAccount's),
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
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import cluster as C
from cluster import TOKEN, tail  # noqa: F401 - H.tail: used by the tests
from controlplane import free_port  # one picker: below the ephemeral range

POLL = 0.05  # seconds between two polls of the API / a condition


class Failure(Exception):
    pass


def check(cond, what, detail=""):
    """Prints the check; raises Failure when it does not hold."""
    if cond:
        print(f"ok   {what}", flush=True)
        return
    print(f"FAIL {what}" + (f": {detail}" if detail else ""), flush=True)
    e = Failure(what + (f": {detail}" if detail else ""))
    e.printed = True
    raise e


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
            last_err = None  # only the last attempt's error is news
        except Exception as e:  # noqa: BLE001 - 'not yet', kept for the message
            last_err = e
        if time.monotonic() - start > timeout:
            raise Failure(f"timed out after {timeout:.1f} s waiting for {what}"
                          + (f" (last error: {last_err})" if last_err else ""))
        time.sleep(interval)


def sh(*cmd, check=True, timeout=30):
    """Runs a command (e.g. `ip`); -> CompletedProcess; raises with its
    stderr when it fails and `check`."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: "
                           f"{r.stderr.strip()}")
    return r


def skip(reason):
    """Ends the test as skipped (ctest SKIP_RETURN_CODE 77), saying why."""
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def exit_on_sigterm():
    """SIGTERM (ctest, a user) unwinds the test so its finally blocks kill
    the processes and delete the namespaces."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


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


def write_kubeconfig(path, server, ca_file, token=None, token_file=None):
    cluster = f"    server: {server}\n"
    if ca_file:
        cluster += f"    certificate-authority: {ca_file}\n"
    user = (f"    token: {token}\n" if token else
            f"    tokenFile: {token_file}\n" if token_file else "    {}\n")
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: it\n"
                "clusters:\n- name: it\n  cluster:\n" + cluster +
                "users:\n- name: robot\n  user:\n" + user +
                "contexts:\n- name: it\n  context:\n    cluster: it\n"
                "    user: robot\n")


class Instance:
    """One kube-chorus-router process with its own kubeconfig and ports."""

    def __init__(self, h, node, extra, token, token_file, run_tunnel, leases,
                 prefix, remote_vtep="192.0.2.1", endpoints=True, env=None,
                 server=None):
        self.node = node
        self.index = len(h.instances)
        self.health = f"127.0.0.1:{free_port()}"
        self.metrics = f"127.0.0.1:{free_port()}"
        self.kubeconfig = os.path.join(h.workdir, f"kubeconfig-{self.index}")
        write_kubeconfig(self.kubeconfig, server or h.cluster.server,
                         h.cluster.ca_file, token, token_file)
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
                                     preexec_fn=C.die_with_parent)
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
    def __init__(self, binary, backend="real", seed_nodes=0, forbid=(),
                 fake_args=(), tls=True, token=TOKEN, netns=None,
                 workdir=None):
        """backend: "real" (the control plane) or "fake"; seed_nodes: Nodes
        node-0000.. shaped by test/fakeapi/nodegen.py; forbid: ["verb:
        resource"] refused with 403 from the start. fake_args, tls, token,
        netns (run the fake and every instance inside that network
        namespace, which must exist with `lo` up): the fake only."""
        self.binary = os.path.abspath(binary)
        self.workdir = workdir or tempfile.mkdtemp(prefix="kcr-integration-")
        self.netns = netns
        self.instances = []
        self.cluster = self.fake = None
        try:
            if backend == "real":
                self.cluster = C.RealCluster(self.workdir, seed_nodes, forbid)
            else:
                self.cluster = C.FakeCluster(self.workdir, seed_nodes, forbid,
                                             fake_args, tls, token, netns)
                self.fake = self.cluster.fake  # its control port: faults
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    def instance(self, node, *extra, token=None, token_file=None,
                 run_tunnel=False, leases=True, prefix=(),
                 remote_vtep="192.0.2.1", endpoints=True, env=None,
                 server=None):
        """token: default the cluster's token for the binary (the shipped
        ServiceAccount's on the real server); token_file: a kubeconfig
        tokenFile instead; server: another URL of the API server (e.g. a
        proxy reachable from a network namespace)."""
        if self.netns:
            prefix = ("ip", "netns", "exec", self.netns, *prefix)
        if token is None and token_file is None:
            token = self.cluster.binary_token
        inst = Instance(self, node, extra, token, token_file, run_tunnel,
                        leases, prefix, remote_vtep, endpoints, env, server)
        self.instances.append(inst)
        return inst

    def add_node(self, name, ip, pod_cidr):
        return self.cluster.add_node(name, ip, pod_cidr)

    def close(self, failed):
        for inst in self.instances:
            try:
                inst.stop()
            except Exception:  # noqa: BLE001 - keep cleaning up
                traceback.print_exc()
        try:
            self._report(failed)
        finally:  # even when printing fails (e.g. a closed pipe)
            if self.cluster:
                self.cluster.stop()
            if os.environ.get("KCR_IT_KEEP"):
                print("kept", self.workdir)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def _report(self, failed):
        if failed or os.environ.get("KCR_IT_LOGS"):
            for inst in self.instances:
                print(f"----- log of instance {inst.index} ({inst.node}) -----")
                print(tail(inst.log_path))
            if self.cluster:
                print(self.cluster.log_tail())


def parse_args(default_backend, scenarios=None):
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True,
                   help="path of the kube-chorus-router binary")
    p.add_argument("--backend", choices=("real", "fake"),
                   default=default_backend,
                   help=f"the cluster to run against (default "
                   f"{default_backend}: the real control plane unless the "
                   "test needs the fake's fault injection)")
    if scenarios:
        p.add_argument("--scenario", required=True, choices=list(scenarios),
                       help="which scenario of this file to run (each on "
                       "a fresh cluster; one ctest entry each)")
    return p.parse_args()


def run_test(body, backend="real", args=None, **harness_kw):
    """Runs body(harness) against a fresh cluster of `backend` ("fake" only
    for a test that needs the fake's fault injection: it cannot be run on
    the real server); exit 0 when every check held, 1 on the first failed
    check or any error, including a control plane that is not built."""
    args = args or parse_args(backend)
    exit_on_sigterm()
    name = os.path.basename(sys.argv[0])
    if getattr(args, "scenario", None):
        name += f" --scenario {args.scenario}"
    if not os.access(args.binary, os.X_OK):
        print(f"FAIL the binary {args.binary} is not executable")
        sys.exit(1)
    if backend == "fake" and args.backend == "real":
        print(f"FAIL {name} needs the fake API server (see its docstring)")
        sys.exit(1)
    h = None
    failed = True
    t0 = time.monotonic()
    try:
        h = Harness(args.binary, backend=args.backend, **harness_kw)
        print(f"     backend {args.backend}: cluster ready in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        body(h)
        failed = False
    except Failure as e:  # a wait_for() timeout is not printed yet
        if not getattr(e, "printed", False):
            print(f"FAIL {e}", flush=True)
    except RuntimeError as e:  # e.g. the control plane is not built
        print(f"FAIL {e}", flush=True)
    except Exception:  # noqa: BLE001 - an error is a failure too
        traceback.print_exc()
    finally:
        if h:
            h.close(failed)
    print(f"{name}: {'FAILED' if failed else 'PASSED'} ({args.backend}, "
          f"{time.monotonic() - t0:.1f} s)", flush=True)
    sys.exit(1 if failed else 0)


def run_scenario(scenarios, backend="real"):
    """A file of several scenarios: {name: (body, harness keyword
    arguments)}; runs the one named by --scenario as run_test() runs a
    body, on its own fresh cluster."""
    args = parse_args(backend, scenarios)
    body, harness_kw = scenarios[args.scenario]
    run_test(body, backend, args=args, **harness_kw)


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


def seed_format_problems(data, nodes, cni=None):
    """Every way `data` differs from the seed format for `nodes` (Node
    objects); an empty list when it is right. The overlay IPs are the
    binary's choice: only their validity and distinctness are checked.
    cni: {node name: CNI- value} where the pod ranges come from elsewhere
    than the Node's spec (a CNI's objects); else cni_value(node)."""
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
                f"CNI-{ip}": (cni or {}).get(name, cni_value(n))}
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


def wait_published(cluster, names, cni=None, timeout=10):
    """Waits until the ConfigMap holds exactly the complete entries of the
    Nodes `names` and nothing else of ours (CNI- values from `cni` where
    given, see seed_format_problems); -> (data, seconds). A timeout says
    what still differs."""
    last = ["nothing read yet"]

    def ready():
        d = cluster.data()
        last[:] = seed_format_problems(d, [cluster.node(n) for n in names],
                                       cni)
        return not last and d
    try:
        return wait_for(ready, timeout, f"exactly {', '.join(names)} "
                        "published")
    except Failure as e:
        raise Failure(f"{e}; still: {last[:8]}") from None


def own_entries(data):
    """The per-node keys of a ConfigMap's data (the controller's own)."""
    return {k: v for k, v in data.items() if k.startswith(OWN_PREFIXES)}


def entry_of(data, ip, uid=None):
    """Every key of the node with underlay `ip` (and Host-<uid> when given):
    {} when the node has no entry at all."""
    key_ip = ip.replace(":", "_")
    out = {k: v for k, v in data.items()
           if k.startswith(OWN_PREFIXES) and k.endswith("-" + key_ip)}
    if uid and f"Host-{uid}" in data:
        out[f"Host-{uid}"] = data[f"Host-{uid}"]
    return out


def node_events(cluster, name, reason=None):
    """The Events about Node `name` (with `reason`, when given)."""
    return [e for e in cluster.events()
            if e.get("involvedObject", {}).get("kind") == "Node"
            and e.get("involvedObject", {}).get("name") == name
            and (reason is None or e.get("reason") == reason)]


def showing_refusals(body):
    """body(h), which on failure also prints the requests of the binary that
    the API server refused with 403 (a rule missing from the shipped RBAC,
    e.g. for a CNI's custom resources)."""
    def run(h):
        try:
            body(h)
        except BaseException:
            refused = sorted({f"{r['verb']} {r['resource']}.{r['group']} "
                              f"{r['path']}" for r in h.cluster.requests()
                              if r.get("status") == 403})
            for line in refused:
                print(f"     refused (403): {line}")
            raise
    return run
