"""Integration 6a: 403 Forbidden. The binary's ServiceAccount may not
`patch configmaps` (on the real server: the shipped Role without that verb;
on the fake: its --forbid rule); the ConfigMap exists already (so the first
write is a patch). The binary logs a clear line naming the missing
permission (verb and resource), keeps running and retrying, and publishes
once the rule is added back (the Role updated)."""

import time

import harness as H


def forbidden_lines(log):
    return [l for l in log.splitlines()
            if "patch" in l and "configmaps" in l
            and ("forbidden" in l.lower() or "403" in l)]


def body(h):
    h.cluster.create_configmap(
        {"device.example.com-note": "made by an operator"})
    inst = h.instance("node-0000")
    lines, secs = H.wait_for(lambda: forbidden_lines(inst.logs()), 5,
                             "a log line naming 'patch' and 'configmaps'")
    print(f"     after {secs * 1000:.0f} ms: {lines[0]}")
    H.check(True, "a clear log line names the missing permission "
            "(patch configmaps)")
    t0 = time.monotonic()
    time.sleep(3)
    n = len(forbidden_lines(inst.logs()))
    tries = [r for r in h.cluster.requests()
             if r["method"] == "PATCH" and "/configmaps/" in r["path"]
             and r["status"] == 403]
    H.check(inst.alive(), "the binary keeps running while forbidden")
    H.check(len(tries) >= 2, "it retries the patch (>= 2 forbidden PATCHes in "
            f"{time.monotonic() - t0 + secs:.1f} s)", len(tries))
    print(f"     {len(tries)} forbidden PATCHes, {n} matching log lines")
    H.check(n <= len(tries), "at most one log line per failed attempt",
            (n, len(tries)))
    H.check("Host-" not in "".join(h.cluster.data()),
            "nothing was published while forbidden")
    status, _ = inst.healthz("/healthz")
    H.check(status == 200, "/healthz still answers 200", status)

    h.cluster.forbid([])
    nodes = h.cluster.nodes()
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()) and not H.seed_format_problems(d, nodes)
        and d, 35, "the ConfigMap published after the rule was lifted")
    print(f"     recovered {secs * 1000:.0f} ms after the rule was lifted")
    H.check(True, "recovers: all nodes published once permitted")
    H.check(data.get("device.example.com-note") == "made by an operator",
            "the operator's key was kept")


if __name__ == "__main__":
    H.run_test(body, seed_nodes=5, forbid=["patch:configmaps"])
