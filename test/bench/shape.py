"""Issue 12's shape in `make bench` (driven by test/bench/bench.py), on the
real kube-apiserver + etcd:
  - the agent (`--run-publisher=false`, `--run-tunnel=true`: it converges a
    real routervxlan0, so it runs as root in a network namespace of its
    own, reaching the API server on loopback through a relay): its bytes
    received from the API server while other Nodes come and go, its RSS;
  - the old shape for comparison: a standby controller (both publisher
    watches, not leading) receives the same changes;
  - the controller's Node annotations: time to annotate all Nodes after a
    cold start at the default --annotation-qps, values checked against the
    ConfigMap;
  - failover: two controllers with leader election, the leader killed -9,
    a Node added right after -> the new leader's first write with it;
    every earlier allocation unchanged.

Python 3 standard library only."""

import json
import os
import time

from benchlib import Product, bench_node, netns, node_ip, wait_until
from cluster import ConfigMapWatch
from scenarios import check_final_state, churn_ops, send_on_schedule, wait_quiet

ANNOTATION = "kube-chorus-router.io/overlay-ip"
AGENT_NODE = 0  # bench-0: there at every size
RECEIVED = "kube_chorus_router_api_received_bytes_total"
LEADER = "kube_chorus_router_leader"


# --- the agent ---------------------------------------------------------------------------
class Agent:
    """The agent of Node bench-<AGENT_NODE> as the DaemonSet runs it
    (`--run-publisher=false`, tunnel on), in namespace kcr-agent-<pid> with
    the Node's InternalIP on an interface there (the tunnel's underlay)."""

    def __init__(self, cluster, binary, logdir):
        nd = bench_node(AGENT_NODE)
        self.name, self.ns = nd["metadata"]["name"], f"kcr-agent-{os.getpid()}"
        self.relay = self.prod = None
        try:
            netns.add_ns(self.ns)
            # A veth pair with both ends inside (no dummy module here).
            netns.ip_batch(self.ns, ["link add kcrul0 type veth peer name kcrul1",
                                     f"addr add {node_ip(nd)}/24 dev kcrul0",
                                     "link set kcrul0 up", "link set kcrul1 up"])
            self.relay = netns.LoopbackRelay(self.ns, (cluster.host, cluster.port))
            self.prod = Product(binary, api=[*cluster.product_args(), "--master",
                                             f"https://127.0.0.1:{self.relay.port}"],
                                netns=self.ns, logdir=logdir, node=self.name,
                                extra=["--run-publisher=false", "--run-tunnel=true"])
        except Exception:
            self.stop()
            raise

    def wait_ready(self, timeout=60):
        """Until /readyz passes: the tunnel converged from the annotation."""
        def ok():
            if not self.prod.alive():
                raise RuntimeError(f"the agent exited (log {self.prod.log.name})")
            return self.prod.ready()
        wait_until(ok, timeout, "the agent's tunnel converged", 0.1)

    def received(self):
        return self.prod.metric(RECEIVED)

    def stop(self):
        if self.prod:
            self.prod.stop()
        if self.relay:
            self.relay.close()
        netns.delete_ns(self.ns)


# --- annotations ---------------------------------------------------------------------------
def annotations(cluster):
    """{Node name: its overlay-ip annotation or None}."""
    return {nd["metadata"]["name"]: (nd["metadata"].get("annotations") or {}).get(ANNOTATION)
            for nd in cluster.nodes()}


def strip_annotations(cluster):
    """Removes the annotation from every Node that has it (left by earlier
    runs), so the next cold start annotates all of them -> how many."""
    have = [n for n, v in annotations(cluster).items() if v is not None]
    for n in have:
        cluster.call("PATCH", f"/api/v1/nodes/{n}",
                     {"metadata": {"annotations": {ANNOTATION: None}}},
                     ctype="application/merge-patch+json")
    return len(have)


