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
  - churn: 1000 adds + 1000 deletes at 200/s: writes, bytes written, etcd's
    database growth, lag, final state;
  - failures: "request is too large" in the API server's log, warnings and
    errors in the product's logs;
  - netlink (root): converge without drift, repair of a deleted interface
    (library path, and the real binary in a network namespace, on the fake).

Usage: bench.py [--build DIR] [--quick] [--no-docs] [--api real|fake]
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
from benchlib import ROOT, bench_node, loadavg, machine, median  # noqa: E402
from cluster import FakeCluster, RealCluster, create_nodes  # noqa: E402
from netbench import netlink_results  # noqa: E402

MIB = 1048576
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
    """-> ({n: (results, floors, size, floor size, creation)}, kept product)"""
    big, have, cold, prod = sizes[-1], 0, {}, None
    for n in sizes:
        log(f"creating Nodes {have}..{n - 1} (8 threads)")
        creation = (n - have, create_nodes(cluster, [bench_node(i) for i in range(have, n)]))
        have = n
        log(f"  {creation[0]} Nodes in {creation[1]:.1f} s")
        results, floors, size, fsize = [], [], None, None
        for first, keep in plan_runs(n, runs, big):
            log(f"cold start N={n} run {len(results) + 1} (load {loadavg()})")
            res, p = scenarios.product_cold_start(cluster, binary, n, logdir, COLD_TIMEOUT, keep)
            results.append(res)
            if "error" in res:
                log(f"  FAILED: {res['error']}")
            if first:
                size = scenarios.stored_size(cluster)
                data = json.loads(cluster.configmap_raw()).get("data") or {}
                for _ in range(runs):
                    log(f"floor N={n}")
                    floors.append(scenarios.floor_cold_start(cluster, n, data, COLD_TIMEOUT))
                fsize = scenarios.stored_size(cluster)
            prod = p or prod
        cold[n] = {"results": results, "floors": floors, "size": size, "floor_size": fsize,
                   "creation": creation}
    return cold, prod


def steady_scenarios(cluster, prod, args):
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
    out["churn"] = scenarios.churn(cluster, count, 200.0)
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
    try:
        cold, prod = cold_starts(cluster, binary, sizes, runs, logdir)
        steady = steady_scenarios(cluster, prod, args) if prod else None
        head["too_large"] = [ln[:1000] for ln in cluster.log_lines("request is too large")]
    finally:
        if prod:
            prod.stop()
        cluster.stop()
    logs = [r["log"] for c in cold.values() for r in c["results"]]
    head["product_problems"] = product_log_problems(logs)
    log("netlink")
    nl = netlink_results(binary, nl_bench, logdir, quick=args.quick)
    head["load_end"] = loadavg()
    text = render(head, sizes, runs, cold, steady, nl)
    print(text)
    raw = {"head": head, "cold": cold, "steady": steady, "netlink": nl["raw"]}
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
        (f"idle N={big}, {i['seconds']} s", f"{i['writes']} writes; CPU {i['cpu']:.2f} s",
         "0 writes", verdict(i["writes"] == 0)),
        (f"event latency N={big}",
         f"{lat['changes']} changes, {lat['writes']} writes, {lat['missing']} not seen. "
         f"Node event seen → revision seen: {lat_text(lat['seen'])}; request → revision "
         f"seen: {lat_text(lat['request'])}. The server alone (one-key patch of a "
         f"copy → revision seen): {lat_text(lat['server'])}", "p99 ≤ 20 ms, max ≤ 100 ms (seen → seen)",
         verdict(lat["seen"]["p99"] <= 0.020 and lat["seen"]["max"] <= 0.100
                 and not lat["missing"])),
        (f"churn N={big}",
         f"{ch['ops']} ops at {ch['rate']:.0f}/s (each answered in p50 "
         f"{ms(ch['op_seconds']['p50'])}, max {ms(ch['op_seconds']['max'])}); {refused}"
         f"{ch['writes']} writes ({ch['writes_per_s']:.1f}/s), "
         f"{ch['written_bytes'] / MIB:.1f} MiB written (largest revision "
         f"{ch['max_rev_bytes']} B, its managedFields up to {ch['max_mf_bytes']} B); {grow}"
         f"lag seen → revision {lat_text(ch['seen'])}; {ch['coalesced']} nodes added and "
         f"deleted between two writes (never published, as intended); {ch['missing']} "
         f"other changes not seen; final "
         f"state {ch['check']}", "coalesced writes; final state exact",
         verdict(ch["check"].startswith("ok") and not ch["missing"] and not ch["refused"])),
        (f"stored ConfigMap N={big} after churn", size_text(st["size_after"]),
         "data < 1 MiB; stored < 1.5 MiB", verdict(size_ok(st["size_after"]))),
        (f"peak RSS after all, N={big}", f"{st['rss']:.1f} MiB (CPU total {st['cpu']:.1f} s)",
         "≤ 64 MiB", verdict(st["rss"] <= 64))]


def render(head, sizes, runs, cold, steady, nl):
    rows = cold_rows(sizes, runs, cold)
    if steady:
        rows += steady_rows(sizes[-1], steady)
    else:
        rows.append(("idle, event latency, churn", "not run: the last cold start failed",
                     "", "**MISSED**"))
    count, examples = head["product_problems"]
    big = head["too_large"]
    rows.append(("failures seen", f"API server log: {len(big)} × \"request is too large\""
                 + (" (" + " / ".join(f"`{ln[:240]}`" for ln in big[:2]) + ")" if big else "")
                 + f"; product logs: {count} warning/error lines"
                 + (": " + " / ".join(f"`{e}`" for e in examples) if examples else ""),
                 "none", verdict(not big and count == 0)))
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
