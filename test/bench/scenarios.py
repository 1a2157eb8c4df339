"""The measurements of `make bench` (driven by test/bench/bench.py): cold
start of the real binary and of the floor client, idle, event latency and
churn, against the real kube-apiserver + etcd (or the fake), seen only
through the Kubernetes API.

Clocks: everything is time.time() of this machine. A process start is taken
right before the fork; a Node change right before its admin POST/DELETE is
sent ("request") and when the admin Node watch received its event ("seen");
a ConfigMap revision when the admin ConfigMap watch (fieldSelector on its
name) had received its last byte. So every latency includes the API
server's own work: storing in etcd and fanning the event out to watchers."""

import ipaddress
import json
import threading
import time

from benchlib import (CM_PATH, NAME, Product, bench_node, node_ip, percentile,
                      wait_until)
from cluster import ConfigMapWatch, NodeWatch

FLOOR_AGENT = "kcr-bench-floor/0"  # its own field manager, like any client


# --- the ConfigMap as stored -----------------------------------------------------------
def stored_size(cluster):
    """The ConfigMap as the API server returns it to an admin GET, compact
    JSON with and without metadata.managedFields, its data against the
    1 MiB limit, and (real server) the exact bytes etcd holds."""
    obj = json.loads(cluster.configmap_raw())
    compact = (lambda o: len(json.dumps(o, separators=(",", ":")).encode()))
    mf = obj["metadata"].pop("managedFields", [])
    data = obj.get("data") or {}
    return {"with_mf": compact(obj) + compact(mf) + len(',"managedFields":'),
            "without_mf": compact(obj), "mf_bytes": compact(mf),
            "managers": sorted({f"{m.get('manager')}/{m.get('operation')}" for m in mf}),
            "keys": len(data),
            "value_bytes": sum(len(v.encode()) for v in data.values()),
            "data_bytes": sum(len(k.encode()) + len(v.encode()) for k, v in data.items()),
            "etcd_bytes": cluster.etcd_value_bytes()}


def wait_quiet(watch, quiet=1.0, timeout=120):
    """Waits until the watch got nothing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = watch.events[-1][0] if watch.events else 0
        if time.time() - last >= quiet:
            return
        time.sleep(0.1)
    raise RuntimeError("ConfigMap writes did not settle")


# --- cold start -------------------------------------------------------------------------
def product_cold_start(cluster, binary, n, logdir, timeout, keep=False):
    """An empty ConfigMap, N Nodes already there; -> (result, product or None).
    Ends at the first ConfigMap revision (seen by the watch) holding N
    `Node-` keys (`Node-` is written last: N complete entries)."""
    cluster.reset_configmap()
    watch = ConfigMapWatch(cluster)
    server0 = cluster.server_cpu()
    prod = Product(binary, api=cluster.product_args(), logdir=logdir)
    res = {"n": n, "log": prod.log.name}
    try:
        def complete():
            done = watch.first_with(n)
            if done is None and not prod.alive():
                raise RuntimeError(f"kube-chorus-router exited (log {prod.log.name})")
            return done

        try:
            t, writes, size = wait_until(complete, timeout, f"all {n} entries in the ConfigMap",
                                         0.02)
        except RuntimeError as e:
            revs = watch.revisions()
            res.update(error=str(e), writes=len(revs), cpu=prod.cpu(), rss=prod.peak_rss_mib(),
                       best=max((len(r.node_keys) for r in revs), default=0))
            return res, None
        res.update(seconds=t - prod.started, writes=writes, cpu=prod.cpu(),
                   rss=prod.peak_rss_mib(), server_cpu=cluster.server_cpu() - server0,
                   rev_bytes=size)
        if keep:
            return res, prod
        return res, None
    finally:
        watch.stop()
        if not (keep and "error" not in res):
            prod.stop()


def floor_cold_start(cluster, n, data, timeout):
    """The unavoidable API work, by a minimal client on a fresh admin
    connection to the same server: one list of the N Nodes from the watch
    cache (resourceVersion=0, as the product asks; whole body read, not
    decoded) and one PUT of a ConfigMap with the product's final data.
    -> {seconds: until the ConfigMap watch saw it (the product's end
    point), answer: until the PUT's answer, status}."""
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": NAME, "namespace": "kube-system"},
                       "data": data}).encode()
    cluster.reset_configmap()
    watch = ConfigMapWatch(cluster)
    try:
        t0 = time.time()
        c = cluster.connect()
        c.request("GET", "/api/v1/nodes?resourceVersion=0",
                  headers={"Accept": "application/json", "User-Agent": FLOOR_AGENT})
        r = c.getresponse()
        listed = r.read()
        if r.status != 200 or listed.count(b'"InternalIP"') < n:
            raise RuntimeError(f"floor list: {r.status}")
        c.request("PUT", f"{CM_PATH}/{NAME}", body,
                  {"Content-Type": "application/json", "User-Agent": FLOOR_AGENT})
        r = c.getresponse()
        answer = r.read()
        t_answer = time.time()
        c.close()
        out = {"answer": t_answer - t0, "status": r.status}
        if r.status != 200:
            out["error"] = answer[:300].decode(errors="replace")
            return out
        try:
            seen = wait_until(lambda: watch.first_with(n), timeout,
                              "the floor's write on the watch", 0.01)
        except RuntimeError as e:  # the product's data was incomplete
            out["error"] = str(e)
            return out
        out["seconds"] = seen[0] - t0
        return out
    finally:
        watch.stop()