def settle_annotations(prod, timeout, quiet=2.0):
    """Waits until the product's Node patches stop for `quiet` s (after a
    cold start it annotates at --annotation-qps): idle must start idle."""
    name = "kube_chorus_router_node_annotation_patches_total"
    last, since = prod.metric(name), time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = prod.metric(name)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise RuntimeError("Node annotation patches did not settle")


def annotation_mismatches(cluster):
    """Nodes whose annotation is not their ConfigMap Interface- value."""
    data = json.loads(cluster.configmap_raw()).get("data") or {}
    want = {nd["metadata"]["name"]: data.get(f"Interface-{node_ip(nd)}")
            for nd in cluster.nodes()}
    have = annotations(cluster)
    return [n for n, v in want.items() if have.get(n) != v or v is None]


def annotated_times(node_watch):
    """{Node name: first time an event showed it with the annotation}."""
    needle = f'"{ANNOTATION}"'.encode()
    out = {}
    for t, line in list(node_watch.events):
        if needle in line:
            out.setdefault(json.loads(line)["object"]["metadata"]["name"], t)
    return out


def annotation_time(cluster, prod, node_watch, n, timeout):
    """After a cold start (no Node annotated before it): from the process
    start until the Node watch has shown every one of the n Nodes with its
    annotation; then the values against the ConfigMap."""
    def done():
        if not prod.alive():
            raise RuntimeError(f"kube-chorus-router exited (log {prod.log.name})")
        return len(annotated_times(node_watch)) >= n
    try:
        wait_until(done, timeout, f"all {n} Nodes annotated", 0.5)
    except RuntimeError as e:
        return {"error": str(e), "annotated": len(annotated_times(node_watch))}
    times = annotated_times(node_watch)
    return {"seconds": max(times.values()) - prod.started,
            "first": min(times.values()) - prod.started, "annotated": len(times),
            "patches": prod.metric("kube_chorus_router_node_annotation_patches_total"),
            "wrong": annotation_mismatches(cluster)}


# --- agent RSS on its own (small cluster) ----------------------------------------------------
def agent_rss(cluster, binary, logdir, settle=5.0):
    """A publisher (no leader election) and the agent of bench-0; the agent's
    RSS figures (benchlib.rss_mib) `settle` s after it converged."""
    pub = Product(binary, api=cluster.product_args(), logdir=logdir)
    agent = None
    try:
        wait_until(lambda: annotations_of(cluster, bench_node(AGENT_NODE)), 60,
                   "bench-0's annotation", 0.2)
        agent = Agent(cluster, binary, logdir)
        agent.wait_ready()
        time.sleep(settle)
        return {"rss": agent.prod.rss_mib(), "received": agent.received()}
    finally:
        if agent:
            agent.stop()
        pub.stop()


def annotations_of(cluster, nd):
    name = nd["metadata"]["name"]
    obj = cluster.api("GET", f"/api/v1/nodes/{name}")
    return (obj["metadata"].get("annotations") or {}).get(ANNOTATION)


# --- the split shape at full size ----------------------------------------------------------
def controller(cluster, binary, logdir, name):
    """A controller replica as the Deployment runs it: leader election on,
    no tunnel, the default lease (15 s), renew deadline and retry period."""
    return Product(binary, api=cluster.product_args(), logdir=logdir, node=name,
                   extra=["--leader-elect=true", "--run-tunnel=false"])


def metric_reaches(prod, name, value, timeout, what):
    """Polls prod's metric until >= value (its /metrics may not listen yet)."""
    def reached():
        if not prod.alive():
            raise RuntimeError(f"kube-chorus-router exited (log {prod.log.name})")
        try:
            return prod.metric(name) >= value
        except OSError:
            return False
    wait_until(reached, timeout, what, 0.2)


