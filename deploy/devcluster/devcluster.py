#!/usr/bin/env python3
"""The local dev cluster's command line (used by `make run`; needs root).

    devcluster.py run  --binary B [--nodes 3] [--tag run] [--api real|fake]
                       [--shape auto|split|combined] [--controllers 1]
                                    up, show, follow live, Ctrl-C cleans up
    devcluster.py up   (the same options)   up and leave it running
    devcluster.py add-node    [--tag run]                   one more node host + Node object
    devcluster.py delete-node I [--tag run]                 delete node-I (object and host)
    devcluster.py down [--tag run]                          remove every kcr-<tag>-* namespace

--api real (default): etcd + kube-apiserver (test/controlplane, built by
`make controlplane`), the shipped ServiceAccounts and RBAC, one token per
instance; --api fake: the fake API server (test/fakeapi), up in a second.

--shape split: the controller (--run-tunnel=false; --controllers of them, in
hosts of their own) and an agent per node (--run-publisher=false), as
deploy/kubernetes installs them; combined: every node instance runs both
roles; auto (default): split when the binary has the annotation-based agent.

`run` prints (real API) the admin KUBECONFIG and how to use it, the published ConfigMap (as `kubectl get cm -o json` would), a
reachability table (device -> every pod: ping and TCP), then one line per node
change until Ctrl-C. While it runs, type `a` + Enter to add a node, `d I` to
delete node-I, `t` for the table again (or use add-node / delete-node from
another terminal). See deploy/devcluster/README.md.
"""

import argparse
import json
import os
import select
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as cl  # noqa: E402


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


def show_access(c):
    """How to reach the real API server from another terminal (it listens on
    198.51.100.2, which exists only inside the cluster's namespaces)."""
    a = c.apiserver
    if a.kind != "real":
        return
    print(f"control plane: etcd + kube-apiserver at {a.server} in namespace {c.api}")
    print(f"KUBECONFIG={a.kubeconfig}")
    print(f"kubectl: {a.kubectl}")
    print(f"  e.g. sudo {a.kubectl_command()} get nodes,cm,leases -A")
    print(flush=True)


def show(c):
    cm = c.configmap()
    if cm:  # as kubectl prints it (it hides managedFields by default)
        cm.get("metadata", {}).pop("managedFields", None)
    print("$ kubectl get cm -n kube-system kube-chorus-router -o json")
    print(json.dumps(cm, indent=2))
    print()
    print(cl.format_table(c.reachability()))
    print(flush=True)


class Follower:
    """Prints one line per node change, with the publication and
    reachability latencies measured from the Node's creation."""

    def __init__(self, c):
        self.c = c
        self.nodes = c.node_list()
        self.leader = c.leader()[1]

    def added(self, name, node):
        created = float(node["metadata"].get("annotations", {}).get("devcluster/created-at",
                                                                    time.time()))
        ip = next((a["address"] for a in node["status"]["addresses"]
                   if a["type"] == "InternalIP"), None)
        try:
            data, _ = cl.wait_for(lambda: (lambda d: d if d.get(f"Node-{ip}") else None)(
                self.c.cm_data()), 10, f"{name} in the ConfigMap")
        except TimeoutError as e:
            print(f"{name} added: NOT published ({e})", flush=True)
            return
        published = time.time() - created
        line = f"{name} added: published {data.get(f'Interface-{ip}')} in {ms(published)}"
        i = int(name.split("-")[1]) if name.split("-")[-1].isdigit() else None
        if i is not None and cl.netns.exists(self.c.pod_ns(i)):
            try:
                cl.wait_for(lambda: self.c.tcp_ok(i, 0.2), 10, f"pod-{i}")
                line += f", reachable in {ms(time.time() - created)}"
            except TimeoutError:
                line += ", NOT reachable within 10 s"
        print(line, flush=True)

    def deleted(self, name, node, t0):
        ip = next((a["address"] for a in node["status"]["addresses"]
                   if a["type"] == "InternalIP"), None)
        try:
            cl.wait_for(lambda: f"Node-{ip}" not in self.c.cm_data(), 10, "removal")
            print(f"{name} deleted: entries gone from the ConfigMap in {ms(time.time() - t0)}",
                  flush=True)
        except TimeoutError:
            print(f"{name} deleted: entries STILL in the ConfigMap after 10 s", flush=True)

    def poll(self):
        now = self.c.node_list()
        t0 = time.time()
        for name in now.keys() - self.nodes.keys():
            threading.Thread(target=self.added, args=(name, now[name]), daemon=True).start()
        for name in self.nodes.keys() - now.keys():
            threading.Thread(target=self.deleted, args=(name, self.nodes[name], t0),
                             daemon=True).start()
        self.nodes = now
        leader = self.c.leader()[1]
        if leader != self.leader:
            print(f"leader: {self.leader or '-'} -> {leader or '-'}", flush=True)
            self.leader = leader