# --- idle -----------------------------------------------------------------------------------
def idle(cluster, prod, seconds):
    """Nothing changes for `seconds` (a periodic full sync included when the
    period is shorter): ConfigMap writes and Node annotation patches must
    be 0."""
    watch = ConfigMapWatch(cluster)
    patches = "kube_chorus_router_node_annotation_patches_total"
    try:
        cpu0, p0 = prod.cpu(), prod.metric(patches)
        time.sleep(seconds)
        return {"seconds": seconds, "writes": len(watch.revisions()), "cpu": prod.cpu() - cpu0,
                "patches": prod.metric(patches) - p0}
    finally:
        watch.stop()


# --- latency helpers ---------------------------------------------------------------------
def first_revisions(baseline, revs):
    """{(Node- key, ADDED|DELETED): first revision adding/removing it}."""
    first, prev = {}, baseline
    for r in revs:
        for k in r.node_keys - prev:
            first.setdefault((k, "ADDED"), r)
        for k in prev - r.node_keys:
            first.setdefault((k, "DELETED"), r)
        prev = r.node_keys
    return first


def change_latencies(baseline, revs, changes, seen):
    """changes: [(name, ip, ADDED|DELETED, t request)]; seen: the Node
    watch's {(name, type): t} -> latencies from the request and from the
    Node event as seen, the count of nodes whose add and delete both fell
    between two writes (coalesced away: never published, correctly) and
    the count of other changes no revision carried."""
    first = first_revisions(baseline, revs)
    kinds = {}
    for _, ip, typ, _ in changes:
        kinds.setdefault(ip, set()).add(typ)
    never = {ip for ip, k in kinds.items() if k == {"ADDED", "DELETED"}
             and not any((f"Node-{ip}", t) in first for t in k)}
    from_req, from_seen, missing = [], [], 0
    for name, ip, typ, t_req in changes:
        r = first.get((f"Node-{ip}", typ))
        if r is None:
            missing += ip not in never
            continue
        from_req.append(r.t - t_req)
        if (name, typ) in seen:
            from_seen.append(r.t - seen[(name, typ)])
    return from_req, from_seen, missing, len(never)


def stats(values):
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values)}


def node_key_set(cluster):
    data = json.loads(cluster.configmap_raw()).get("data") or {}
    return {k for k in data if k.startswith("Node-")}


def published(watch, after, ip, added):
    """Whether an event after index `after` carries (or, for a delete, no
    longer carries) the node's `Node-` key: checked on the raw bytes."""
    key = f'"Node-{ip}"'.encode()
    return any((key in line) == added for _, line in watch.events[after:])


