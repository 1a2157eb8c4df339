#!/usr/bin/env python3
"""The campaign's judges can fail: exact_problems() names every kind of
difference (a wrong value, a missing or stray own key, a duplicate overlay
address, a hostile pod range published), duplicates() sees a shared address,
the ping log parser counts a lost echo only when no reply ever came, and a
fault that hit the leader lasts until a renewal sent after it.
No root, no cluster: pure functions on hand-made inputs."""

import os
import random
from datetime import datetime, timezone
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "devcluster"))
sys.path.insert(0, HERE)
import faultkinds as fk  # noqa: E402
import observe as ob  # noqa: E402

FAILED = []


def check(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}", flush=True)
    if not cond:
        FAILED.append(what)


def node(name, uid, ip, rng, created, spec=True):
    n = {"metadata": {"name": name, "uid": uid, "creationTimestamp": created,
                      "annotations": {}},
         "spec": {"podCIDR": rng, "podCIDRs": [rng]} if spec else {},
         "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}
    if not spec:
        n["metadata"]["annotations"][ob.CILIUM] = rng
    return n


def entry(n, overlay):
    ip = ob.internal_ip(n)
    net = ob.pod_ranges(n)[0].rsplit(".", 1)[0]
    return {f"Host-{n['metadata']['uid']}": ip, f"Node-{ip}": ip,
            f"Name-{ip}": n["metadata"]["name"], f"CNI-{net}.1/24": None,
            f"Interface-{ip}": overlay, f"Mac-{ip}": ob.mac_of(overlay)}


def data_for(pairs):
    d = {"EndpointIP": ob.ENDPOINT, "Type": "VXLAN", "foreign": "x"}
    for n, ov in pairs:
        e = entry(n, ov)
        ip = ob.internal_ip(n)
        e.pop(next(k for k in e if k.startswith("CNI-")))
        e[f"CNI-{ip}"] = ob.pod_ranges(n)[0].rsplit(".", 1)[0] + ".1/24"
        d.update(e)
    return d


def check_leader_faults():
    lease = {"spec": {"holderIdentity": "controller-2_x",
                      "renewTime": "2026-12-01T23:00:01.250000Z"}}
    t = datetime(2026, 12, 1, 23, 0, 1, 250000, tzinfo=timezone.utc).timestamp()
    check(fk.renewed_after(lease, t - 0.001) and not fk.renewed_after(lease, t + 0.001),
          "renewed_after() compares renewTime to the microsecond")
    check(not fk.renewed_after({"spec": {}}, 0) and not fk.renewed_after(None, 0),
          "a Lease without renewTime was not renewed")

    class Cluster:
        controllers = [1, 2]

        def leader(self):
            return "controller-2", "controller-2_x"
    ctx = type("Ctx", (), {"cluster": Cluster()})()
    picks = [fk.pick_controller(ctx, random.Random(s)) for s in range(200)]
    check(all(leads == (name == "controller-2") for name, leads in picks),
          "pick_controller() says leader exactly when it picked the leader")


def main():
    a = node("node-1", "u1", "198.51.100.11", "10.244.1.0/24", "2026-01-01T00:00:00Z")
    b = node("churn-0", "u2", "203.0.113.10", "10.100.0.0/24", "2026-01-01T00:00:01Z", False)
    good = data_for([(a, "192.168.254.1"), (b, "192.168.254.2")])
    first = {"node-1"}
    check(ob.exact_problems(good, [a, b], first) == [], "the exact state has no problems")
    for what, change in [
            ("a garbage value", lambda d: d.update({"CNI-203.0.113.10": "garbage"})),
            ("a missing own key", lambda d: d.pop("Name-198.51.100.11")),
            ("a stray own key", lambda d: d.update({"Node-203.0.113.99": "203.0.113.99"})),
            ("a wrong MAC", lambda d: d.update({"Mac-203.0.113.10": "0a:58:00:00:00:00"})),
            ("a duplicate address", lambda d: d.update({"Interface-203.0.113.10": "192.168.254.1",
                                                       "Mac-203.0.113.10": ob.mac_of(
                                                           "192.168.254.1")})),
            ("the EndpointIP changed", lambda d: d.update({"EndpointIP": "192.168.254.9"}))]:
        d = dict(good)
        change(d)
        check(ob.exact_problems(d, [a, b], first) != [], f"{what} is a problem")
    check(ob.duplicates({"Interface-x": "192.168.254.1", "Interface-y": "192.168.254.1"}) != {},
          "duplicates() sees a shared overlay address")
    check(ob.duplicates(good) == {}, "duplicates() is quiet on distinct addresses")
    for hostile in ["0.0.0.0/0", "10.0.0.0/8", "10.244.1.0/24", "198.51.100.0/24",
                    "192.168.254.0/25"]:
        h = node("churn-1", "u3", "203.0.113.11", hostile, "2026-01-01T00:00:02Z", False)
        check(ob.exact_problems(good, [a, b, h], first) == [],
              f"a node claiming {hostile} must have no entry")
        bad = dict(good, **{"Node-203.0.113.11": "203.0.113.11"})
        check(ob.exact_problems(bad, [a, b, h], first) != [],
              f"an entry published for {hostile} is a problem")
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
        f.write("PING 10.244.1.10 (10.244.1.10) 56(84) bytes of data.\n"
                "[100.000000] 64 bytes from 10.244.1.10: icmp_seq=1 ttl=63 time=0.1 ms\n"
                "[100.400000] no answer yet for icmp_seq=2\n"
                "[100.600000] no answer yet for icmp_seq=3\n"
                "[100.700000] 64 bytes from 10.244.1.10: icmp_seq=3 ttl=63 time=500 ms\n"
                "[100.800000] 64 bytes from 10.244.1.10: icmp_seq=4 ttl=63 time=0.1 ms\n")
    p = ob.Pinger.__new__(ob.Pinger)
    p.log_path = f.name
    sent, lost = p.result()
    os.unlink(f.name)
    check(sent == 4 and len(lost) == 1 and abs(lost[0] - 100.2) < 1e-6,
          f"ping log: 4 sent, seq 2 lost at 100.2 (a late reply is no loss): {sent}, {lost}")
    check_leader_faults()
    print("invariants_test:", "FAILED" if FAILED else "PASSED")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
