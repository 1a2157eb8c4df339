"""The measurements of `make bench` (driven by test/bench/bench.py): cold
start of the real binary and of the floor client, idle, event latency and
churn against the fake API server. Every time is taken from the fake's own
clock (time.time() in the same machine): the process start is the parent's
time.time() right before the fork, a ConfigMap write's time is when the fake
stored it, an event's time is when the fake wrote it to the watch stream."""

import http.client
import ipaddress
import json
import time

from benchlib import (CM_PATH, NAME, NS, Fake, Product, bench_node, node_ip,
                      percentile, quiet_writes, wait_until)


# --- cold start -------------------------------------------------------------------
def product_cold_start(binary, n, logdir, keep=False):
    """N seeded Nodes, an empty ConfigMap; -> (result dict, fake, product)
    (both stopped unless keep)."""
    fake = Fake(seed_nodes=n, logdir=logdir)
    fake.create_empty_configmap()
    fake.ctl("DELETE", "/writes")
    prod = None
    try:
        fake_cpu0 = fake.cpu()
        prod = Product(binary, fake.url, logdir=logdir)

        def complete():
            if not prod.alive():
                raise RuntimeError(f"kube-chorus-router exited (log {prod.log.name})")
            for w in fake.writes():
                if w.get("node_keys") == n:
                    return w
            return None

        done = wait_until(complete, 120, f"all {n} entries in the ConfigMap", 0.02)
        cpu, rss = prod.cpu(), prod.peak_rss_mib()
        fake_cpu = fake.cpu() - fake_cpu0
        writes = [w for w in fake.writes() if w["t"] <= done["t"]]
        res = {"n": n, "seconds": done["t"] - prod.started, "writes": len(writes),
               "cpu": cpu, "rss": rss, "fake_cpu": fake_cpu,
               "value_bytes": done["value_bytes"], "data_bytes": done["data_bytes"]}
        if keep:
            return res, fake, prod
        return res, None, None
    finally:
        if not keep:
            if prod:
                prod.stop()
            fake.stop()


def floor_cold_start(n, data, runs, logdir):
    """The unavoidable API work: one list of the N Nodes (the whole body read)
    and one PUT of a ConfigMap as large as the product's final one, on a
    fresh connection to a fresh fake (like the product: the fake serialises
    each object on first use). Decoding and building JSON are left out on
    purpose: the floor is the fake's and the wire's share only. -> [s]."""
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": NAME, "namespace": NS},
                       "data": data}).encode()
    out = []
    for _ in range(runs):
        fake = Fake(seed_nodes=n, logdir=logdir)
        try:
            fake.create_empty_configmap()
            t0 = time.time()
            c = http.client.HTTPConnection(fake.host, fake.port, timeout=60)
            c.request("GET", "/api/v1/nodes")
            r = c.getresponse()
            listed = r.read()
            if r.status != 200 or listed.count(b'"InternalIP"') < n:
                raise RuntimeError(f"floor list: {r.status}")
            c.request("PUT", f"{CM_PATH}/{NAME}", body,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"floor PUT: {r.status}")
            out.append(time.time() - t0)
            c.close()
        finally:
            fake.stop()
    return out


# --- idle -----------------------------------------------------------------------------
def idle(fake, prod, seconds):
    """Nothing changes for `seconds` (a periodic full sync included when the
    period is shorter): writes must be 0."""
    quiet_writes(fake)
    fake.ctl("DELETE", "/writes")
    cpu0 = prod.cpu()
    time.sleep(seconds)
    return {"seconds": seconds, "writes": len(fake.writes()), "cpu": prod.cpu() - cpu0}


