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

Cluster is assembled from one module per part: cluster_topology.py (names,
addresses, wait_for), cluster_hosts.py (namespaces, links, pods, Node
objects), cluster_instances.py (the binary's processes) and cluster_status.py
(the API objects, the device, reachability); this module holds the lifecycle
and re-exports what the CLI and the tests use (`import cluster as cl`).
"""

import json
import os
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import apihost  # noqa: E402
import netns  # noqa: E402
import shape as shapes  # noqa: E402
from apihost import API_IP, ROOT  # noqa: E402
from cluster_hosts import HostsMixin  # noqa: E402
from cluster_instances import LEASE_ARGS, LEASE_SECONDS, RETRY_SECONDS, InstancesMixin  # noqa: E402
from cluster_status import StatusMixin, format_table  # noqa: E402
from cluster_topology import (DEVICE_IP, ECHO, MAX_CONTROLLERS, OVERLAY, POD_PORT,  # noqa: E402
                              UNDERLAY, controller_ip, controller_name, node_ip, node_name,
                              ns_http, pod_ip, wait_for)

# What `import cluster as cl` offers the CLI and the tests (deploy/devcluster,
# test/e2e, test/fault, test/bench), wherever it is defined.
__all__ = [
    "API_IP", "DEVICE_IP", "ECHO", "LEASE_ARGS", "LEASE_SECONDS", "MAX_CONTROLLERS", "OVERLAY",
    "POD_PORT", "RETRY_SECONDS", "ROOT", "UNDERLAY", "Cluster", "apihost", "controller_ip",
    "controller_name", "format_table", "hold_signals_as_interrupt", "netns", "node_ip",
    "node_name", "ns_http", "pod_ip", "shapes", "wait_for",
]


class Cluster(HostsMixin, InstancesMixin, StatusMixin):
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


def hold_signals_as_interrupt():
    """SIGTERM and SIGHUP raise KeyboardInterrupt like Ctrl-C, so every
    try/finally (and Cluster.__exit__) tears the cluster down."""
    def handler(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)
