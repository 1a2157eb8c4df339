#!/usr/bin/env python3
"""The fault campaign (issue 15, item 1): randomized faults, one after the
other, with node churn in parallel, on the dev cluster of network namespaces
(deploy/devcluster: two controllers with leader election, --run-tunnel=false,
an agent per node, the device, a pod per node) and the real control plane
(etcd + kube-apiserver, restarted by test/fault/supervisor.py when killed),
or the fake API server (--api fake: the only place for watch drops, 500/429
and slow answers).

  campaign.py --binary B [--api real|fake] [--faults N] [--seed S] [--json OUT]

The seed is printed; the same seed gives the same sequence of fault kinds,
targets and hold times (what the machine does in between is not seeded).

Invariants (a violation fails the run, exit 1):
  duplicate      no two nodes share an overlay address in any revision the
                 product wrote (every revision is watched)
  stable-moved   no node that existed throughout changes or loses its address
  lost-ping      continuous pings from the device to the pod of every such node
                 lose nothing, except on the nodes a fault cut the data plane of
                 (or whose ConfigMap keys it edited), until the state is exact
  not-exact      the ConfigMap matches the Nodes exactly after each fault (the
                 time is measured: p50/p99/max) and <= 2 s after the last one
  crash          no process of the product exits unless the campaign killed it;
                 exit 0 on SIGTERM at the end
  foreign-lost   foreign keys added by hand are left alone
Output: a table and a JSON file.
"""

import argparse
import json
import os
import random
import signal
import statistics
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "devcluster"))
sys.path.insert(0, HERE)
import apihost  # noqa: E402
import cluster as cl  # noqa: E402
import faultkinds as fk  # noqa: E402
import observe as ob  # noqa: E402
from churn import Churn  # noqa: E402

EXACT_TIMEOUT = 60.0  # s: after a fault, the longest wait for the exact state
FINAL_DEADLINE = 2.0  # s: exact after the last fault (the issue)
PING_GRACE = 1.0  # s: a loss this long after a lossy fault's exact state still counts for it


class Ctx:
    def __init__(self, c, api, rng, stable):
        self.cluster, self.api, self.rng, self.stable = c, api, rng, stable
        self.own_writes, self.foreign, self.killed = set(), {}, set()
        self.lock = threading.Lock()  # held by churn operations and exact checks

    @staticmethod
    def node_ip(i):
        return cl.node_ip(i)

    def expect_exit(self, name, yes=True):
        (self.killed.add if yes else self.killed.discard)(name)

    def wait(self, pred, timeout, what):
        return cl.wait_for(pred, timeout, what, interval=0.02)[1]

    def fake_fault(self, body):
        self.cluster.apiserver.call("POST", "/faults", body)

    def exact(self):
        """[] when the ConfigMap matches the Nodes, else the differences."""
        with self.lock:
            try:
                nodes, cm = self.api.nodes(), self.api.configmap()
            except ob.ApiDown as e:
                return [str(e)]
        first = {cl.node_name(i) for i in self.stable}
        return ob.exact_problems(cm.get("data") or {}, nodes, first)


