#!/usr/bin/env python3
"""The real control plane for the fault campaign, supervised like static pods.

Same command line and JSON line as `controlplane.py up` (the dev cluster's
apihost.RealApi starts it in the API namespace), with one difference: when
etcd or kube-apiserver exits (the campaign's `kill -9`), it is started again
with the same arguments, ports, data and certificates, as the kubelet restarts
a static pod. Each restart is logged on stderr (controlplane.log).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "controlplane"))
import controlplane as CP  # noqa: E402

RESPAWN_DELAY = 0.2  # s: a kubelet waits too (its back-off starts at 10 s; tests need less)


def respawn(cp, idx):
    """Starts process idx of cp.procs again with its own argv and log."""
    name, proc, log = cp.procs[idx]
    log.close()
    log = open(os.path.join(cp.dir, name + ".log"), "a")
    p = subprocess.Popen(proc.args, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, preexec_fn=CP._die_with_parent)
    cp.procs[idx] = (name, p, log)
    return p


def supervise(cp, stop):
    while not stop:
        for idx, (name, proc, _) in enumerate(cp.procs):
            if proc.poll() is not None:
                print(f"{time.strftime('%H:%M:%S')} supervisor: {name} exited "
                      f"({proc.returncode}); starting it again", file=sys.stderr, flush=True)
                time.sleep(RESPAWN_DELAY)
                p = respawn(cp, idx)
                print(f"{time.strftime('%H:%M:%S')} supervisor: {name} is pid {p.pid}",
                      file=sys.stderr, flush=True)
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["up"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--die-with-parent", action="store_true")
    a = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    if a.die_with_parent:
        CP._die_with_parent()
    with CP.ControlPlane(workdir=a.dir, host=a.host) as cp:
        print(json.dumps(cp.info()), flush=True)
        supervise(cp, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