def split_shape(cluster, binary, logdir, changes, rate):
    """Controllers A (leads) and B (stands by), the agent; `changes` other
    Nodes added and deleted at `rate` ops/s; then A killed -9."""
    a = b = agent = None
    out = {"logs": []}
    try:
        a = controller(cluster, binary, logdir, "ctl-a")
        out["logs"].append(a.log.name)
        metric_reaches(a, LEADER, 1, 60, "A leading")
        b = controller(cluster, binary, logdir, "ctl-b")
        out["logs"].append(b.log.name)
        n = len(cluster.nodes())
        metric_reaches(b, "kube_chorus_router_nodes", n, 60, "B's Node list")
        agent = Agent(cluster, binary, logdir)
        out["logs"].append(agent.prod.log.name)
        agent.wait_ready()
        time.sleep(3)  # both settled: their start-up traffic is not counted
        out["agent_rss_before"] = agent.prod.rss_mib()
        out["traffic"] = traffic(cluster, agent, b, changes, rate)
        out["agent_rss_after"] = agent.prod.rss_mib()
        out["b_leader_before"] = b.metric(LEADER)
        out["failover"] = failover(cluster, a, b)
    finally:
        for p in (agent, a, b):
            if p:
                p.stop()
    return out


def traffic(cluster, agent, standby, changes, rate):
    """Bytes received by the agent and by the standby controller (by
    resource) while `changes` Nodes are added and deleted."""
    def standby_bytes():
        return {k: v for k, v in standby.metrics().get(RECEIVED, {}).items()}
    ops = churn_ops(changes, lag=20, first=30000)
    cm_w = ConfigMapWatch(cluster)
    try:
        a0, s0 = agent.received(), standby_bytes()
        sent, span = send_on_schedule(cluster, ops, rate, 4)
        wait_quiet(cm_w, 3.0)
        time.sleep(3)  # annotations of the last adds
        a1, s1 = agent.received(), standby_bytes()
        writes = len(cm_w.revisions())
    finally:
        cm_w.stop()
    by_res = {k: s1.get(k, 0) - s0.get(k, 0) for k in s1}
    return {"ops": len(ops), "span": span, "refused": [s[1] for s in sent if s[1] not in (200, 201)],
            "agent": a1 - a0, "standby": sum(by_res.values()), "standby_by": by_res,
            "writes": writes, "own_change": own_change_bytes(cluster, agent, a1)}


def own_change_bytes(cluster, agent, before):
    """The counter is live: one label patched on the agent's own Node must
    arrive on its watch -> the bytes that took."""
    cluster.call("PATCH", f"/api/v1/nodes/{agent.name}",
                 {"metadata": {"labels": {"kcr-bench/probe": str(int(time.time()))}}},
                 ctype="application/merge-patch+json")
    try:
        wait_until(lambda: agent.received() > before, 10, "the agent's own Node event", 0.1)
    except RuntimeError:
        return None
    time.sleep(0.5)
    return agent.received() - before


def failover(cluster, leader, standby):
    """Kill -9 the leader, add a Node right after: the first revision that
    carries it (and the first revision at all) after the kill; the
    Interface- values of every earlier node before and after."""
    before = json.loads(cluster.configmap_raw()).get("data") or {}
    nd = bench_node(39999)
    key = f'"Node-{node_ip(nd)}"'.encode()
    cm_w = ConfigMapWatch(cluster)
    try:
        t_kill = time.time()
        leader.kill()
        cluster.call("POST", "/api/v1/nodes", nd)
        t_added = time.time()
        try:
            seen = wait_until(lambda: next((t for t, ln in list(cm_w.events) if key in ln), None),
                              90, "the new leader's write", 0.02)
        except RuntimeError as e:
            return {"error": str(e), "writes": len(cm_w.events)}
        first = cm_w.events[0][0]
        wait_quiet(cm_w, 2.0)
    finally:
        cm_w.stop()
    after = json.loads(cluster.configmap_raw()).get("data") or {}
    changed = [k for k, v in before.items() if k.startswith("Interface-") and after.get(k) != v]
    out = {"seconds": seen - t_kill, "first_write": first - t_kill, "add_after": t_added - t_kill,
           "leader": standby.metric(LEADER), "changed": changed,
           "kept": sum(1 for k in before if k.startswith("Interface-")),
           "check": check_final_state(cluster)}
    cluster.call("DELETE", f"/api/v1/nodes/{nd['metadata']['name']}")
    return out
