"""The faults of the campaign. Each kind is a function fault(ctx, rng) that
injects the fault, holds it, heals it (or, for what the product itself must
repair, waits for the repair) and returns a dict:

  target     what was hit (an instance, a node, a key, a path)
  t_start    wall time the fault began
  t_end      wall time it ended (healed / the killed process back / repaired)
  lossy      the stable nodes whose pods may lose pings until the state is exact
             again (the data plane itself was cut: an underlay partition, the
             tunnel deleted or changed; or the device's input: their ConfigMap
             keys edited by hand), else None: no ping may be lost at all
  note       a short detail (hold time, repair time)

ctx (campaign.Ctx) gives the cluster, the admin Api, the seeded rng, the
stable nodes and the instances the campaign stopped on purpose.
"""

import json
import os
import signal
import time
from datetime import datetime

import netns
from observe import CM_PATH, OWN_PREFIXES, ApiDown

API_IP = "198.51.100.2"
TUNNEL = "routervxlan0"
CONTROL_PLANE = {"kill-controller", "stop-controller", "kill-agent", "stop-agent",
                 "apiserver-restart", "etcd-restart", "partition-controller",
                 "partition-agent", "cm-garbage", "cm-delete-own-key", "cm-foreign-keys",
                 "watch-drop", "http-500", "http-429", "slow-api", "watch-expire"}


def hold(rng, lo=0.2, hi=2.0):
    s = rng.uniform(lo, hi)
    time.sleep(s)
    return s


def result(target, t0, lossy=None, note=""):
    return {"target": target, "t_start": t0, "t_end": time.time(), "lossy": lossy,
            "note": note}


# ---- processes of the product ------------------------------------------------------------
def pick_controller(ctx, rng, leader_bias=0.7):
    leader, _ = ctx.cluster.leader()
    names = [f"controller-{k}" for k in ctx.cluster.controllers]
    if leader in names and rng.random() < leader_bias:
        return leader, True
    name = rng.choice(names)
    return name, name == leader


def kill_instance(ctx, name, rng):
    t0 = time.time()
    ctx.expect_exit(name)
    rc = ctx.cluster.kill_instance(name)
    s = hold(rng, 0.0, 1.5)  # a kubelet restarts it after a while
    ctx.cluster.start_instance(name)
    ctx.expect_exit(name, False)
    return t0, f"exit {rc}, restarted after {s:.2f} s"


def renewed_after(lease, since):
    """The Lease was renewed after `since` (wall time). renewTime is the
    holder's own clock at the renewal (the same host here), so a renewal sent
    before a kill or a SIGSTOP never counts."""
    t = ((lease or {}).get("spec") or {}).get("renewTime")
    return bool(t) and datetime.fromisoformat(t).timestamp() > since


def leader_again(ctx, since, timeout=30):
    """Waits until a replica leads again after a fault that hit the leader at
    `since`; -> a note. A killed or long-paused leader keeps the Lease until it
    expires (3 s here): that is the failover time by design, so such a fault ends
    when a leader renews, and its exact time measures the repair after that."""
    def leads():
        name, _ = ctx.cluster.leader()
        p = ctx.cluster.procs.get(name) if name else None
        return p is not None and p.poll() is None and renewed_after(ctx.cluster.lease(), since)
    ctx.wait(leads, timeout, "a leader renewing the Lease")
    return f", {ctx.cluster.leader()[0]} leads {time.time() - since:.2f} s after"


def kill_controller(ctx, rng):
    name, is_leader = pick_controller(ctx, rng)
    t0, note = kill_instance(ctx, name, rng)
    if is_leader:
        note += leader_again(ctx, t0)
    return result(name, t0, note=("leader " if is_leader else "") + note)


def kill_agent(ctx, rng):
    name = f"node-{rng.choice(ctx.stable)}"
    t0, note = kill_instance(ctx, name, rng)
    return result(name, t0, note=note)


def stop_instance(ctx, name, lo, hi, rng):
    p = ctx.cluster.procs[name]
    t0 = time.time()
    os.kill(p.pid, signal.SIGSTOP)
    s = hold(rng, lo, hi)
    os.kill(p.pid, signal.SIGCONT)
    return t0, s


def stop_controller(ctx, rng):
    """SIGSTOP, then SIGCONT: half of the pauses of the leader outlast its
    Lease (3 s), so it wakes up after another replica took over."""
    name, is_leader = pick_controller(ctx, rng)
    long = is_leader and rng.random() < 0.5
    t0, s = stop_instance(ctx, name, 3.5, 6.0, rng) if long else \
        stop_instance(ctx, name, 0.2, 2.0, rng)
    again = leader_again(ctx, t0 + s) if is_leader else ""
    return result(name, t0, note=f"{'leader ' if is_leader else ''}paused {s:.2f} s{again}")


def stop_agent(ctx, rng):
    name = f"node-{rng.choice(ctx.stable)}"
    t0, s = stop_instance(ctx, name, 0.2, 3.0, rng)
    return result(name, t0, note=f"paused {s:.2f} s")