def command(c, line):
    parts = line.split()
    if not parts:
        return
    if parts[0] == "a":
        i, _ = c.add_node()
        print(f"(adding node-{i})", flush=True)
    elif parts[0] == "d" and len(parts) == 2 and parts[1].isdigit():
        c.delete_node(int(parts[1]))
    elif parts[0] == "t":
        print(cl.format_table(c.reachability()), flush=True)
    else:
        print("commands: a (add a node), d I (delete node-I), t (table)", flush=True)


def run(a):
    cl.hold_signals_as_interrupt()
    c = cl.Cluster(a.binary, tag=a.tag, nodes=a.nodes, api=a.api, shape=a.shape,
                   controllers=a.controllers)
    status = 0
    try:
        print(f"starting the dev cluster '{a.tag}' ({a.nodes} nodes, shape {c.shape}, "
              f"{a.api} API server"
              f"{': etcd + kube-apiserver take ~10 s' if a.api == 'real' else ''}) ...",
              flush=True)
        c.up(wait_reachable=False)
        show_access(c)
        try:
            cl.wait_for(lambda: all(c.tcp_ok(i, 0.2) for i in c.nodes), 10, "every pod")
        except TimeoutError as e:
            print(f"WARNING: {e}", flush=True)
        show(c)
        print(f"logs: {c.path('logs')}; following node changes (Ctrl-C to stop and clean up; "
              f"type a / d I / t + Enter)", flush=True)
        f = Follower(c)
        interactive = sys.stdin.isatty()
        while True:
            f.poll()
            if interactive:
                r, _, _ = select.select([sys.stdin], [], [], 0.1)
                if r:
                    command(c, sys.stdin.readline())
            else:
                time.sleep(0.1)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    except (RuntimeError, TimeoutError, OSError) as e:
        print(f"devcluster: error: {e}", flush=True)
        status = 1
    finally:
        c.down()
        print(f"dev cluster '{a.tag}' removed (logs kept in {c.path('logs')})", flush=True)
    return status


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cmd", choices=["run", "up", "down", "add-node", "delete-node"])
    p.add_argument("index", nargs="?", type=int)
    p.add_argument("--binary", default=os.path.join(cl.ROOT, "build", "kube-chorus-router"))
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--tag", default="run")
    p.add_argument("--api", choices=["real", "fake"], default="real",
                   help="the API server: etcd + kube-apiserver (default) or the fake")
    p.add_argument("--shape", choices=cl.shapes.SHAPES, default="auto",
                   help="split: controller + an agent per node; combined: every node "
                   "instance both roles; auto (default): split if the binary has the agent")
    p.add_argument("--controllers", type=int, default=1,
                   help="controller instances of the split shape (default 1)")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("devcluster: needs root (network namespaces); try sudo")
    if a.cmd == "run":
        sys.exit(run(a))
    elif a.cmd == "up":
        c = cl.Cluster(a.binary, tag=a.tag, nodes=a.nodes, api=a.api, detach=True,
                       shape=a.shape, controllers=a.controllers)
        c.up(wait_reachable=False)
        show_access(c)
        show(c)
    elif a.cmd == "down":
        cl.Cluster(a.binary, tag=a.tag, nodes=0, shape="combined").cleanup_leftovers()
    elif a.cmd == "add-node":
        c = cl.Cluster.attach(a.tag)
        i, _ = c.add_node()
        print(f"node-{i} added ({cl.node_ip(i)}, pod {cl.pod_ip(i)})")
    elif a.cmd == "delete-node":
        if a.index is None:
            sys.exit("delete-node needs the node index, e.g. delete-node 2")
        cl.Cluster.attach(a.tag).delete_node(a.index)
        print(f"node-{a.index} deleted")


if __name__ == "__main__":
    main()
