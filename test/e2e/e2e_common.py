"""Shared runner of the end-to-end tests: the real binary on every node host of
the dev cluster (deploy/devcluster), asserted with real packets from the
device host to the pods (ping and a TCP echo).

The API server is the real one (etcd + kube-apiserver of test/controlplane,
the shipped RBAC, one ServiceAccount token per instance); `--api fake` or
KCR_E2E_API=fake runs the same tests against the fake API server.

The shape (deploy/devcluster/shape.py): `--shape` or KCR_E2E_SHAPE, default
auto: split (a controller, --run-tunnel=false, plus an agent per node,
--run-publisher=false) when the binary has the annotation-based agent, else
combined (every node instance both roles). Each test prints the shape it ran.

run(body, nodes=3) skips with exit 77 when not root or when the control plane
is not built, builds a cluster with a tag unique to the test (kcr-<tag>-*),
calls body(cluster), and always tears it down. check() prints each assertion with its measured numbers; the first
failed one ends the test with exit 1 and the tail of every log.
"""

import argparse
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "devcluster"))
import cluster as cl  # noqa: E402,F401  (re-exported for the tests)
from cluster import Cluster, wait_for  # noqa: E402,F401


class Failure(Exception):
    pass


def check(cond, what, detail=""):
    if cond:
        print(f"ok   {what}", flush=True)
        return
    print(f"FAIL {what}" + (f": {detail}" if detail else ""), flush=True)
    raise Failure(what)


def timed(pred, timeout, what):
    """Seconds until pred() holds; raises Failure (with `what`) on timeout."""
    try:
        return wait_for(pred, timeout, what)[1]
    except TimeoutError as e:
        print(f"FAIL {e}", flush=True)
        raise Failure(str(e)) from None


def tail(path, n=25):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return str(e)


def dump_logs(c):
    logs = c.path("logs")
    for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
        print(f"----- {name} -----\n{tail(os.path.join(logs, name))}")


def run(body, tag, nodes=3, controllers=1, **cluster_kwargs):
    """Parses --binary/--api/--shape, skips (77) when not root or without the
    control plane, builds Cluster(..., **cluster_kwargs) (e.g. extra_args,
    remote_vtep, device_args) and runs body on it."""
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--api", choices=["real", "fake"],
                   default=os.environ.get("KCR_E2E_API", "real"))
    p.add_argument("--shape", choices=cl.shapes.SHAPES,
                   default=os.environ.get("KCR_E2E_SHAPE", "auto"))
    a = p.parse_args()
    name = os.path.basename(sys.argv[0])
    if os.geteuid() != 0:
        print(f"SKIP {name}: needs root (network namespaces, veth, VXLAN)")
        sys.exit(77)
    missing = cl.apihost.controlplane.missing_binaries() if a.api == "real" else []
    if missing:
        print(f"SKIP {name}: the control plane is not built ({', '.join(missing)} missing in "
              f"{cl.apihost.controlplane.bin_dir()}; `make controlplane`, or KCR_E2E_API=fake)")
        sys.exit(77)
    cl.hold_signals_as_interrupt()
    c = Cluster(a.binary, tag=tag, nodes=nodes, api=a.api, shape=a.shape,
                controllers=controllers, log=lambda m: print(f"     {m}", flush=True),
                **cluster_kwargs)
    run_cluster(c, body, name, a.api)


def run_cluster(c, body, label, api):
    """Brings the cluster up, runs body(c), always takes the cluster down (with
    its logs when something failed) and exits 0 when body passed, else 1."""
    failed = True
    try:
        t0 = time.monotonic()
        try:
            c.up(wait_reachable=False)
        except TimeoutError as e:
            print(f"FAIL cluster up: {e}")
            raise Failure(str(e)) from None
        print(f"     cluster up in {time.monotonic() - t0:.1f} s", flush=True)
        body(c)
        failed = False
    except Failure:
        pass
    except BaseException:  # noqa: BLE001 - an error (or Ctrl-C) is a failure too
        traceback.print_exc()
    finally:
        if failed:
            dump_logs(c)
        t0 = time.monotonic()
        c.down()
        print(f"     cluster down in {time.monotonic() - t0:.1f} s", flush=True)
    print(f"{label}: {'FAILED' if failed else 'PASSED'} (shape {c.shape}, {api} API, "
          f"{c.binary})", flush=True)
    sys.exit(1 if failed else 0)


def all_reachable(c, nodes=None, timeout=10):
    """Asserts ping and TCP from the device to every pod; prints the table."""
    nodes = c.nodes if nodes is None else nodes
    try:  # one deadline for all: converging nodes answer in parallel
        wait_for(lambda: all(c.tcp_ok(i, 0.2) for i in nodes), timeout, "every pod")
    except TimeoutError:
        pass  # the table below names the ones that do not answer
    rows = c.reachability()
    print(cl.format_table(rows), flush=True)
    for (pod, node, overlay, ping_ok, tcp_ok) in rows:
        if int(node.split("-")[1]) in nodes:
            check(ping_ok and tcp_ok, f"device -> {pod} on {node} via {overlay}: ping and TCP")