# ---- the control plane -------------------------------------------------------------------
def cp_pid(ctx, binary):
    for pid in netns.pids(ctx.cluster.api):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if os.path.basename(f.read().split(b"\0")[0].decode()) == binary:
                    return pid
        except OSError:
            pass
    return None


def restart_cp(ctx, binary, rng):
    """kill -9 of etcd or kube-apiserver; the supervisor (supervisor.py) starts
    it again; the fault ends when kube-apiserver is ready again."""
    old = cp_pid(ctx, binary)
    t0 = time.time()
    os.kill(old, signal.SIGKILL)
    ctx.wait(lambda: (p := cp_pid(ctx, binary)) and p != old, 20, f"{binary} restarted")
    ctx.wait(ctx.api.ready, 120, "kube-apiserver ready again")
    return result(binary, t0, note=f"ready after {time.time() - t0:.1f} s")


def apiserver_restart(ctx, rng):
    if ctx.cluster.apiserver.kind == "fake":  # closes listener and connections, reopens
        t0 = time.time()
        s = rng.uniform(0.5, 3.0)
        ctx.fake_fault({"refuse_seconds": s})
        time.sleep(s)
        ctx.wait(ctx.api.ready, 30, "the fake API server back")
        return result("fake-apiserver", t0, note=f"refused {s:.1f} s")
    return restart_cp(ctx, "kube-apiserver", rng)


def etcd_restart(ctx, rng):
    return restart_cp(ctx, "etcd", rng)


def blackhole(ns, on):
    netns.ip(ns, "route", "add" if on else "del", "blackhole", f"{API_IP}/32")


def partition(ctx, name, ns, rng, lo=0.3, hi=4.0):
    t0 = time.time()
    blackhole(ns, True)
    try:
        s = hold(rng, lo, hi)
    finally:
        blackhole(ns, False)
    return t0, s


def partition_controller(ctx, rng):
    name, is_leader = pick_controller(ctx, rng)
    t0, s = partition(ctx, name, ctx.cluster.ns_of(name), rng)
    again = leader_again(ctx, t0 + s) if is_leader else ""
    return result(name, t0, note=f"{'leader ' if is_leader else ''}cut {s:.2f} s{again}")


def partition_agent(ctx, rng):
    i = rng.choice(ctx.stable)
    t0, s = partition(ctx, f"node-{i}", ctx.cluster.node_ns(i), rng)
    return result(f"node-{i}", t0, note=f"cut {s:.2f} s")


def partition_underlay(ctx, rng):
    """The node's underlay link down: the data plane to it is cut too."""
    i = rng.choice(ctx.stable)
    t0 = time.time()
    netns.ip(ctx.cluster.ul, "link", "set", f"v-n{i}", "down")
    try:
        s = hold(rng, 0.3, 3.0)
    finally:
        netns.ip(ctx.cluster.ul, "link", "set", f"v-n{i}", "up")
    return result(f"node-{i}", t0, lossy=[i], note=f"cut {s:.2f} s")


# ---- the tunnel on a node (the product repairs it) -----------------------------------------
def tunnel_state(ns):
    link = netns.ip(ns, "-j", "addr", "show", "dev", TUNNEL, check=False)
    if link.returncode != 0:
        return None
    d = json.loads(link.stdout)[0]
    return d.get("mtu"), sorted(f"{a['local']}/{a['prefixlen']}" for a in d.get("addr_info", [])
                                if a.get("family") == "inet"), d.get("operstate")


def tunnel_fault(ctx, rng, how):
    i = rng.choice(ctx.stable)
    ns = ctx.cluster.node_ns(i)
    good = tunnel_state(ns)
    t0 = time.time()
    if how == "del":
        netns.ip(ns, "link", "del", TUNNEL)
    elif how == "mtu":
        netns.ip(ns, "link", "set", TUNNEL, "mtu", str(rng.choice([1280, 1300, 1400, 9000])),
                 check=False)
    elif how == "addr":
        for a in good[1]:
            netns.ip(ns, "addr", "del", a, "dev", TUNNEL, check=False)
    else:  # down
        netns.ip(ns, "link", "set", TUNNEL, "down")
    secs = ctx.wait(lambda: tunnel_state(ns) == good, 10, f"node-{i}'s {TUNNEL} repaired")
    return result(f"node-{i}", t0, lossy=[i], note=f"{how}: repaired in {secs * 1000:.0f} ms")


def tunnel_del(ctx, rng):
    return tunnel_fault(ctx, rng, "del")


def tunnel_modify(ctx, rng):
    return tunnel_fault(ctx, rng, rng.choice(["mtu", "addr", "down"]))


# ---- the ConfigMap edited by hand ----------------------------------------------------------
GARBAGE = ["garbage", "", "999.1.1.1", "10.244.0.0/0", "0a:zz:00:00:00:00", "192.168.254.254",
           "x" * 300, "-1", "::/0"]