class Campaign:
    def __init__(self, ctx, faults, kinds):
        self.ctx, self.n, self.kinds = ctx, faults, kinds
        self.records, self.violations = [], []
        self.loads, self.stop = [], threading.Event()
        self.checked, self.prev = 0, None

    def violation(self, kind, detail, fault=None):
        v = {"invariant": kind, "detail": detail, "time": time.time(), "fault": fault}
        self.violations.append(v)
        print(f"VIOLATION {kind}: {detail}" + (f" (fault #{fault})" if fault is not None else ""),
              flush=True)

    # ---- background: crashes and load ------------------------------------------------
    def monitor(self):
        c = self.ctx.cluster
        while not self.stop.wait(0.2):
            self.loads.append(os.getloadavg()[0])
            for name in c.instances():
                p = c.procs.get(name)
                if p is None or name in self.ctx.killed or p.poll() is None:
                    continue
                self.violation("crash", f"{name} exited on its own with {p.returncode}: "
                               + cl_tail(c, name))
                c.procs.pop(name, None)
                c.start_instance(name)

    # ---- revisions -------------------------------------------------------------------
    def check_revisions(self, watch, older_than):
        stable_ips = {cl.node_ip(i): ov for i, ov in self.ctx.stable_overlay.items()}
        for t, rv, data in watch.take(older_than):
            self.checked += 1
            prev, self.prev = self.prev, data
            gone = [k for k in self.ctx.foreign if k in (prev or {}) and k not in data]
            if gone:  # who removed a foreign key: the product (a violation) or a hand edit
                self.violation("foreign-lost", f"revision {rv} "
                               f"({'a hand edit' if rv in self.ctx.own_writes else 'the product'}) "
                               f"removed {gone}")
            if rv in self.ctx.own_writes:
                continue  # a hand edit of the campaign: judged by what the product does next
            dups = ob.duplicates(data)
            old = ob.duplicates(prev or {})
            for ov, keys in dups.items():
                if set(keys) - set(old.get(ov, [])):
                    self.violation("duplicate", f"revision {rv}: {ov} held by {keys}")
            for ip, ov in stable_ips.items():
                was = (prev or {}).get(f"Interface-{ip}")
                now = data.get(f"Interface-{ip}")
                # Dropped or changed a right address, or wrote a wrong one (not one a hand
                # edit left behind: that is judged by the time to the exact state).
                if (was == ov and now != ov) or (now not in (None, ov) and now != was):
                    self.violation("stable-moved", f"revision {rv}: Interface-{ip} "
                                   f"{was!r} -> {now!r} (the address is {ov})")

    # ---- one fault -------------------------------------------------------------------
    def one(self, k, watch):
        ctx = self.ctx
        names = sorted(self.kinds)
        kind = ctx.rng.choices(names, weights=[self.kinds[n][1] for n in names])[0]
        rec = {"n": k, "kind": kind, "t_start": time.time()}
        try:
            rec.update(self.kinds[kind][0](ctx, ctx.rng))
        except Exception as e:  # noqa: BLE001 - a fault that could not be healed
            rec.update({"t_end": time.time(),
                        "lossy": None, "target": "?", "error": f"{type(e).__name__}: {e}"})
            self.violation("fault-not-healed", f"{kind}: {e}", k)
        slow = []  # what still differed 2 s after the fault: the reason of a slow repair

        def exact():
            got = ctx.exact()
            if got and not slow and time.time() - rec["t_end"] > FINAL_DEADLINE:
                slow.append(got[:4])
            return not got
        try:
            secs = ctx.wait(exact, EXACT_TIMEOUT, "exact")
        except TimeoutError:
            secs = None
            self.violation("not-exact", f"after {kind}: not exact within {EXACT_TIMEOUT:.0f} s: "
                           f"{ctx.exact()[:5]}", k)
        rec["exact_s"] = None if secs is None else round(time.time() - rec["t_end"], 3)
        rec["t_exact"] = time.time()
        if slow:
            rec["slow"] = slow[0]
        self.records.append(rec)
        self.check_revisions(watch, time.time() - 1.0)
        print(f"#{k:4d} {kind:20s} {rec.get('target', '?')!s:16.16s} exact after "
              f"{rec['exact_s'] if secs is not None else 'TIMEOUT'} s  {rec.get('note', '')}"
              + (f"\n       still different {FINAL_DEADLINE} s after: {slow[0]}" if slow else ""),
              flush=True)
        time.sleep(ctx.rng.uniform(0.0, 0.3))

    # ---- pings -----------------------------------------------------------------------
    def judge_pings(self, pingers):
        """Lost echoes per node: those inside a fault that cut that node's data
        plane count for that fault's kind; the others are violations, one per
        node and fault (or per node outside every fault) with their number."""
        out = {}
        for i, pg in pingers.items():
            sent, lost = pg.result()
            row = out[cl.node_name(i)] = {"sent": sent, "lost": len(lost), "by_kind": {},
                                          "unexplained": 0}
            bad = {}
            for t in lost:
                f = self.fault_at(t, i)
                if f and f.get("lossy") and i in f["lossy"]:
                    row["by_kind"][f["kind"]] = row["by_kind"].get(f["kind"], 0) + 1
                    continue
                row["unexplained"] += 1
                bad.setdefault(f["n"] if f else None, []).append(t)
            for n, ts in bad.items():
                what = (f"during {self.records[n]['kind']} on {self.records[n]['target']}"
                        if n is not None else "outside every fault")
                self.violation("lost-ping", f"{len(ts)} echoes to {cl.node_name(i)} lost "
                               f"{what} (first at {ts[0]:.2f})", n)
        return out

    def fault_at(self, t, i):
        """The fault whose window (start .. exact state + grace) holds t; one
        that may cut node i's data plane first."""
        hits = [r for r in self.records
                if r["t_start"] - 0.3 <= t <= r.get("t_exact", r["t_end"]) + PING_GRACE]
        hits.sort(key=lambda r: not (r.get("lossy") and i in r["lossy"]))
        return hits[0] if hits else None