def event_latency(cluster, count, settle=0.1, timeout=10):
    """`count` single adds, then their `count` deletes, one at a time: the
    next change is sent once the previous one is in a revision (plus
    `settle` s), so each is measured alone, not queued behind a write in
    flight."""
    nodes_w, cm_w = NodeWatch(cluster), ConfigMapWatch(cluster)
    try:
        time.sleep(0.5)
        baseline = node_key_set(cluster)
        nodes = [bench_node(10000 + i) for i in range(count)]
        changes = []
        for typ in ("ADDED", "DELETED"):
            for nd in nodes:
                name, ip, before = nd["metadata"]["name"], node_ip(nd), len(cm_w.events)
                t = time.time()
                if typ == "ADDED":
                    cluster.call("POST", "/api/v1/nodes", nd)
                else:
                    cluster.call("DELETE", f"/api/v1/nodes/{name}")
                changes.append((name, ip, typ, t))
                deadline = time.monotonic() + timeout
                while (not published(cm_w, before, ip, typ == "ADDED")
                       and time.monotonic() < deadline):
                    time.sleep(0.005)
                time.sleep(settle)
        wait_quiet(cm_w, 2.0)
        revs = cm_w.revisions()
        req, seen, missing, _ = change_latencies(baseline, revs, changes, nodes_w.seen())
        if not req:
            raise RuntimeError("no change reached the ConfigMap")
        return {"changes": len(changes), "missing": missing, "writes": len(revs),
                "request": stats(req), "seen": stats(seen)}
    finally:
        nodes_w.stop()
        cm_w.stop()