def edit_cm(ctx, change):
    """A user's edit (kubectl edit: PUT with the RV read); retried on 409."""
    for _ in range(20):
        cm = ctx.api.configmap()
        data = cm.setdefault("data", {})
        what = change(data)
        try:
            _, got = ctx.api.call("PUT", CM_PATH, cm)
        except ApiDown as e:
            if " 409 " in str(e):
                continue
            raise
        ctx.own_writes.add(got["metadata"]["resourceVersion"])
        return what
    raise ApiDown("hand edit: 20 conflicts in a row")


def cm_edit(ctx, rng, change):
    """The device follows the ConfigMap: the nodes whose keys were edited
    (every node when EndpointIP was) may lose pings until the repair."""
    t0 = time.time()
    what = edit_cm(ctx, change)
    keys = what.split(",")
    hit = [i for i in ctx.stable
           if "EndpointIP" in keys or any(k.endswith("-" + ctx.node_ip(i)) for k in keys)]
    return result(what, t0, lossy=hit or None)


def cm_garbage(ctx, rng):
    def change(data):
        own = sorted(k for k in data if k.startswith(OWN_PREFIXES + ("EndpointIP",)))
        keys = rng.sample(own, min(len(own), rng.randint(1, 3)))
        for k in keys:
            if k.startswith("Interface-") and rng.random() < 0.5:  # steal another's address
                others = [v for kk, v in data.items() if kk.startswith("Interface-")]
                data[k] = rng.choice(others)
            else:
                data[k] = rng.choice(GARBAGE)
        return ",".join(keys)
    return cm_edit(ctx, rng, change)


def cm_delete_own_key(ctx, rng):
    def change(data):
        own = sorted(k for k in data if k.startswith(OWN_PREFIXES))
        keys = rng.sample(own, min(len(own), rng.randint(1, 3)))
        for k in keys:
            del data[k]
        return ",".join(keys)
    return cm_edit(ctx, rng, change)


def cm_foreign_keys(ctx, rng):
    added = {}

    def change(data):  # called again after a 409: only the key of the PUT that worked counts
        added.clear()
        k = f"foreign-{rng.randrange(10 ** 6)}"
        data[k] = added[k] = rng.choice(["kept", "Interface-1.2.3.4", "192.168.254.1"])
        return k
    r = cm_edit(ctx, rng, change)
    ctx.foreign.update(added)
    return r


# ---- what only the fake API server can do --------------------------------------------------
def fake_held(ctx, rng, body, clear, note):
    t0 = time.time()
    ctx.fake_fault(body)
    s = hold(rng, 0.3, 2.5)
    if clear:
        ctx.fake_fault(clear)
    return result(note, t0, note=f"{body} for {s:.2f} s")


PREFIXES = ["/api", "/api/v1/nodes", "/api/v1/namespaces/kube-system/configmaps",
            "/apis/coordination.k8s.io"]


def watch_drop(ctx, rng):
    return fake_held(ctx, rng, rng.choice([{"drop_watches": True}, {"drop_mid_event": True}]),
                     None, "watches")


def watch_expire(ctx, rng):
    return fake_held(ctx, rng, {"expire": True}, None, "history")


def http_status(ctx, rng, status):
    prefix = rng.choice(PREFIXES)
    body = {"fail": {"status": status, "count": rng.randint(1, 20), "path_prefix": prefix}}
    return fake_held(ctx, rng, body, {"fail": None}, prefix)


def http_500(ctx, rng):
    return http_status(ctx, rng, rng.choice([500, 503, 504]))


def http_429(ctx, rng):
    return http_status(ctx, rng, 429)


def slow_api(ctx, rng):
    return fake_held(ctx, rng, {"delay_ms": rng.choice([100, 300, 800, 1500])},
                     {"delay_ms": 0}, "all requests")


# kind -> (function, weight). Restarts of the control plane take seconds each:
# weighted low so a long campaign spends its time on many faults.
REAL = {
    "kill-controller": (kill_controller, 10), "stop-controller": (stop_controller, 10),
    "kill-agent": (kill_agent, 10), "stop-agent": (stop_agent, 8),
    "apiserver-restart": (apiserver_restart, 3), "etcd-restart": (etcd_restart, 3),
    "partition-controller": (partition_controller, 8), "partition-agent": (partition_agent, 8),
    "partition-underlay": (partition_underlay, 4),
    "tunnel-del": (tunnel_del, 6), "tunnel-modify": (tunnel_modify, 6),
    "cm-garbage": (cm_garbage, 8), "cm-delete-own-key": (cm_delete_own_key, 8),
    "cm-foreign-keys": (cm_foreign_keys, 4),
}
FAKE = {k: v for k, v in REAL.items() if k != "etcd-restart"}
FAKE.update({"watch-drop": (watch_drop, 12), "http-500": (http_500, 10),
             "http-429": (http_429, 10), "slow-api": (slow_api, 8),
             "watch-expire": (watch_expire, 4)})


def kinds(api_kind):
    return REAL if api_kind == "real" else FAKE
