"""Integration 9: write economy of the real binary. An idle cluster and
kubelet heartbeats (Node status changes that do not touch the published
fields) cause zero ConfigMap writes; a burst of 200 new Nodes is coalesced
into few writes (one in flight at a time), all published."""

import time

import harness as H


def heartbeat(h, name, i):
    h.fake.ctl("PATCH", f"/nodes/{name}", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady",
         "lastHeartbeatTime": f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}Z"}]},
        "metadata": {"annotations": {"example.com/beat": str(i)}}})


def body(h):
    h.instance("node-0000")
    H.wait_for(lambda: len(H.own_entries(h.fake.data())) == 6 * 20, 10,
               "20 nodes published")
    time.sleep(0.5)
    h.fake.ctl("DELETE", "/writes")
    time.sleep(2)
    H.check(h.fake.writes() == [], "an idle cluster: no ConfigMap write in 2 s",
            h.fake.writes())

    for i in range(40):
        heartbeat(h, f"node-{i % 20:04d}", i)
    time.sleep(1.5)
    H.check(h.fake.writes() == [], "40 heartbeats (status/annotation changes): "
            "no ConfigMap write", h.fake.writes())

    r = h.fake.ctl("POST", "/nodes/bulk", {"count": 200, "prefix": "burst-"})
    t0 = time.monotonic()
    H.check(r["created"] == 200, "200 Nodes created in one burst", r["created"])
    _, secs = H.wait_for(lambda: len(H.own_entries(h.fake.data())) == 6 * 220,
                         10, "220 nodes published")
    writes = h.fake.writes()
    print(f"     200 new nodes published after {secs * 1000:.0f} ms in "
          f"{len(writes)} write(s)")
    # One write in flight at a time, the rest coalesced: far fewer writes
    # than changes (a write per node would be 200).
    H.check(len(writes) <= 20, "the burst is coalesced (<= 20 writes for "
            "200 new nodes)", len(writes))
    nodes = h.fake.ctl("GET", "/nodes")
    probs = H.seed_format_problems(h.fake.data(), nodes)
    H.check(not probs, "all 220 entries complete, distinct addresses",
            probs[:5])


if __name__ == "__main__":
    H.run_test(body, "--seed-nodes", "20")