def server_write_latency(cluster, count):
    """The API server's own share of one change: an admin one-key merge
    patch of a copy of the product's ConfigMap (same data, other name) ->
    its revision seen on a watch; `count` times, one at a time."""
    copy = "kcr-bench-copy"
    data = json.loads(cluster.configmap_raw()).get("data") or {}
    cluster.call("DELETE", f"{CM_PATH}/{copy}", ok=(200, 202, 404))
    # Created empty, then filled by a merge patch that resets managedFields,
    # as the product writes: a POST of the whole data would record every key
    # in managedFields, over etcd's limit at 5000 Nodes (the API server then
    # retries without them and logs "request is too large").
    cluster.call("POST", CM_PATH, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": copy}, "data": {}})
    cluster.call("PATCH", f"{CM_PATH}/{copy}", {"metadata": {"managedFields": [{}]}, "data": data},
                 ctype="application/merge-patch+json")
    watch = ConfigMapWatch(cluster, copy)
    out = []
    try:
        for i in range(count):
            t = time.time()
            cluster.call("PATCH", f"{CM_PATH}/{copy}", {"data": {"kcr-bench-probe": str(i)}},
                         ctype="application/merge-patch+json")
            seen = wait_until(lambda: len(watch.events) > i and watch.events[i][0], 30,
                              "the probe's revision", 0.001)
            out.append(seen - t)
            time.sleep(0.05)
    finally:
        watch.stop()
        cluster.call("DELETE", f"{CM_PATH}/{copy}", ok=(200, 202, 404))
    return stats(out)


# --- churn ---------------------------------------------------------------------------------
def churn_ops(count, lag, first=20000):
    """`count` adds and `count` deletes of Nodes bench-<first>...; node j is
    deleted `lag` adds after it was added."""
    nodes = [bench_node(first + i) for i in range(count)]
    ops = []
    for j in range(count + lag):
        if j < count:
            ops.append(("ADDED", nodes[j]))
        if j >= lag:
            ops.append(("DELETED", nodes[j - lag]))
    return ops


def send_on_schedule(cluster, ops, rate, workers):
    """Op k is sent at t0 + k/rate by worker k mod `workers` (each on its
    own kept-alive connection) -> ([(t request, status, seconds)], span)."""
    done = [None] * len(ops)
    t0 = time.time() + 0.1

    def worker(w):
        for k in range(w, len(ops), workers):
            delay = t0 + k / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            typ, nd = ops[k]
            t = time.time()
            if typ == "ADDED":
                st = cluster.call("POST", "/api/v1/nodes", nd, ok=None)[0]
            else:
                st = cluster.call("DELETE", f"/api/v1/nodes/{nd['metadata']['name']}",
                                  ok=None)[0]
            done[k] = (t, st, time.time() - t)

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return done, time.time() - t0


# The product's own account of its ConfigMap writes (docs/operations.md).
WRITE_METRICS = {"written": ("kube_chorus_router_configmap_written_bytes_total", ""),
                 "budget_wait": ("kube_chorus_router_configmap_write_budget_wait_seconds_total", ""),
                 "size_warnings": ("kube_chorus_router_configmap_size_warnings_total", ""),
                 "write_errors": ("kube_chorus_router_configmap_writes_total", 'result="error"')}


def write_metrics(prod):
    return {k: prod.metric(name, labels) for k, (name, labels) in WRITE_METRICS.items()}


def churn(cluster, prod, count, rate, lag=100, workers=8):
    """Adds and deletes on schedule; the product's write metrics over the
    window from the first operation to the last revision."""
    ops = churn_ops(count, lag)
    db0 = etcd_db(cluster)
    nodes_w, cm_w = NodeWatch(cluster), ConfigMapWatch(cluster)
    try:
        time.sleep(0.5)
        baseline = node_key_set(cluster)
        m0, t0 = write_metrics(prod), time.time()
        sent, span = send_on_schedule(cluster, ops, rate, workers)
        wait_quiet(cm_w, 2.0)
        m1 = write_metrics(prod)
        revs = cm_w.revisions()
        changes = [(nd["metadata"]["name"], node_ip(nd), typ, s[0])
                   for (typ, nd), s in zip(ops, sent)]
        req, seen, missing, coalesced = change_latencies(baseline, revs, changes,
                                                          nodes_w.seen())
    finally:
        nodes_w.stop()
        cm_w.stop()
    refused = [s[1] for s in sent if s[1] not in (200, 201)]
    wspan = revs[-1].t - revs[0].t if len(revs) > 1 else 0
    window = max((revs[-1].t if revs else 0) - t0, span)
    return {"window": window, "metrics": {k: m1[k] - m0[k] for k in m1},
            "rev_bytes_per_s": sum(r.size for r in revs) / window,"ops": len(ops), "rate": len(ops) / span, "writes": len(revs),
            "writes_per_s": len(revs) / max(wspan, span), "request": stats(req),
            "seen": stats(seen), "missing": missing, "coalesced": coalesced,
            "refused": refused, "op_seconds": stats([s[2] for s in sent]),
            "written_bytes": sum(r.size for r in revs),
            "max_rev_bytes": max((r.size for r in revs), default=0),
            "max_mf_bytes": max((r.mf_bytes for r in revs), default=0),
            "etcd_before": db0, "etcd_after": etcd_db(cluster),
            "check": check_final_state(cluster)}


def etcd_db(cluster):
    return {"total": cluster.etcd_metric("etcd_mvcc_db_total_size_in_bytes"),
            "in_use": cluster.etcd_metric("etcd_mvcc_db_total_size_in_use_in_bytes")}


# --- the final ConfigMap against the Nodes ----------------------------------------------------
def check_final_state(cluster):
    """-> "ok" or what is wrong: every existing Node has exactly one complete
    entry (Host-uid, Node-, Interface-, Mac-, CNI-), no entry of a gone node
    is left, overlay IPs are unique."""
    data = json.loads(cluster.configmap_raw()).get("data") or {}
    want = {node_ip(nd): nd for nd in cluster.nodes()}
    problems = []
    have = {k[5:] for k in data if k.startswith("Node-")}
    if have != set(want):
        problems.append(f"Node- keys: {len(have - set(want))} extra, "
                        f"{len(set(want) - have)} missing")
    overlay = set()
    for ip, nd in want.items():
        if data.get(f"Host-{nd['metadata']['uid']}") != ip:
            problems.append(f"Host- of {ip}")
        ov = data.get(f"Interface-{ip}")
        if not ov:
            problems.append(f"Interface- of {ip}")
            continue
        if ov in overlay:
            problems.append(f"overlay IP {ov} twice")
        overlay.add(ov)
        mac = "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(ov).packed)
        if data.get(f"Mac-{ip}") != mac:
            problems.append(f"Mac- of {ip}")
        pod = ipaddress.ip_network(nd["spec"]["podCIDR"])
        if data.get(f"CNI-{ip}") != f"{pod.network_address + 1}/{pod.prefixlen}":
            problems.append(f"CNI- of {ip}")
    for k in data:
        for p in ("Interface-", "Mac-", "CNI-", "Node-", "Name-"):
            if k.startswith(p) and k[len(p):] not in want:
                problems.append(f"stale key {k}")
    if problems:
        return f"WRONG ({len(problems)}): " + "; ".join(problems[:5])
    return f"ok ({len(want)} nodes)"