def cl_tail(c, name, n=8):
    try:
        with open(c.path("logs", f"{name}.log"), errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return str(e)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] if xs else None


def summary(camp, pings, final_s, churn, watch, seed, args, elapsed):
    by_kind = {}
    for r in camp.records:
        k = by_kind.setdefault(r["kind"], {"faults": 0, "exact_s": []})
        k["faults"] += 1
        if r.get("exact_s") is not None:
            k["exact_s"].append(r["exact_s"])
    viol = {}
    for v in camp.violations:
        viol[v["invariant"]] = viol.get(v["invariant"], 0) + 1
    lost_kind = {}
    for row in pings.values():
        for k, n in row["by_kind"].items():
            lost_kind[k] = lost_kind.get(k, 0) + n
    all_exact = [r["exact_s"] for r in camp.records if r.get("exact_s") is not None]
    return {
        "seed": seed, "api": args.api, "faults": len(camp.records), "seconds": round(elapsed),
        "kinds": {k: {"faults": v["faults"], "violations": sum(
                      1 for x in camp.violations if x["fault"] is not None
                      and camp.records[x["fault"]]["kind"] == k),
                      "exact_p50": pct(v["exact_s"], 50), "exact_p99": pct(v["exact_s"], 99),
                      "exact_max": max(v["exact_s"], default=None),
                      "lost_pings": lost_kind.get(k, 0)} for k, v in sorted(by_kind.items())},
        "exact_s": {"p50": pct(all_exact, 50), "p99": pct(all_exact, 99),
                    "max": max(all_exact, default=None), "final": final_s},
        "violations": viol, "violation_list": camp.violations[:200],
        "pings": pings, "revisions_checked": camp.checked, "watch_gaps": watch.gaps,
        "churn": {"ops": churn.counts, "failed": churn.failed},
        "load": {"cpus": os.cpu_count(), "mean": round(statistics.mean(camp.loads), 2)
                 if camp.loads else None, "max": max(camp.loads, default=None)},
        "records": camp.records,
    }


def print_table(s):
    print(f"\nfault campaign: seed {s['seed']}, {s['faults']} faults on the {s['api']} API in "
          f"{s['seconds']} s; {s['revisions_checked']} ConfigMap revisions checked "
          f"(watch gaps {s['watch_gaps']}); load mean {s['load']['mean']} max {s['load']['max']} "
          f"on {s['load']['cpus']} CPUs")
    print(f"{'kind':22s} {'faults':>6s} {'viol.':>5s} {'exact p50':>10s} {'p99':>8s} "
          f"{'max':>8s} {'lost pings':>10s}")
    f = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    for k, v in s["kinds"].items():
        print(f"{k:22s} {v['faults']:6d} {v['violations']:5d} {f(v['exact_p50']):>10s} "
              f"{f(v['exact_p99']):>8s} {f(v['exact_max']):>8s} {v['lost_pings']:10d}")
    e = s["exact_s"]
    print(f"{'all':22s} {s['faults']:6d} {sum(s['violations'].values()):5d} "
          f"{f(e['p50']):>10s} {f(e['p99']):>8s} {f(e['max']):>8s}")
    for n, row in s["pings"].items():
        print(f"pings to the pod of {n}: {row['sent']} sent, {row['lost']} lost "
              f"({row['by_kind'] or 'none'}; unexplained {row['unexplained']})")
    print(f"exact after the last fault: {f(e['final'])} s (deadline {FINAL_DEADLINE} s); "
          f"churn {s['churn']['ops']} ({s['churn']['failed']} refused while the API was cut)")
    print(f"violations: {s['violations'] or 0}")


def stop_all(ctx, camp):
    """SIGTERM to every instance: each must exit 0 (a clean shutdown)."""
    for name in ctx.cluster.instances():
        ctx.expect_exit(name)
        rc = ctx.cluster.stop_instance(name, timeout=10)
        if rc != 0:
            camp.violation("crash", f"{name} exited {rc} on SIGTERM: " + cl_tail(ctx.cluster, name))


