#!/usr/bin/env python3
"""`make bench`: the benchmark harness of kube-chorus-router.

Drives the REAL binary (--run-tunnel=false) against the REAL kube-apiserver
+ etcd (test/controlplane; `--api fake` for the fake API server of
test/fakeapi) and prints one table, also written into docs/benchmarks.md
(between the bench:begin/end markers; the rest of that file is prose kept
by hand). One server for the whole run, Nodes created by admin POSTs:
  - cold start, N = 100/1000/5000 Nodes: process start -> first ConfigMap
    revision (seen by an admin watch) with all N complete entries (median
    of 3), writes, CPU s, peak RSS, and the floor: one list + one PUT of the
    final ConfigMap by a minimal client on the same server;
  - the ConfigMap as stored: JSON with and without managedFields, etcd's
    value, data against 1 MiB;
  - idle (5000 Nodes, 45 s): writes, CPU s;
  - event latency (5000 Nodes, 100 adds + 100 deletes spaced apart): admin
    request sent / Node event seen -> first ConfigMap revision with it seen;
  - churn: 1000 adds + 1000 deletes at 200/s: writes, bytes written (the
    product's configmap_written_bytes_total and the revisions seen) per
    second against the 2 MiB/s budget, etcd's database growth, lag, final
    state;
  - issue 12's shape (shape.py): time to annotate all Nodes after a cold
    start; the agent (--run-publisher=false, tunnel on, root: in a network
    namespace) RSS at 100 and 5000 Nodes and its bytes received while 200
    other Nodes are added and deleted, against a standby controller's (the
    old shape); failover of two controllers (leader killed -9);
  - failures: "request is too large" in the API server's log, warnings and
    errors in the product's logs;
  - netlink (root): converge without drift, repair of a deleted interface
    (library path, and the real binary in a network namespace, on the fake).

Usage: bench.py [--build DIR] [--quick] [--no-docs] [--api real|fake]
(--api fake skips the issue-12 scenarios: they need the real server's
field selectors and Node patches)
Not part of `make test`."""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios  # noqa: E402
import shape  # noqa: E402
from benchlib import ROOT, bench_node, loadavg, machine, median  # noqa: E402
from cluster import FakeCluster, NodeWatch, RealCluster, create_nodes  # noqa: E402
from netbench import netlink_results  # noqa: E402

MIB = 1048576
KIB = 1024
AGENT_BYTES = 64 * KIB  # issue 12: an agent's bytes for 200 other Nodes added and deleted
AGENT_RSS = 16  # MiB
WRITE_RATE = 2 * MIB  # etcd bytes/s from the product under churn (its default budget)
LEASE = 15.0  # s: --leader-elect-lease-duration, default
ANNOTATION_QPS = 100  # --annotation-qps, default
ETCD_LIMIT = 1572864  # etcd's default --max-request-bytes (1.5 MiB)
COLD_TIMEOUT = 120  # s
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def ms(s):
    return f"{s * 1000:.1f} ms"


def verdict(ok):
    return "met" if ok else "**MISSED**"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def product_log_problems(paths):
    """Warning and error lines of the product's logs -> (count, a few distinct ones)."""
    lines = []
    for p in paths:
        with open(p, errors="replace") as f:
            lines += [ln.split(None, 2)[-1].strip() for ln in f
                      if re.match(r"\S+\s+(warn|warning|error|critical)\b", ln)]
    return len(lines), list(dict.fromkeys(ln[:200] for ln in lines))[:4]


def plan_runs(n, runs, big):
    """Product runs of size n: the first before the floors (its ConfigMap
    sizes them), the others after; at the biggest size the last one keeps
    running for idle/latency/churn (so at least 2 runs there)."""
    count = max(runs, 2) if n == big else runs
    return [(r == 0, n == big and r == count - 1) for r in range(count)]


