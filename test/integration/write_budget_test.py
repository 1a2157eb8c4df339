"""Integration: ConfigMap writes on the real server cost what they store.

1. Every write resets managedFields: after the binary published 40 Nodes and
   a few changes, the stored ConfigMap (admin GET) has no managedFields and
   the publisher's stored-size metric matches the object.
2. The API traffic metrics move for every resource the instance uses.
3. A churn of Node adds and deletes with --configmap-write-budget=64Ki is
   written at no more than the budget (bytes = each write's whole object, as
   etcd stores it; plus one bucket), coalescing the changes, and ends exact."""

import json
import threading
import time

import harness as H

BUDGET = 64 * 1024  # bytes per second, the flag of the second instance


def stored(h):
    """The ConfigMap as an admin reads it, and its size as JSON."""
    cm = h.cluster.configmap()
    return cm, len(json.dumps(cm, separators=(",", ":")))


def published(h, count):
    return len(H.own_entries(h.cluster.data())) == 6 * count


def traffic(inst, direction, resource):
    return H.metric_sum(inst.metrics_text(),
                        f"kube_chorus_router_api_{direction}_bytes_total",
                        resource=resource) or 0


def reset_and_metrics(h):
    inst = h.instance("node-0000")
    H.wait_for(lambda: published(h, 40), 30, "40 nodes published")
    h.cluster.create_nodes(3, "extra-")
    h.cluster.delete_node("node-0005")
    H.wait_for(lambda: published(h, 42), 15, "3 added, 1 deleted: 42 published")
    cm, size = stored(h)
    H.check("managedFields" not in cm["metadata"],
            "the stored ConfigMap has no managedFields",
            str(cm["metadata"].get("managedFields"))[:300])
    text = inst.metrics_text()
    stored_metric = H.metric_sum(text, "kube_chorus_router_configmap_bytes",
                                 size="stored")
    encoded = H.metric_sum(text, "kube_chorus_router_configmap_bytes",
                           size="encoded")
    print(f"     stored object {size} B; metrics: stored {stored_metric:.0f} B, "
          f"encoded {encoded:.0f} B")
    H.check(abs(stored_metric - size) <= 0.02 * size,
            "the stored-size metric is the object's size", stored_metric)
    H.check(abs(encoded - size) <= 0.05 * size,
            "the encoded-size estimate is within 5 % of it", encoded)
    for resource in ("nodes", "configmaps", "leases"):
        got, sent = traffic(inst, "received", resource), traffic(inst, "sent", resource)
        print(f"     {resource}: received {got:.0f} B, sent {sent:.0f} B")
        H.check(got > 0 and sent > 0, f"API traffic counted for {resource}")
    before = traffic(inst, "received", "nodes")
    h.cluster.create_nodes(1, "extra-")
    H.wait_for(lambda: published(h, 43), 15, "one more node published")
    H.check(traffic(inst, "received", "nodes") > before,
            "the Node watch's bytes are counted as they arrive")
    H.term_and_wait(inst)


def written_metric(inst):
    return H.metric(inst.metrics_text(), "kube_chorus_router_configmap_written_bytes_total")


def churn(h, adds, deletes, spacing):
    """Adds and deletes Nodes one at a time from two threads."""
    def add():
        for _ in range(adds):
            h.cluster.create_nodes(1, "churn-")
            time.sleep(spacing)

    def delete():
        for i in range(deletes):
            h.cluster.delete_node(f"node-{10 + i:04d}")
            time.sleep(spacing)
    threads = [threading.Thread(target=add), threading.Thread(target=delete)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def budgeted_churn(h):
    inst = h.instance("node-0000", f"--configmap-write-budget={BUDGET // 1024}Ki")
    H.wait_for(lambda: H.metric(inst.metrics_text(), "kube_chorus_router_leader") == 1,
               30, "the budgeted instance leads")
    time.sleep(3)  # quiet: its bucket is full
    h.cluster.clear_writes()
    counted_before = written_metric(inst)
    t0 = time.monotonic()
    churn(h, adds=120, deletes=25, spacing=0.05)
    expected = 43 + 120 - 25
    _, secs = H.wait_for(lambda: published(h, expected), 60,
                         f"{expected} nodes published after the churn")
    elapsed = time.monotonic() - t0
    problems = H.seed_format_problems(h.cluster.data(), h.cluster.nodes())
    H.check(not problems, "the final state is exact", problems[:5])
    cm, size = stored(h)
    # Each write stores the whole object; its size is estimated from its key count (the watch
    # reports it) and the final object's bytes per key (all keys are alike).
    log = h.cluster.writes()
    per_key = size / len(cm["data"])
    written = sum(w["data_keys"] * per_key for w in log)
    writes = len(log)
    counted = written_metric(inst) - counted_before
    allowed = BUDGET * elapsed + 2 * size  # the budget over the time, plus one bucket
    waited = H.metric(inst.metrics_text(),
                      "kube_chorus_router_configmap_write_budget_wait_seconds_total")
    print(f"     145 changes in {elapsed:.1f} s ({secs:.1f} s after the churn to the "
          f"exact state): {writes} writes, {written:.0f} B in all (objects of "
          f"{log[0]['data_keys'] * per_key:.0f} to {size} B), "
          f"{written / elapsed / 1024:.1f} KiB/s (budget {BUDGET // 1024} KiB/s, allowed "
          f"{allowed:.0f} B); the publisher counted {counted:.0f} B; waited {waited:.1f} s "
          f"for the budget")
    H.check(counted <= allowed, "the churn is written within the budget (as counted by the "
            "publisher)", counted)
    # The estimate from the watch is approximate (bytes per key): 5 % leeway.
    H.check(written <= 1.05 * allowed, "... and as seen by an admin watch", written)
    H.check(abs(counted - written) <= 0.05 * written,
            "the publisher's count matches the writes seen", (counted, written))
    H.check(writes < 145, "changes coalesced while waiting", writes)
    H.check(waited > 0, "the wait for the budget is measured", waited)
    time.sleep(2)
    h.cluster.clear_writes()
    time.sleep(3)
    H.check(h.cluster.writes() == [], "idle again: no write in 3 s", h.cluster.writes())


def body(h):
    reset_and_metrics(h)
    budgeted_churn(h)


if __name__ == "__main__":
    H.run_test(body, seed_nodes=40)
