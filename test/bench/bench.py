#!/usr/bin/env python3
"""`make bench`: the benchmark harness of kube-chorus-router.

Drives the REAL binary (--run-tunnel=false) against the fake API server
(test/fakeapi) and prints one table, also written into docs/benchmarks.md
(between the bench:begin/end markers; the rest of that file is prose kept
by hand):
  - cold start, N = 100/1000/5000 Nodes: process start -> ConfigMap with all N
    complete entries (median of 3), writes, CPU s, peak RSS, and the floor:
    one list + one PUT of the final size against the same fake;
  - idle (5000 Nodes, 60 s): writes, CPU s;
  - event latency (5000 Nodes, 200 adds + 200 deletes spaced apart): watch
    event emitted -> first ConfigMap write containing it, by the fake's clock;
  - churn: 1000 adds + 1000 deletes at 200/s: writes/s, worst lag, final state;
  - ConfigMap size at 5000 Nodes against the 1 MiB limit;
  - netlink (root): converge without drift, repair of a deleted interface
    (library path, and the real binary in a network namespace).

Usage: bench.py [--build DIR] [--quick] [--no-docs]
Not part of `make test`."""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios  # noqa: E402
from benchlib import ROOT, loadavg, machine, median  # noqa: E402
from netbench import netlink_results  # noqa: E402

MIB = 1048576
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def ms(s):
    return f"{s * 1000:.1f} ms"


def verdict(ok):
    return "met" if ok else "**MISSED**"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args):
    binary = os.path.join(args.build, "kube-chorus-router")
    nl_bench = os.path.join(args.build, "test", "bench", "kcr_netlink_bench")
    sizes = [100, 1000] if args.quick else [100, 1000, 5000]
    runs = 1 if args.quick else 3
    big = sizes[-1]
    logdir = tempfile.mkdtemp(prefix="kcr-bench-")
    head = {"machine": machine(), "load_start": loadavg(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()}
    rows = []
    cold = {}
    steady = None  # (fake, product) of the last big run, kept for the next scenarios
    try:
        for n in sizes:
            results = []
            data = None
            for r in range(runs):
                last = r == runs - 1
                log(f"cold start N={n} run {r + 1}/{runs} (load {loadavg()})")
                res, fake, prod = scenarios.product_cold_start(binary, n, logdir, last)
                results.append(res)
                if last:  # its final ConfigMap sizes the floor's PUT
                    data = fake.configmap().get("data") or {}
                    if n == big:
                        steady = (fake, prod)
                    else:
                        prod.stop()
                        fake.stop()
            log(f"floor N={n}")
            floor = scenarios.floor_cold_start(n, data, runs, logdir)
            cold[n] = (results, floor)

        fake, prod = steady
        idle_s = 10 if args.quick else 60
        log(f"idle {idle_s} s, N={big}")
        idle = scenarios.idle(fake, prod, idle_s)
        log("event latency")
        lat = scenarios.event_latency(fake, 20 if args.quick else 200, 0.1)
        log("churn")
        ch = scenarios.churn(fake, 200 if args.quick else 1000, 200.0)
        rss_after = prod.peak_rss_mib()
        cpu_after = prod.cpu()
    finally:
        if steady:
            steady[1].stop()
            steady[0].stop()
    log("netlink")
    nl = netlink_results(binary, nl_bench, logdir, quick=args.quick)
    head["load_end"] = loadavg()

    # --- the table ---------------------------------------------------------------------
    for n in sizes:
        results, floor = cold[n]
        t = median([r["seconds"] for r in results])
        f = median(floor)
        pick = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
        ratio = t / f
        each = ", ".join("%.3f" % r["seconds"] for r in results)
        detail = (f"{t:.3f} s (runs {each}); "
                  f"floor {f:.3f} s → **×{ratio:.2f}**; {pick['writes']} writes; "
                  f"CPU {pick['cpu']:.2f} s; peak RSS {pick['rss']:.1f} MiB; "
                  f"fake CPU {pick['fake_cpu']:.2f} s")
        if n == big:
            rows.append((f"cold start N={n}", detail, "≤ 1.5 × floor; RSS ≤ 64 MiB",
                         verdict(ratio <= 1.5 and pick["rss"] <= 64)))
        else:
            rows.append((f"cold start N={n}", detail, "(ratio reported)", ""))
    size = cold[big][0][-1]
    rows.append((f"ConfigMap size N={big}",
                 f"values {size['value_bytes']} B ({size['value_bytes'] / MIB:.0%} of 1 MiB); "
                 f"keys+values {size['data_bytes']} B ({size['data_bytes'] / MIB:.0%})",
                 "< 1 MiB (1048576 B)", verdict(size["data_bytes"] < MIB)))
    rows.append((f"idle N={big}, {idle['seconds']} s",
                 f"{idle['writes']} writes; CPU {idle['cpu']:.2f} s", "0 writes",
                 verdict(idle["writes"] == 0)))
    rows.append((f"event latency N={big}",
                 f"{lat['changes']} changes, event → write request: p50 {ms(lat['p50'])}, "
                 f"p99 {ms(lat['p99'])}, max {ms(lat['max'])} (→ stored by the fake: p50 "
                 f"{ms(lat['stored_p50'])}, p99 {ms(lat['stored_p99'])}, max "
                 f"{ms(lat['stored_max'])}); {lat['writes']} writes; "
                 f"{lat['missing']} not seen", "p99 ≤ 20 ms, max ≤ 100 ms (request)",
                 verdict(lat["p99"] <= 0.020 and lat["max"] <= 0.100 and not lat["missing"])))
    rows.append((f"churn N={big}",
                 f"{ch['ops']} ops at {ch['rate']:.0f}/s: {ch['writes']} writes "
                 f"({ch['writes_per_s']:.1f}/s); worst lag {ms(ch['worst_lag'])} "
                 f"(stored {ms(ch['worst_stored'])}) "
                 f"(p99 {ms(ch['p99_lag'])}); {ch['missing']} not seen; final state "
                 f"{ch['check']}", "coalesced writes; final state exact",
                 verdict(ch["check"].startswith("ok") and not ch["missing"])))
    rows.append(("peak RSS after all N=" + str(big), f"{rss_after:.1f} MiB (CPU total "
                 f"{cpu_after:.1f} s)", "≤ 64 MiB", verdict(rss_after <= 64)))
    rows.extend(nl["rows"])

    lines = [f"Machine: {head['machine']}  ",
             f"Date {head['date']}, commit {head['commit']}, load average at start "
             f"{head['load_start']}, at end {head['load_end']} (1/5/15 min)  ",
             f"Cold start: median of {runs} runs, each on a fresh fake; floor: one "
             f"list + one PUT of the final ConfigMap on a fresh connection, same fake.", "",
             "| scenario | result | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(lines)
    print(text)
    raw = {"head": head, "cold": cold, "idle": idle, "latency": lat, "churn": ch,
           "netlink": nl["raw"]}
    with open(os.path.join(logdir, "results.json"), "w") as f:
        json.dump(raw, f, indent=1, default=str)
    log(f"logs and raw results in {logdir}")
    if not args.no_docs:
        write_docs(text)


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
    run(ap.parse_args())


if __name__ == "__main__":
    main()
