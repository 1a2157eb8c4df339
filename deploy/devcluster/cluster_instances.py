"""The product processes of the dev cluster (a mixin of cluster.Cluster): the
binary's instances (controllers, agents or combined node instances), their
command lines, start, stop, readiness, and the processes' teardown."""

import os
import signal
import subprocess
import time

import netns
from cluster_topology import OVERLAY, controller_ip, node_ip, node_name, ns_http, wait_for

# Short Lease timings so that leader changes are quick in tests and demos.
LEASE_ARGS = ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s",
              "--leader-elect-retry-period", "500ms"]
LEASE_SECONDS, RETRY_SECONDS = 3.0, 0.5


class InstancesMixin:
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

