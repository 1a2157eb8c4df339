"""Integration 6b: 401 Unauthorized. The binary runs with a wrong bearer
token (a kubeconfig tokenFile; the real server answers its own 401): it
logs a clear Unauthorized line, keeps running and retrying, and publishes
once the file holds a valid token (the ServiceAccount's on the real server),
which it re-reads after a 401 as it would a rotated token."""

import os
import time

import harness as H

WRONG = "not-the-right-token"


def write(path, token):
    with open(path + ".new", "w") as f:
        f.write(token + "\n")
    os.replace(path + ".new", path)  # atomic, as the kubelet rotates it


def unauthorized_lines(log):
    return [l for l in log.splitlines() if "unauthorized" in l.lower()]


def body(h):
    token_file = os.path.join(h.workdir, "token")
    write(token_file, WRONG)
    inst = h.instance("node-0000", token_file=token_file)
    lines, secs = H.wait_for(lambda: unauthorized_lines(inst.logs()), 5,
                             "a log line saying Unauthorized")
    print(f"     after {secs * 1000:.0f} ms: {lines[0]}")
    H.check(True, "a clear Unauthorized log line")
    H.check(any("401" in l or "token" in l.lower() or "credential" in l.lower()
                for l in lines),
            "the line says why (401 / token / credentials)", lines[:3])
    time.sleep(3)
    reqs = [r for r in h.cluster.requests() if r["status"] == 401]
    H.check(inst.alive(), "the binary keeps running while unauthorized")
    H.check(len(reqs) >= 3, "it keeps retrying (>= 3 requests answered 401 "
            "in ~3 s)", len(reqs))
    n = len(unauthorized_lines(inst.logs()))
    print(f"     {len(reqs)} requests answered 401, {n} Unauthorized log lines")
    H.check(n <= len(reqs), "at most one log line per failed request",
            (n, len(reqs)))
    status, _ = inst.healthz("/healthz")
    H.check(status == 200, "/healthz still answers 200", status)
    status, _ = inst.healthz("/readyz")
    H.check(status != 200, "/readyz is not 200 while it cannot list nodes",
            status)

    # A valid token arrives in the file (e.g. the Secret was fixed).
    write(token_file, h.cluster.binary_token)
    nodes = h.cluster.nodes()
    data, secs = H.wait_for(
        lambda: (d := h.cluster.data()) and not H.seed_format_problems(d, nodes)
        and d, 35, "the ConfigMap published once the token is valid")
    print(f"     recovered {secs * 1000:.0f} ms after the token was fixed")
    H.check(True, "recovers: all nodes published once authorized")
    H.wait_for(lambda: inst.healthz("/readyz")[0] == 200, 5, "/readyz 200")
    H.check(True, "/readyz 200 after recovery")


if __name__ == "__main__":
    H.run_test(body, seed_nodes=5)
