"""The local cluster of network namespaces (library of `make run` and the e2e tests).

Topology of a cluster with tag T (all names start with `kcr-T-`, so clusters of
different tags never collide and leftovers of a crashed run are found by prefix):

    kcr-T-ul   underlay: bridge br0 (198.51.100.0/24), one veth per host
    kcr-T-api  198.51.100.2   the API server (apihost.py): etcd + kube-apiserver
                              (default) or the fake; the orchestrator reaches it
                              through sockets opened in the namespace
    kcr-T-dev  198.51.100.1   the ingress device: device_sync.py applies
                              `render` output whenever the ConfigMap changes
    kcr-T-c<k> 198.51.100.(2+k)  controller-<k> (shape split only): the binary as
                              the controller (--run-tunnel=false), k = 1..7
    kcr-T-n<i> 198.51.100.(10+i)  node-<i>: the real binary (own kubeconfig,
                              --hostname-override node-<i>; shape split: the agent,
                              --run-publisher=false; combined: both roles),
                              bridge cni0 10.244.<i>.1/24
    kcr-T-p<i> 10.244.<i>.10  pod-<i> behind cni0: a TCP echo listener on :8080

The shape (shape.py): split (controllers + agents, as deploy/kubernetes
installs it) or combined (every node instance both roles); auto picks split
when the binary has the annotation-based agent.

Every process is started with `ip netns exec` in a new session (Ctrl-C reaches
only the orchestrator, which then tears down in order). down() kills every
process of every `kcr-T-*` namespace by pid and deletes the namespaces; up()
first does the same for leftovers of an earlier run with the same tag.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import apihost  # noqa: E402
import netns  # noqa: E402
import shape as shapes  # noqa: E402
from apihost import API_IP, ROOT  # noqa: E402,F401

DEVICE_SYNC = os.path.join(HERE, "device_sync.py")
UNDERLAY, DEVICE_IP = "198.51.100", "198.51.100.1"
OVERLAY = "192.168.254.0/24"
# Short Lease timings so that leader changes are quick in tests and demos.
LEASE_ARGS = ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s",
              "--leader-elect-retry-period", "500ms"]
LEASE_SECONDS, RETRY_SECONDS = 3.0, 0.5
POD_PORT = 8080
ECHO = """
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d)); s.listen(64)
def serve(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d: break
            c.sendall(d)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
""" % POD_PORT


def node_ip(i):
    return f"{UNDERLAY}.{10 + i}"


def pod_ip(i):
    return f"10.244.{i}.10"


def node_name(i):
    return f"node-{i}"


def controller_ip(k):
    return f"{UNDERLAY}.{2 + k}"


def controller_name(k):
    return f"controller-{k}"


MAX_CONTROLLERS = 7  # 198.51.100.3 .. .9: below the node hosts


def wait_for(pred, timeout, what, interval=0.02):
    """Polls pred() until truthy; -> (value, seconds). Exceptions = not yet."""
    t0 = time.monotonic()
    err = None
    while True:
        try:
            v = pred()
            if v:
                return v, time.monotonic() - t0
        except Exception as e:  # noqa: BLE001 - 'not yet'
            err = e
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}"
                               + (f" (last error: {err})" if err else ""))
        time.sleep(interval)


def ns_http(ns, host, port, method, path, body=None, timeout=10):
    """One plain HTTP call from inside ns; -> (status, body text)."""
    c = netns.NsClient(ns, host, port, timeout=timeout)
    try:
        status, body = c.request(method, path, body)
        return status, body.decode()
    finally:
        c.close()


class Cluster:
    def __init__(self, binary, tag="run", nodes=3, run_dir=None, extra_args=(), log=None,
                 api="real", detach=False, shape="auto", controllers=1,
                 remote_vtep=DEVICE_IP, device_args=()):
        """shape: split, combined or auto (shape.py); controllers: how many
        controller instances the split shape runs (the leader test: 2);
        remote_vtep: every instance's --remote-vtep (several devices:
        "A,B"); device_args: more arguments for the device's `render`
        (e.g. --local-ip=198.51.100.1 when there are several devices)."""
        self.binary = os.path.abspath(binary)
        self.shape, self.shape_reason = shapes.resolve(shape, self.binary)
        if not 1 <= controllers <= MAX_CONTROLLERS:
            raise ValueError(f"controllers: 1..{MAX_CONTROLLERS}, not {controllers}")
        self.initial_controllers = controllers if self.shape == "split" else 0
        self.controllers = []  # indices of the controller hosts
        self.tag = tag
        self.prefix = f"kcr-{tag}-"
        self.initial_nodes = nodes
        self.run_dir = run_dir or f"/tmp/kcr-devcluster-{tag}"
        self.extra_args = list(extra_args)
        self.remote_vtep = remote_vtep
        self.device_args = list(device_args)
        self.log = log or (lambda msg: print(msg, flush=True))
        # key -> Popen (instances: "node-<i>", "controller-<k>"; the API server: "api")
        self.procs = {}
        self.nodes = []  # indices of the node hosts
        self.detach = detach  # the processes outlive this one (`devcluster.py up`)
        self.apiserver = apihost.make(api, self)

    # ---- names --------------------------------------------------------------
    @property
    def ul(self):
        return self.prefix + "ul"

    @property
    def api(self):
        return self.prefix + "api"

    @property
    def dev(self):
        return self.prefix + "dev"

    def node_ns(self, i):
        return f"{self.prefix}n{i}"

    def pod_ns(self, i):
        return f"{self.prefix}p{i}"

    def ctl_ns(self, k):
        return f"{self.prefix}c{k}"

    def ns_of(self, name):
        """The namespace of instance `name` (node-<i> or controller-<k>)."""
        kind, _, n = name.rpartition("-")
        return self.node_ns(int(n)) if kind == "node" else self.ctl_ns(int(n))

    def instances(self):
        """Names of every instance of the binary: controllers first."""
        return [controller_name(k) for k in self.controllers] + [node_name(i) for i in self.nodes]

    def path(self, *parts):
        return os.path.join(self.run_dir, *parts)

    # ---- lifecycle ------------------------------------------------------------
    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def cleanup_leftovers(self):
        left = netns.list_ns(self.prefix)
        if left:
            self.log(f"removing leftovers of an earlier run: {' '.join(left)}")
        for ns in left:
            netns.delete_ns(ns)
        self.apiserver.remove_data()

    def up(self, wait_reachable=True):
        """Builds the whole cluster and waits until every node is published and
        the device runs the ConfigMap (and, with wait_reachable, until every pod
        answers); on any failure tears it down again."""
        if os.geteuid() != 0:
            raise PermissionError("the dev cluster needs root (network namespaces)")
        self.cleanup_leftovers()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        os.makedirs(self.path("logs"))
        try:
            t0 = time.monotonic()
            self._underlay()
            self._api_host()
            self.log(f"{self.apiserver.kind} API server ready at {self.apiserver.server} "
                     f"after {time.monotonic() - t0:.1f} s")
            self.log(f"shape {self.shape} ({self.shape_reason}): " + (
                f"{self.initial_controllers} controller(s) --run-tunnel=false + an agent "
                "--run-publisher=false per node" if self.shape == "split"
                else "every node instance runs both roles") + f"; binary {self.binary}")
            self._device_host()
            for k in range(1, self.initial_controllers + 1):
                self.add_controller(k)
            for i in range(1, self.initial_nodes + 1):
                self.add_node(i)
            self._save_state()
            self.wait_converged(timeout=30, reachable=wait_reachable)
            self.log(f"cluster '{self.tag}' up in {time.monotonic() - t0:.1f} s "
                     f"({len(self.nodes)} nodes, run dir {self.run_dir})")
        except BaseException:
            self.down()
            raise

    def down(self):
        """Kills every process of the cluster and deletes every namespace.
        Signals are held off meanwhile so that a second Ctrl-C cannot leave
        half a cluster behind."""
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            # The instances first: on SIGTERM they release the Lease, which
            # needs the API server still up (and a watch still open keeps
            # kube-apiserver's graceful stop waiting).
            self.terminate([k for k in self.procs if k != "api"], grace=3)
            self._terminate_foreign(grace=3)
            self.apiserver.stop()
            for ns in netns.list_ns(self.prefix):
                netns.delete_ns(ns)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def terminate(self, keys, grace):
        """SIGTERM to the processes `keys`, SIGKILL to those still there after grace s."""
        procs = [self.procs.pop(k) for k in list(keys) if k in self.procs]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def _terminate_foreign(self, grace):
        """SIGTERM to what another process started in the hosts' namespaces
        (`devcluster.py add-node`: not in self.procs); waits up to grace s."""
        pids = [p for ns in netns.list_ns(self.prefix) if ns != self.api
                for p in netns.pids(ns)]
        netns.kill_pids(pids, signal.SIGTERM)
        try:
            wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), grace,
                     "the other processes to exit", interval=0.05)
        except TimeoutError:
            pass  # delete_ns() kills them

    def spawn(self, key, ns, argv, log_name, stdout=None, env=None):
        logf = open(self.path("logs", log_name), "a")
        p = subprocess.Popen(netns.exec_argv(ns, argv), stdin=subprocess.DEVNULL,
                             stdout=stdout or logf, stderr=logf, start_new_session=True,
                             text=True, env=env)
        logf.close()
        self.procs[key] = p
        return p

    def _save_state(self):
        state = {"tag": self.tag, "binary": self.binary, "nodes": self.nodes,
                 "shape": self.shape, "controllers": self.controllers,
                 "extra_args": self.extra_args, "api": self.apiserver.kind,
                 "remote_vtep": self.remote_vtep, "device_args": self.device_args,
                 "apiserver": self.apiserver.state()}
        with open(self.path("state.json"), "w") as f:
            json.dump(state, f, indent=1)

    @classmethod
    def attach(cls, tag="run", log=None):
        """The cluster another process started (for add-node / delete-node)."""
        run_dir = f"/tmp/kcr-devcluster-{tag}"
        with open(os.path.join(run_dir, "state.json")) as f:
            st = json.load(f)
        c = cls(st["binary"], tag=tag, nodes=0, run_dir=run_dir, extra_args=st["extra_args"],
                log=log, api=st["api"], shape=st["shape"],
                remote_vtep=st.get("remote_vtep", DEVICE_IP),
                device_args=st.get("device_args", ()))
        c.nodes, c.controllers = st["nodes"], st["controllers"]
        c.apiserver.restore(st["apiserver"])
        return c

    # ---- hosts ----------------------------------------------------------------
    def _host_leg(self, ns, peer, addr):
        """A veth from bridge br0 of the underlay to eth0 of ns with addr."""
        netns.ip(self.ul, "link", "add", "name", peer, "type", "veth", "peer", "name", "eth0", "netns", ns)
        netns.ip(self.ul, "link", "set", peer, "master", "br0", "up")
        netns.ip_batch(ns, [f"addr add {addr}/24 dev eth0", "link set eth0 up"])

    def _underlay(self):
        netns.add_ns(self.ul)
        netns.ip_batch(self.ul, ["link add br0 type bridge", "link set br0 up"])

    def _api_host(self):
        netns.add_ns(self.api)
        self._host_leg(self.api, "v-api", API_IP)
        self.apiserver.start()

    def _device_host(self):
        netns.add_ns(self.dev)
        self._host_leg(self.dev, "v-dev", DEVICE_IP)
        a = self.apiserver
        self.spawn("device-sync", self.dev,
                   [sys.executable, DEVICE_SYNC, "--api", a.server, "--ca", a.ca_file,
                    "--token-file", a.device_token_file, "--binary", self.binary,
                    "--state-dir", self.path("device"),
                    *[f"--render-arg={x}" for x in self.device_args]],
                   "device.log")

    def kubeconfig(self, name, role):
        """Instance `name`'s kubeconfig: the CA and a bearer token of its own,
        of the ServiceAccount of `role` (controller or agent)."""
        with open(self.apiserver.ca_file, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        path = self.path(f"kubeconfig-{name}")
        with open(path, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: devcluster
  cluster:
    server: {self.apiserver.server}
    certificate-authority-data: {ca}
users:
- name: kube-chorus-router
  user:
    token: {self.apiserver.role_token(role)}
contexts:
- name: devcluster
  context: {{cluster: devcluster, user: kube-chorus-router}}
current-context: devcluster
""")
        return path

    def add_host(self, i):
        """Node host i with its pod: namespaces, links, the pod's listener."""
        n, p = self.node_ns(i), self.pod_ns(i)
        netns.add_ns(n)
        self._host_leg(n, f"v-n{i}", node_ip(i))
        netns.sysctl(n, "net.ipv4.ip_forward", 1)
        netns.add_ns(p)
        netns.ip_batch(n, ["link add cni0 type bridge", f"addr add 10.244.{i}.1/24 dev cni0",
                           "link set cni0 up",
                           f"link add veth-pod{i} type veth peer name eth0 netns {p}",
                           f"link set veth-pod{i} master cni0 up"])
        netns.ip_batch(p, [f"addr add {pod_ip(i)}/24 dev eth0", "link set eth0 up",
                           f"route add default via 10.244.{i}.1"])
        self.spawn(f"pod-{i}", p, [sys.executable, "-c", ECHO], f"pod-{i}.log")

    def add_controller(self, k):
        """Controller host k (shape split): a namespace on the underlay and the
        binary as the controller in it."""
        netns.add_ns(self.ctl_ns(k))
        self._host_leg(self.ctl_ns(k), f"v-c{k}", controller_ip(k))
        self.controllers.append(k)
        self.start_instance(controller_name(k))

    def instance_argv(self, name):
        """The binary's command line for instance `name`: a controller
        (--run-tunnel=false), an agent (--run-publisher=false) or, in the
        combined shape, a node instance with both roles."""
        kind, _, n = name.rpartition("-")
        ip = controller_ip(int(n)) if kind == "controller" else node_ip(int(n))
        if kind == "controller":
            role, flags = "controller", ["--run-tunnel=false", *LEASE_ARGS]
        elif self.shape == "split":
            role, flags = "agent", ["--run-publisher=false"]
        else:
            role, flags = "controller", LEASE_ARGS
        return [self.binary, "--kubeconfig", self.kubeconfig(name, role),
                "--hostname-override", name, "--overlay-network", OVERLAY,
                "--remote-vtep", self.remote_vtep, *flags,
                "--health-addr", f"{ip}:20264", "--metrics-addr", f"{ip}:20265",
                *self.extra_args]

    def start_instance(self, name):
        """Starts instance `name` (node-<i> or controller-<k>); its host exists."""
        if isinstance(name, int):
            name = node_name(name)
        with open(self.path("logs", f"{name}.log"), "a") as f:
            f.write(f"=== {time.strftime('%H:%M:%S')} start\n")
        return self.spawn(name, self.ns_of(name), self.instance_argv(name), f"{name}.log")

    def _instance_pids(self, name):
        """Pids of the binary in the instance's namespace (also ones of other processes)."""
        out = []
        ns = self.ns_of(name)
        for pid in netns.pids(ns) if netns.exists(ns) else []:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[0].decode() == self.binary:
                        out.append(pid)
            except OSError:
                pass
        return out

    def stop_instance(self, name, sig=signal.SIGTERM, timeout=5):
        """Signals instance `name` (a node index means node-<i>); waits for it
        to exit; -> exit status (None: unknown)."""
        if isinstance(name, int):
            name = node_name(name)
        p = self.procs.pop(name, None)
        if p is None:
            pids = self._instance_pids(name)
            netns.kill_pids(pids, sig)
            wait_for(lambda: not self._instance_pids(name), timeout, f"{name} to exit")
            return None
        if p.poll() is None:
            p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def kill_instance(self, name):
        return self.stop_instance(name, signal.SIGKILL)

    def instance_ready(self, name):
        if isinstance(name, int):
            name = node_name(name)
        kind, _, n = name.rpartition("-")
        ip = controller_ip(int(n)) if kind == "controller" else node_ip(int(n))
        st, _ = ns_http(self.ns_of(name), ip, 20264, "GET", "/readyz", timeout=1)
        return st == 200

    # ---- nodes -------------------------------------------------------------------
    def node_object(self, i):
        cidr = f"10.244.{i}.0/24"
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node_name(i),
                             "labels": {"kubernetes.io/hostname": node_name(i)},
                             "annotations": {"devcluster/created-at": repr(time.time())}},
                "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
                "status": {"addresses": [{"type": "InternalIP", "address": node_ip(i)},
                                         {"type": "Hostname", "address": node_name(i)}],
                           "conditions": [{"type": "Ready", "status": "True"}]}}

    def next_index(self):
        return max(self.nodes, default=0) + 1

    def add_node(self, i=None, create_object=True):
        """Host + instance of node i (default: the next free index), then its
        Node object; -> (i, monotonic time the Node was created)."""
        i = i or self.next_index()
        self.add_host(i)
        self.start_instance(node_name(i))
        self.nodes.append(i)
        t0 = None
        if create_object:
            t0 = self.create_node_object(i)
        self._save_state()
        return i, t0

    def create_node_object(self, i):
        obj = self.node_object(i)
        t0 = time.monotonic()
        self.apiserver.create_node(obj)
        return t0

    def delete_node(self, i, remove_host=True):
        """Deletes the Node object (-> its monotonic time), then the host."""
        t0 = time.monotonic()
        self.apiserver.delete_node(node_name(i))
        if remove_host:
            self.remove_host(i)
        return t0

    def remove_host(self, i):
        if netns.exists(self.node_ns(i)):
            self.stop_instance(i)
        self.procs.pop(f"pod-{i}", None)
        netns.delete_ns(self.pod_ns(i))
        netns.delete_ns(self.node_ns(i))
        if i in self.nodes:
            self.nodes.remove(i)
        self._save_state()

    # ---- the API objects ----------------------------------------------------------
    def node_list(self):
        """{name: Node} of every Node object."""
        return {n["metadata"]["name"]: n for n in self.apiserver.nodes()}

    def configmap(self):
        """The published ConfigMap, or None."""
        return self.apiserver.configmap()

    def cm_data(self):
        cm = self.configmap()
        return (cm or {}).get("data") or {}

    def overlay_ip(self, i, data=None):
        data = self.cm_data() if data is None else data
        return data.get(f"Interface-{node_ip(i)}")

    def published(self, i, data=None):
        """Node i's entry is complete in the ConfigMap (Node- is written last)."""
        data = self.cm_data() if data is None else data
        return bool(data.get(f"Node-{node_ip(i)}")) and bool(self.overlay_ip(i, data))

    def lease(self):
        return self.apiserver.lease()

    def leader(self):
        """(instance name, holder identity) of the Lease holder, or (None, None);
        the identity is <--hostname-override>_<random>."""
        lease = self.lease() or {}
        holder = (lease.get("spec") or {}).get("holderIdentity") or ""
        name = holder.split("_")[0]
        return (name if name in self.instances() else None), holder or None

    # ---- the device ----------------------------------------------------------------
    def device_applied(self):
        """{resourceVersion, data, applied_at} of what the device applied, or None."""
        try:
            with open(self.path("device", "applied.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def device_in_sync(self):
        cm, st = self.configmap(), self.device_applied()
        return bool(cm and st and (cm.get("data") or {}) == st["data"])

    def configure_device(self, timeout=10):
        """Waits until the device runs the current ConfigMap (device_sync.py
        applies `render` output); -> seconds waited."""
        return wait_for(self.device_in_sync, timeout, "the device to apply the ConfigMap")[1]

    def device_routes(self):
        return netns.ip(self.dev, "route", "show", "dev", "kcrdev0", check=False).stdout

    # ---- reachability --------------------------------------------------------------
    def tcp_ok(self, i, timeout=1.0):
        return netns.tcp_echo(self.dev, pod_ip(i), POD_PORT, timeout)

    def ping_ok(self, i, count=1, wait=1.0):
        return netns.ping(self.dev, pod_ip(i), count=count, wait=wait)

    def reachable(self, i, timeout=0.3):
        return self.tcp_ok(i, timeout) and self.ping_ok(i, wait=timeout + 0.2)

    def wait_reachable(self, i, timeout):
        return wait_for(lambda: self.tcp_ok(i, 0.2) and self.ping_ok(i, wait=0.5), timeout,
                        f"pod-{i} ({pod_ip(i)}) to answer ping and TCP from the device")[1]

    def wait_converged(self, timeout=30, reachable=True):
        """Every node published, the device in sync and every pod reachable."""
        wait_for(lambda: all(self.published(i) for i in self.nodes), timeout,
                 "every node in the ConfigMap")
        self.configure_device(timeout)
        for i in self.nodes if reachable else []:
            self.wait_reachable(i, timeout)

    def reachability(self):
        """Rows (pod, node, overlay IP, ping ok, tcp ok) for every node."""
        data = self.cm_data()
        return [(f"pod-{i} {pod_ip(i)}", node_name(i), self.overlay_ip(i, data) or "-",
                 self.ping_ok(i), self.tcp_ok(i)) for i in sorted(self.nodes)]


def format_table(rows):
    head = ("pod", "node", "overlay IP", "ping", "tcp")
    cells = [head] + [(a, b, c, "ok" if d else "FAIL", "ok" if e else "FAIL")
                      for a, b, c, d, e in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(5)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def hold_signals_as_interrupt():
    """SIGTERM and SIGHUP raise KeyboardInterrupt like Ctrl-C, so every
    try/finally (and Cluster.__exit__) tears the cluster down."""
    def handler(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)
