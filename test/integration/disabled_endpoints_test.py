"""Integration 12: the health and metrics endpoints can be disabled with an
empty address, as the README documents ("empty disables"), in each way an
operator writes it: `--health-addr ""`, `--health-addr=` (the DaemonSet
args style) and the environment (`KCR_HEALTH_ADDR=` / `KCR_METRICS_ADDR=`).
Each form must start, listen on nothing and publish."""

import time

import harness as H

CASES = [
    ("--health-addr '' --metrics-addr ''",
     ["--health-addr", "", "--metrics-addr", ""], None),
    ("--health-addr= --metrics-addr=",
     ["--health-addr=", "--metrics-addr="], None),
    ("KCR_HEALTH_ADDR= KCR_METRICS_ADDR= (environment)",
     [], {"KCR_HEALTH_ADDR": "", "KCR_METRICS_ADDR": ""}),
]


def body(h):
    bad = []
    for i, (what, flags, env) in enumerate(CASES):
        try:  # each case must publish by itself
            h.cluster.delete_configmap()
        except RuntimeError:
            pass  # not there
        inst = h.instance(f"node-000{i}", *flags, endpoints=False, env=env)
        try:
            H.wait_for(lambda: h.cluster.data().get("Node-198.18.0.1"), 5,
                       "the ConfigMap published")
            time.sleep(0.3)
            log = inst.logs()
            listening = [l.split("  ", 1)[-1] for l in log.splitlines()
                         if " health on " in l or " metrics on " in l]
            ok = not listening
            detail = f"listens: {listening}" if listening else ""
        except H.Failure as e:
            ok, detail = False, (f"{e}; exit {inst.proc.poll()}; log: "
                                 f"{H.tail(inst.log_path, 3).strip()}")
        rc = inst.stop()
        print(f"{'ok  ' if ok else 'FAIL'} {what}: runs, publishes, no "
              f"endpoint" + (f" -- {detail}" if detail else "")
              + f" (exit {rc})", flush=True)
        if not ok:
            bad.append(what)
    H.check(not bad, "every documented way to disable the endpoints works",
            bad)


if __name__ == "__main__":
    H.run_test(body, seed_nodes=3)