def cold_starts(cluster, binary, sizes, runs, logdir):
    """-> ({n: (results, floors, size, floor size, creation, extras)}, kept
    product). Extras: at the smallest size the agent's RSS; at the biggest
    the first run keeps going until every Node is annotated."""
    big, have, cold, prod = sizes[-1], 0, {}, None
    for n in sizes:
        log(f"creating Nodes {have}..{n - 1} (8 threads)")
        creation = (n - have, create_nodes(cluster, [bench_node(i) for i in range(have, n)]))
        have = n
        log(f"  {creation[0]} Nodes in {creation[1]:.1f} s")
        results, floors, size, fsize, extra = [], [], None, None, {}
        for first, keep in plan_runs(n, runs, big):
            annotate = first and n == big and cluster.kind == "real"
            if annotate:
                extra["stripped"] = shape.strip_annotations(cluster)
                node_w = NodeWatch(cluster)
            log(f"cold start N={n} run {len(results) + 1} (load {loadavg()})")
            res, p = scenarios.product_cold_start(cluster, binary, n, logdir, COLD_TIMEOUT,
                                                  keep or annotate)
            results.append(res)
            if "error" in res:
                log(f"  FAILED: {res['error']}")
            if annotate:
                if p:
                    log(f"  waiting for all {n} Nodes annotated")
                    extra["annotation"] = shape.annotation_time(cluster, p, node_w, n,
                                                                n / 100 * 2 + 60)
                    p.stop()
                    p = None
                node_w.stop()
            if first:
                size = scenarios.stored_size(cluster)
                data = json.loads(cluster.configmap_raw()).get("data") or {}
                for _ in range(runs):
                    log(f"floor N={n}")
                    floors.append(scenarios.floor_cold_start(cluster, n, data, COLD_TIMEOUT))
                fsize = scenarios.stored_size(cluster)
            prod = p or prod
        if n == sizes[0] and not shape_skipped(cluster):
            log(f"agent RSS at N={n}")
            extra["agent"] = guarded(lambda: shape.agent_rss(cluster, binary, logdir))
        cold[n] = {"results": results, "floors": floors, "size": size, "floor_size": fsize,
                   "creation": creation, **extra}
    return cold, prod


def shape_skipped(cluster):
    """Why the agent/controller scenarios cannot run here, or None."""
    if cluster.kind != "real":
        return "skipped: needs the real API server (field selectors, Node patches)"
    if os.geteuid() != 0:
        return "skipped: the agent converges a real tunnel (root, network namespace)"
    return None


def guarded(fn):
    """fn() or {"error": ...}: one failed scenario does not end the run."""
    try:
        return fn()
    except (RuntimeError, OSError) as e:
        log(f"  FAILED: {e}")
        return {"error": str(e)}


def steady_scenarios(cluster, prod, args, n):
    shape.settle_annotations(prod, n / ANNOTATION_QPS * 2 + 60)
    idle_s = 10 if args.quick else 45
    log(f"idle {idle_s} s")
    out = {"idle": scenarios.idle(cluster, prod, idle_s)}
    count = 10 if args.quick else 50
    log(f"event latency ({count} adds + {count} deletes, one at a time)")
    out["latency"] = scenarios.event_latency(cluster, count)
    log("the server's share: one-key patches of a copy")
    out["latency"]["server"] = scenarios.server_write_latency(cluster, 20 if args.quick else 30)
    count = 200 if args.quick else 1000
    log(f"churn ({count} adds + {count} deletes at 200/s)")
    out["churn"] = scenarios.churn(cluster, prod, count, 200.0)
    out["size_after"] = scenarios.stored_size(cluster)
    out["rss"], out["cpu"] = prod.peak_rss_mib(), prod.cpu()
    return out