# --- latency helpers ---------------------------------------------------------------------
def change_latencies(fake, changes):
    """changes: [(name, ip, "ADDED"|"DELETED")] -> (latencies, stored latencies,
    missing count, writes): for each change, its first ConfigMap write that
    contains it (adds: Node-<ip> added, deletes: removed); latency = when that
    write's request reached the fake (headers in, before the fake decodes the
    body) minus when the change's watch event was emitted; `stored` uses the
    time the fake had stored it (adds the Python fake's decode of the body)."""
    writes = fake.writes()
    emitted = fake.emitted_nodes()
    first = {}
    for w in writes:
        for k in w.get("node_keys_added", []):
            first.setdefault((k, "ADDED"), w)
        for k in w.get("node_keys_removed", []):
            first.setdefault((k, "DELETED"), w)
    lat, stored, missing = [], [], 0
    for name, ip, typ in changes:
        te = emitted.get((name, typ))
        w = first.get((f"Node-{ip}", typ))
        if te is None or w is None:
            missing += 1
            continue
        lat.append(w["t_received"] - te)
        stored.append(w["t"] - te)
    return lat, stored, missing, writes


def event_latency(fake, count, spacing):
    """`count` single adds, then their `count` deletes, `spacing` s apart."""
    quiet_writes(fake)
    fake.ctl("DELETE", "/writes")
    fake.ctl("DELETE", "/emitted")
    nodes = [bench_node(10000 + i) for i in range(count)]
    changes = []
    for typ in ("ADDED", "DELETED"):
        for nd in nodes:
            name = nd["metadata"]["name"]
            if typ == "ADDED":
                fake.ctl("POST", "/nodes", nd)
            else:
                fake.ctl("DELETE", f"/nodes/{name}")
            changes.append((name, node_ip(nd), typ))
            time.sleep(spacing)
    quiet_writes(fake)
    lat, stored, missing, writes = change_latencies(fake, changes)
    if not lat:
        raise RuntimeError("no change reached the ConfigMap")
    return {"changes": len(changes), "missing": missing, "writes": len(writes),
            "p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat),
            "stored_p50": percentile(stored, 50), "stored_p99": percentile(stored, 99),
            "stored_max": max(stored)}


# --- churn ---------------------------------------------------------------------------------
def churn(fake, count, rate, lag=100):
    """`count` adds and `count` deletes at `rate` operations per second; node
    j is deleted `lag` adds after it was added."""
    quiet_writes(fake)
    fake.ctl("DELETE", "/writes")
    fake.ctl("DELETE", "/emitted")
    nodes = [bench_node(20000 + i) for i in range(count)]
    ops = []
    for j in range(count + lag):
        if j < count:
            ops.append(("ADDED", nodes[j]))
        if j >= lag:
            ops.append(("DELETED", nodes[j - lag]))
    t0 = time.time()
    for k, (typ, nd) in enumerate(ops):
        delay = t0 + k / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        if typ == "ADDED":
            fake.ctl("POST", "/nodes", nd)
        else:
            fake.ctl("DELETE", f"/nodes/{nd['metadata']['name']}")
    sent = time.time() - t0
    writes = quiet_writes(fake, quiet=2.0)
    changes = [(nd["metadata"]["name"], node_ip(nd), typ) for typ, nd in ops]
    lat, stored, missing, writes = change_latencies(fake, changes)
    span = max(writes[-1]["t"] - writes[0]["t"], 1e-9) if writes else 0
    return {"ops": len(ops), "rate": len(ops) / sent, "writes": len(writes),
            "writes_per_s": len(writes) / max(span, sent), "worst_lag": max(lat),
            "p99_lag": percentile(lat, 99), "worst_stored": max(stored), "missing": missing,
            "check": check_final_state(fake)}


# --- the final ConfigMap against the Nodes ----------------------------------------------------
def check_final_state(fake):
    """-> "ok" or what is wrong: every existing Node has exactly one complete
    entry (Host-uid, Node-, Interface-, Mac-, CNI-), no entry of a gone node
    is left, overlay IPs are unique."""
    data = fake.configmap().get("data") or {}
    nodes = fake.ctl("GET", "/nodes")
    problems = []
    want = {}
    for nd in nodes:
        want[node_ip(nd)] = nd
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