def body(c, args, seed):
    rng = random.Random(seed)
    api = ob.Api(c)
    stable = list(c.nodes)
    ctx = Ctx(c, api, rng, stable)
    data = c.cm_data()
    ctx.stable_overlay = {i: data[f"Interface-{cl.node_ip(i)}"] for i in stable}
    print(f"     stable nodes {ctx.stable_overlay}; leader {c.leader()[0]}", flush=True)
    kinds = fk.kinds(args.api)
    if args.kinds:
        kinds = {k: v for k, v in kinds.items() if k in args.kinds.split(",")}
    camp = Campaign(ctx, args.faults, kinds)
    watch = ob.ConfigMapWatch(api)
    watch.start()
    pingers = {i: ob.Pinger(c.dev, cl.pod_ip(i), c.path("logs", f"ping-{i}.log")) for i in stable}
    churn = Churn(api, random.Random(rng.random()), ctx.lock)
    churn.start()
    threading.Thread(target=camp.monitor, daemon=True).start()
    t0 = time.time()
    try:
        for k in range(args.faults):
            camp.one(k, watch)
        churn.drain()
        final = ctx.wait(lambda: not ctx.exact(), 30, "exact after the last fault")
        final_s = round(time.time() - camp.records[-1]["t_end"], 3) if camp.records else final
        if camp.records and camp.records[-1].get("exact_s") is not None:
            final_s = camp.records[-1]["exact_s"]
        if final_s > FINAL_DEADLINE:
            camp.violation("not-exact", f"{final_s:.2f} s after the last fault")
        time.sleep(2 * ob.PING_INTERVAL + 1.2)  # the last echoes answered or timed out
        cm = api.configmap().get("data") or {}
        for i, ov in ctx.stable_overlay.items():
            if cm.get(f"Interface-{cl.node_ip(i)}") != ov:
                camp.violation("stable-moved", f"at the end Interface-{cl.node_ip(i)}="
                               f"{cm.get(f'Interface-{cl.node_ip(i)}')!r}, want {ov}")
        for k, v in ctx.foreign.items():
            if cm.get(k) != v:
                camp.violation("foreign-lost", f"{k}={cm.get(k)!r}, want {v!r}")
    finally:
        camp.stop.set()
        for pg in pingers.values():
            pg.stop()
        watch.stop.set()
    camp.check_revisions(watch, time.time() + 1)
    stop_all(ctx, camp)
    pings = camp.judge_pings(pingers)
    s = summary(camp, pings, final_s, churn, watch, seed, args, time.time() - t0)
    print_table(s)
    with open(args.json, "w") as f:
        json.dump(s, f, indent=1)
    print(f"JSON: {args.json}")
    return not camp.violations


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--api", choices=["real", "fake"], default="real")
    p.add_argument("--faults", type=int, default=50)
    p.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    p.add_argument("--seed-env", default=None,
                   help="an environment variable that, when set, overrides --seed")
    p.add_argument("--nodes", type=int, default=3, help="nodes that exist throughout")
    p.add_argument("--kinds", default="", help="comma-separated subset of the fault kinds")
    p.add_argument("--json", default=None)
    p.add_argument("--tag", default=None)
    args = p.parse_args()
    if args.seed_env and os.environ.get(args.seed_env):
        args.seed = int(os.environ[args.seed_env])
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    print(f"fault campaign: seed {seed} (--seed {seed} repeats it), {args.faults} faults, "
          f"{args.api} API", flush=True)
    name = os.path.basename(sys.argv[0])
    if os.geteuid() != 0:
        print(f"SKIP {name}: needs root (network namespaces, veth, VXLAN)")
        sys.exit(77)
    if args.api == "real":
        missing = apihost.controlplane.missing_binaries()
        if missing:
            print(f"SKIP {name}: the control plane is not built ({', '.join(missing)} missing)")
            sys.exit(77)
        apihost.LAUNCHER = os.path.join(HERE, "supervisor.py")  # etcd/kube-apiserver restart
    tag = args.tag or f"fault{args.api[0]}"
    args.json = args.json or f"/tmp/kcr-fault-campaign-{args.api}.json"
    cl.hold_signals_as_interrupt()
    c = cl.Cluster(args.binary, tag=tag, nodes=args.nodes, api=args.api, shape="split",
                   controllers=2, log=lambda m: print(f"     {m}", flush=True))
    ok = False
    try:
        t0 = time.monotonic()
        c.up(wait_reachable=True)
        print(f"     cluster up in {time.monotonic() - t0:.1f} s", flush=True)
        ok = body(c, args, seed)
    except BaseException:  # noqa: BLE001 - an error (or Ctrl-C) fails the run
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        c.down()
        left = cl.netns.list_ns(c.prefix)
        print(f"     cluster down; namespaces left: {left or 'none'}", flush=True)
    print(f"{name}: {'PASSED' if ok else 'FAILED'} (seed {seed})", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
