"""Liveness through an API outage (issue 14): the real kube-apiserver is
frozen (SIGSTOP: connections hang, as clients see an outage) for longer than
the old liveness allowance (30 s: the leader elector's Lease renewals used to
be a liveness check). /healthz must stay 200 the whole time, answered at once,
and still reporting fresh answers from the actors (a real liveness signal,
not a long allowance); /readyz must turn 503 naming what is stale (the Lease
calls); after SIGCONT both are 200 again."""

import os
import re
import signal
import time

import harness as H

OUTAGE = 36.0        # seconds; the old liveness allowance was max(30 s, 3 x lease)
OLD_ALLOWANCE = 30.0
# The prober asks every 10 s (app/liveness.hpp), so an actor that keeps answering is never
# older than that plus its answer's latency; a blocked one would age through the whole outage.
PROBE_PERIOD_MS = 10000
FRESH_MS = PROBE_PERIOD_MS + 2000


def answer_ages(text):
    """{actor: ms since its last answer} from /healthz lines."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r"^\[\+\](\S+) last answer (\d+)ms ago", text, re.M)}


def body(h):
    inst = h.instance("node-0000", "--config-sync-period", "2s")
    H.wait_for(lambda: (r := inst.healthz("/readyz"))[0] == 200 and
               "[+]nodes listed" in r[1], 30, "/readyz 200 before the outage")
    H.wait_for(lambda: len(H.own_entries(h.cluster.data())) == 6 * 3, 15,
               "the 3 nodes published")
    H.wait_for(lambda: "[+]leader_elector last answer" in
               inst.healthz("/healthz")[1], 10, "the liveness prober's answers")
    status, text = inst.healthz("/healthz")
    H.check(status == 200 and "[+]allocator last answer" in text and
            "[+]leader_elector last answer" in text,
            "/healthz 200 with one line per actor", text)
    apiserver = next(p for name, p, _ in h.cluster.cp.procs
                     if name == "kube-apiserver")
    os.kill(apiserver.pid, signal.SIGSTOP)
    print(f"     kube-apiserver (pid {apiserver.pid}) stopped", flush=True)
    t0 = time.monotonic()
    first_unready = None
    worst = 0.0
    max_age = 0
    try:
        while (elapsed := time.monotonic() - t0) < OUTAGE:
            q0 = time.monotonic()
            status, text = H.http_get(f"http://{inst.health}/healthz",
                                      timeout=2)
            took = time.monotonic() - q0
            worst = max(worst, took)
            if status != 200:
                H.check(False, f"/healthz 200 {elapsed:.1f} s into the outage",
                        f"{status} {text!r}")
            ages = answer_ages(text)
            # Actors that make no API calls answer every probe.
            max_age = max(max_age, ages.get("allocator", 10**9),
                          ages.get("node_watcher", 10**9))
            if first_unready is None:
                rstatus, rtext = inst.healthz("/readyz")
                if rstatus == 503:
                    first_unready = (elapsed, rtext)
            time.sleep(0.5)
    finally:
        os.kill(apiserver.pid, signal.SIGCONT)
    print(f"     kube-apiserver resumed after {time.monotonic() - t0:.1f} s",
          flush=True)
    H.check(True, f"/healthz 200 throughout a {OUTAGE:.0f} s outage (longer "
            f"than the old {OLD_ALLOWANCE:.0f} s allowance); slowest answer "
            f"{worst * 1000:.0f} ms")
    H.check(worst < 1.0, "every /healthz answered within 1 s", worst)
    H.check(max_age < FRESH_MS, "allocator and node_watcher answered every "
            f"liveness probe ({PROBE_PERIOD_MS} ms apart) all along", max_age)
    H.check(first_unready is not None, "/readyz 503 during the outage")
    secs, rtext = first_unready
    print(f"     /readyz 503 {secs:.1f} s into the outage: {rtext.strip()!r}")
    H.check(re.search(r"^\[-\]leader_elector last sync \d+ms ago "
                      r"\(allowed \d+ms\): stale$", rtext, re.M) is not None,
            "/readyz names the stale Lease calls (leader_elector)", rtext)
    (_, rtext), secs = H.wait_for(
        lambda: (r := inst.healthz("/readyz"))[0] == 200 and r, 30,
        "/readyz 200 after the outage")
    H.check(True, f"/readyz 200 again {secs:.1f} s after SIGCONT")
    status, _ = inst.healthz("/healthz")
    H.check(status == 200, "/healthz 200 after the outage", status)
    H.check(inst.alive(), "the process never exited")


if __name__ == "__main__":
    H.run_test(body, seed_nodes=3)