def run(args):
    binary = os.path.join(args.build, "kube-chorus-router")
    nl_bench = os.path.join(args.build, "test", "bench", "kcr_netlink_bench")
    sizes = [100, 1000] if args.quick else [100, 1000, 5000]
    runs = 1 if args.quick else 3
    logdir = tempfile.mkdtemp(prefix="kcr-bench-")
    head = {"machine": machine(), "load_start": loadavg(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()}
    log(f"starting the {args.api} API server")
    cluster = RealCluster() if args.api == "real" else FakeCluster(logdir)
    head["api"] = f"{cluster.version} ({args.api}), ready in {cluster.startup_seconds:.1f} s"
    prod = None
    split = None
    try:
        cold, prod = cold_starts(cluster, binary, sizes, runs, logdir)
        steady = steady_scenarios(cluster, prod, args, sizes[-1]) if prod else None
        head["too_large"] = [ln[:1000] for ln in cluster.log_lines("request is too large")]
        if prod:
            prod.stop()
            prod = None
        if not shape_skipped(cluster):
            changes = 50 if args.quick else 200
            log(f"split shape: 2 controllers + an agent, {changes} Nodes added and deleted, "
                "failover")
            split = guarded(lambda: shape.split_shape(cluster, binary, logdir, changes, 20.0))
        else:
            split = {"error": shape_skipped(cluster)}
    finally:
        if prod:
            prod.stop()
        cluster.stop()
    logs = [r["log"] for c in cold.values() for r in c["results"]]
    head["product_problems"] = product_log_problems(logs)
    log("netlink")
    nl = netlink_results(binary, nl_bench, logdir, quick=args.quick)
    head["load_end"] = loadavg()
    text = render(head, sizes, runs, cold, steady, split, nl)
    print(text)
    raw = {"head": head, "cold": cold, "steady": steady, "split": split, "netlink": nl["raw"]}
    with open(os.path.join(logdir, "results.json"), "w") as f:
        json.dump(raw, f, indent=1, default=str)
    log(f"logs and raw results in {logdir}")
    if not args.no_docs:
        write_docs(text)


def size_text(z):
    etcd = f"; etcd holds {z['etcd_bytes']} B" if z.get("etcd_bytes") else ""
    return (f"{z['keys']} keys; JSON {z['with_mf']} B with managedFields, "
            f"{z['without_mf']} B without (managedFields {z['mf_bytes']} B: "
            f"{', '.join(z['managers']) or 'none recorded'}){etcd}; data values {z['value_bytes']} B "
            f"({z['value_bytes'] / MIB:.0%} of 1 MiB), keys+values {z['data_bytes']} B")


def size_ok(z):
    stored = z.get("etcd_bytes") or z["with_mf"]
    return z["value_bytes"] < MIB and stored < ETCD_LIMIT


def lat_text(s):
    return f"p50 {ms(s['p50'])}, p99 {ms(s['p99'])}, max {ms(s['max'])}"


def cold_rows(sizes, runs, cold):
    rows, big = [], sizes[-1]
    for n in sizes:
        c = cold[n]
        made, secs = c["creation"]
        rows.append((f"create Nodes → {n}", f"{made} admin POSTs on 8 connections in "
                     f"{secs:.1f} s ({made / secs:.0f}/s)", "", ""))
        good = [r for r in c["results"] if "error" not in r]
        bad = [r for r in c["results"] if "error" in r]
        fl = [f["seconds"] for f in c["floors"] if "seconds" in f]
        if not good or not fl:
            why = "; ".join(f"{r['error']} (best revision {r['best']} Node- keys, "
                            f"{r['writes']} writes)" for r in bad) or \
                "; ".join(f"floor PUT {f['status']}: {f.get('error', '')}" for f in c["floors"])
            rows.append((f"cold start N={n}", f"**FAILED**: {why}", "", "**MISSED**"))
            continue
        t, f = median([r["seconds"] for r in good]), median(fl)
        pick = sorted(good, key=lambda r: r["seconds"])[len(good) // 2]
        each = ", ".join("%.3f" % r["seconds"] for r in good)
        fa = median([x["answer"] for x in c["floors"]])
        detail = (f"{t:.3f} s (runs {each}{'; ' + str(len(bad)) + ' FAILED' if bad else ''}); "
                  f"floor {f:.3f} s (PUT answered at {fa:.3f} s) → **×{t / f:.2f}**; "
                  f"{pick['writes']} writes; CPU {pick['cpu']:.2f} s; peak RSS "
                  f"{pick['rss']:.1f} MiB; API server + etcd CPU {pick['server_cpu']:.2f} s")
        target, ok = ("≤ 1.5 × floor; RSS ≤ 64 MiB", t / f <= 1.5 and pick["rss"] <= 64
                      and not bad) if n == big else ("(ratio reported)", None)
        rows.append((f"cold start N={n}", detail, target, "" if ok is None else verdict(ok)))
        sizes_shown = [("product", c["size"])] + ([("floor's PUT", c["floor_size"])]
                                                   if n == big else [])
        for what, z in sizes_shown:
            rows.append((f"stored ConfigMap N={n} ({what})", size_text(z),
                         "data < 1 MiB; stored < 1.5 MiB", verdict(size_ok(z))))
    return rows


def steady_rows(big, st):
    i, lat, ch = st["idle"], st["latency"], st["churn"]
    e0, e1 = ch["etcd_before"], ch["etcd_after"]
    grow = (f"etcd db {e0['total'] / MIB:.1f} → {e1['total'] / MIB:.1f} MiB (in use "
            f"{e0['in_use'] / MIB:.1f} → {e1['in_use'] / MIB:.1f} MiB); "
            if e0["total"] is not None else "")
    refused = (f"{len(ch['refused'])} Node requests refused "
               f"({', '.join(sorted(set(map(str, ch['refused']))))}); " if ch["refused"] else "")
    return [
        (f"idle N={big}, {i['seconds']} s", f"{i['writes']} ConfigMap writes, {i['patches']:.0f} "
         f"Node annotation patches; CPU {i['cpu']:.2f} s", "0 writes",
         verdict(i["writes"] == 0 and i["patches"] == 0)),
        (f"event latency N={big}",
         f"{lat['changes']} changes, {lat['writes']} writes, {lat['missing']} not seen. "
         f"Node event seen → revision seen: {lat_text(lat['seen'])}; request → revision "
         f"seen: {lat_text(lat['request'])}. The server alone (one-key patch of a "
         f"copy → revision seen): {lat_text(lat['server'])}", "p99 ≤ 20 ms, max ≤ 100 ms (seen → seen)",
         verdict(lat["seen"]["p99"] <= 0.020 and lat["seen"]["max"] <= 0.100
                 and not lat["missing"])),
        churn_row(big, ch, grow, refused),
        (f"stored ConfigMap N={big} after churn", size_text(st["size_after"]),
         "data < 1 MiB; stored < 1.5 MiB", verdict(size_ok(st["size_after"]))),
        (f"peak RSS after all, N={big}", f"{st['rss']:.1f} MiB (CPU total {st['cpu']:.1f} s)",
         "≤ 64 MiB", verdict(st["rss"] <= 64))]


def churn_row(big, ch, grow, refused):
    m = ch["metrics"]
    rate = m["written"] / ch["window"]
    detail = (f"{ch['ops']} ops at {ch['rate']:.0f}/s (each answered in p50 "
              f"{ms(ch['op_seconds']['p50'])}, max {ms(ch['op_seconds']['max'])}); {refused}"
              f"{ch['writes']} writes ({ch['writes_per_s']:.1f}/s); **written by the product "
              f"{m['written'] / MIB:.1f} MiB in {ch['window']:.1f} s = {rate / MIB:.2f} MiB/s** "
              f"(`configmap_written_bytes_total`); revisions seen {ch['written_bytes'] / MIB:.1f} MiB "
              f"= {ch['rev_bytes_per_s'] / MIB:.2f} MiB/s (largest {ch['max_rev_bytes']} B, its "
              f"managedFields up to {ch['max_mf_bytes']} B); waited for budget "
              f"{m['budget_wait']:.1f} s; size warnings {m['size_warnings']:.0f}, write errors "
              f"{m['write_errors']:.0f}; {grow}lag seen → revision {lat_text(ch['seen'])}; "
              f"{ch['coalesced']} nodes added and deleted between two writes (never published, "
              f"as intended); {ch['missing']} other changes not seen; final state {ch['check']}")
    # The budget's promise (actors/write_budget.hpp): over any time T at most rate x T plus
    # one bucket, which holds max(2 objects, one second of budget).
    allowed = WRITE_RATE * ch["window"] + max(2 * ch["max_rev_bytes"], WRITE_RATE)
    detail += f"; allowed 2 MiB/s × T + one bucket = {allowed / MIB:.1f} MiB"
    ok = (m["written"] <= allowed and ch["written_bytes"] <= allowed and not m["write_errors"]
          and not m["size_warnings"] and ch["check"].startswith("ok") and not ch["missing"]
          and not ch["refused"])
    return (f"churn N={big}", detail, "≤ 2 MiB/s × T + one bucket written (both counts); no "
            "write refused for size; final state exact", verdict(ok))


def rss_text(r):
    return f"VmRSS {r[0]:.1f} MiB (anon {r[2]:.1f}, files {r[3]:.1f}), VmHWM {r[1]:.1f} MiB"


def label_value(labels):
    """'{resource="nodes"}' -> 'nodes'."""
    return labels.split("=", 1)[-1].strip('{}"')


def shape_rows(sizes, cold, split):
    small, big = sizes[0], sizes[-1]
    rows = []
    an = cold[big].get("annotation")
    if an is not None:
        want = big / ANNOTATION_QPS * 1.1
        if "error" in an:
            rows.append((f"annotate all Nodes after a cold start, N={big}",
                         f"**FAILED**: {an['error']} ({an['annotated']} annotated)",
                         f"≤ {want:.0f} s", "**MISSED**"))
        else:
            rows.append((f"annotate all Nodes after a cold start, N={big}",
                         f"{an['annotated']} Nodes annotated {an['seconds']:.1f} s after the "
                         f"process start (first at {an['first']:.1f} s; {an['patches']:.0f} "
                         f"patches; {cold[big]['stripped']} stale annotations removed before); "
                         f"{len(an['wrong'])} differ from the ConfigMap",
                         f"≤ N / 100 qps + 10 % = {want:.0f} s; all = ConfigMap",
                         verdict(an["seconds"] <= want and not an["wrong"])))
    ag = cold[small].get("agent")
    if ag is None or (split or {}).get("error") or "error" in (ag or {}):
        why = (ag or {}).get("error") or (split or {}).get("error") or "not run"
        rows.append(("agent (`--run-publisher=false`, tunnel on, in a netns)", why, "",
                     "**MISSED**" if "skipped" not in why else ""))
        return rows
    r100 = ag["rss"]
    r_end = split["agent_rss_after"]
    rows.append((f"agent RSS, N={small} → N={big}",
                 f"N={small}: {rss_text(r100)}; N={big}: {rss_text(split['agent_rss_before'])} "
                 f"converged, {rss_text(r_end)} after the changes",
                 "≤ 16 MiB, the same at both sizes (VmHWM within 1 MiB)",
                 verdict(max(r100[1], r_end[1]) <= AGENT_RSS and abs(r_end[1] - r100[1]) <= 1)))
    tr = split["traffic"]
    per = lambda x: x / (tr["ops"] or 1)  # noqa: E731
    rows.append((f"agent bytes received, N={big}",
                 f"{tr['agent']:.0f} B ({tr['agent'] / KIB:.1f} KiB) while {tr['ops'] // 2} other "
                 f"Nodes were added and deleted ({tr['ops']} changes at {tr['ops'] / tr['span']:.0f}/s, "
                 f"{tr['writes']} ConfigMap writes); the counter is live: one label patched on "
                 f"its own Node afterwards arrived as "
                 f"{'NOTHING' if tr['own_change'] is None else '%.0f B' % tr['own_change']}",
                 "≤ 64 KiB", verdict(tr["agent"] <= AGENT_BYTES and not tr["refused"]
                                     and tr["own_change"] is not None)))
    by = ", ".join(f"{label_value(k)} {v / MIB:.2f} MiB"
                   for k, v in sorted(tr["standby_by"].items()) if v)
    rows.append((f"old shape for comparison: standby controller, N={big}",
                 f"{tr['standby'] / MIB:.1f} MiB received for the same changes ({by}); "
                 f"{per(tr['standby']) / KIB:.0f} KiB per change: what every DaemonSet pod "
                 f"received before issue 12", "(comparison)", ""))
    fo = split["failover"]
    if "error" in fo:
        rows.append((f"failover N={big}", f"**FAILED**: {fo['error']}", "", "**MISSED**"))
        return rows
    rows.append((f"failover N={big} (lease {LEASE:.0f} s, default)",
                 f"leader killed -9, a Node added {fo['add_after'] * 1000:.0f} ms later; the new "
                 f"leader's first write {fo['first_write']:.1f} s after the kill, the first with "
                 f"the new Node **{fo['seconds']:.1f} s**; {len(fo['changed'])} of {fo['kept']} "
                 f"allocations changed; final state {fo['check']}",
                 f"≤ lease + 2 s = {LEASE + 2:.0f} s; no allocation changed",
                 verdict(fo["seconds"] <= LEASE + 2 and not fo["changed"]
                         and fo["check"].startswith("ok"))))
    return rows


def render(head, sizes, runs, cold, steady, split, nl):
    rows = cold_rows(sizes, runs, cold)
    if steady:
        rows += steady_rows(sizes[-1], steady)
    else:
        rows.append(("idle, event latency, churn", "not run: the last cold start failed",
                     "", "**MISSED**"))
    rows += shape_rows(sizes, cold, split)
    count, examples = head["product_problems"]
    big = head["too_large"]
    rows.append(("failures seen", f"API server log: {len(big)} × \"request is too large\""
                 + (" (" + " / ".join(f"`{ln[:240]}`" for ln in big[:2]) + ")" if big else "")
                 + f"; product logs: {count} warning/error lines"
                 + (": " + " / ".join(f"`{e}`" for e in examples) if examples else ""),
                 "none", verdict(not big and count == 0)))
    if split and split.get("logs"):
        count, examples = product_log_problems(split["logs"])
        rows.append(("failures seen (split shape: controllers A, B, the agent)",
                     f"{count} warning/error lines"
                     + (": " + " / ".join(f"`{e}`" for e in examples) if examples else ""),
                     "none", verdict(count == 0)))
    rows.extend(nl["rows"])
    lines = [f"Machine: {head['machine']}  ",
             f"API server: {head['api']}  ",
             f"Date {head['date']}, commit {head['commit']}, load average at start "
             f"{head['load_start']}, at end {head['load_end']} (1/5/15 min)  ",
             f"Cold start: median of the runs, all on the same server; floor (median of "
             f"{runs}): one list + one PUT of the final ConfigMap on a fresh connection, "
             f"same server.", "",
             "| scenario | result | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def write_docs(text):
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    old = open(path).read() if os.path.exists(path) else (
        "# Benchmarks\n\n`make bench` (test/bench/bench.py) rewrites the block below.\n\n"
        f"{BEGIN}\n{END}\n")
    if BEGIN not in old or END not in old:
        old += f"\n{BEGIN}\n{END}\n"
    pre, _, rest = old.partition(BEGIN)
    _, _, post = rest.partition(END)
    with open(path, "w") as f:
        f.write(f"{pre}{BEGIN}\n{text}\n{END}{post}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 run (development)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--api", choices=("real", "fake"), default="real",
                    help="real kube-apiserver + etcd (test/controlplane, default) or the fake")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
