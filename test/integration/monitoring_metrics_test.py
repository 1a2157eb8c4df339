"""Integration: /metrics of two instances of the real binary (leader +
follower, --run-tunnel=false) on the real control plane.

- The leader-only series (overlay_addresses, nodes_waiting,
  pod_ranges_refused, configmap_*, node_annotation_patches) are on the
  leader's /metrics and absent from the follower's (not 0/0); after the
  leader stops (SIGTERM releases the Lease) the follower leads and shows them.
- kube_chorus_router_build_info carries what `--version` prints.
- process_* metrics are there and sane: RSS > 1 MB, start time within the
  seconds around the instance's start, open fds within the limit.
- last successful sync per actor: leader_elector on both, publisher and
  allocator on the leader only, recent.
- nodes_waiting by reason: a Node without a pod CIDR is counted under
  no-pod-range."""

import re
import signal
import subprocess
import time

import harness as H

LEADER_ONLY = ["kube_chorus_router_overlay_addresses",
               "kube_chorus_router_nodes_waiting",
               "kube_chorus_router_configmap_writes_total",
               "kube_chorus_router_configmap_bytes",
               "kube_chorus_router_configmap_written_bytes_total",
               "kube_chorus_router_configmap_size_warnings_total",
               "kube_chorus_router_configmap_write_budget_wait_seconds_total",
               "kube_chorus_router_node_annotation_patches_total",
               "kube_chorus_router_pod_ranges_refused"]
LAST_SYNC = "kube_chorus_router_last_sync_success_timestamp_seconds"


def names(text):
    """Metric names with at least one sample."""
    return {re.split(r"[{ ]", line, 1)[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def version_labels(binary):
    out = subprocess.run([binary, "--version"], capture_output=True,
                         text=True, timeout=10).stdout
    m = re.match(r"kube-chorus-router (\S+) \(git (\S+)\)", out)
    H.check(m, "--version prints the version and the git revision", out)
    return m.group(1), m.group(2)


def check_process(inst, started):
    text = inst.metrics_text()
    rss = H.metric(text, "process_resident_memory_bytes")
    start = H.metric(text, "process_start_time_seconds")
    fds = H.metric(text, "process_open_fds")
    max_fds = H.metric(text, "process_max_fds")
    cpu = H.metric(text, "process_cpu_seconds_total")
    vsz = H.metric(text, "process_virtual_memory_bytes")
    print(f"     {inst.node}: rss {rss} vsz {vsz} cpu {cpu} fds {fds}/{max_fds} "
          f"start {start} (launched {started:.2f})")
    H.check(rss is not None and rss > 1e6, f"{inst.node}: process_resident_memory_bytes > 1 MB", rss)
    H.check(vsz is not None and vsz >= rss, f"{inst.node}: process_virtual_memory_bytes >= RSS", vsz)
    # /proc's boot time has whole seconds and follows clock steps since boot: a minute's slack.
    H.check(start is not None and abs(start - started) < 60 and start > time.time() - 3600,
            f"{inst.node}: process_start_time_seconds within a minute of the launch", (start, started))
    H.check(fds is not None and max_fds is not None and 3 <= fds <= max_fds,
            f"{inst.node}: 3 <= process_open_fds <= process_max_fds", (fds, max_fds))
    H.check(cpu is not None and 0 <= cpu < time.time() - started + 1,
            f"{inst.node}: process_cpu_seconds_total within its run time", cpu)


def check_build_info(inst, version, revision):
    text = inst.metrics_text()
    want = f'kube_chorus_router_build_info{{version="{version}",revision="{revision}"}} 1'
    lines = [x for x in text.splitlines() if x.startswith("kube_chorus_router_build_info")]
    # The label order is the exporter's; compare as sets of labels.
    got = [(dict(re.findall(r'(\w+)="([^"]*)"', x)), x.rsplit(" ", 1)[1]) for x in lines]
    H.check(got == [({"version": version, "revision": revision}, "1")],
            f"{inst.node}: {want}", lines)


def body(h):
    version, revision = version_labels(h.binary)
    t0 = time.time()
    a = h.instance("node-0000")
    b = h.instance("node-0001")
    nodes = h.cluster.nodes()
    H.wait_for(lambda: not H.seed_format_problems(h.cluster.data(), nodes), 15,
               "the seed nodes published")
    holder, _ = H.wait_for(lambda: h.cluster.lease()["spec"].get("holderIdentity"), 5,
                           "a Lease holder")
    leader, follower = (a, b) if holder.startswith("node-0000_") else (b, a)
    print(f"     leader {leader.node}, follower {follower.node}")

    # A node without a pod CIDR waits; the leader counts it by reason.
    h.add_node("no-range", "203.0.113.61", None)
    H.wait_for(lambda: H.metric_sum(leader.metrics_text(), "kube_chorus_router_nodes_waiting",
                                    reason="no-pod-range") == 1, 10,
               "nodes_waiting{reason=no-pod-range} 1 on the leader")
    text = leader.metrics_text()
    H.check(True, "the leader counts the Node without a pod CIDR: nodes_waiting{reason=\"no-pod-range\"} 1")
    H.check(H.metric_sum(text, "kube_chorus_router_nodes_waiting") == 1,
            "no other waiting reason counts", H.metric_sum(text, "kube_chorus_router_nodes_waiting"))
    allocated = H.metric_sum(text, "kube_chorus_router_overlay_addresses", state="allocated")
    H.check(allocated == len(nodes), f"leader: overlay_addresses{{state=\"allocated\"}} {len(nodes)}", allocated)

    # Leader-only series: on the leader, absent from the follower.
    lnames, fnames = names(text), names(follower.metrics_text())
    for name in LEADER_ONLY[:-1]:  # no range is refused here: pod_ranges_refused has no sample
        H.check(name in lnames, f"leader exports {name}")
    leaked = [n for n in LEADER_ONLY if n in fnames]
    H.check(not leaked, "the follower exports none of the leader-only series", leaked)
    H.check(H.metric(follower.metrics_text(), "kube_chorus_router_leader") == 0,
            "the follower exports kube_chorus_router_leader 0")

    # Last successful sync per actor.
    H.wait_for(lambda: H.metric_sum(leader.metrics_text(), LAST_SYNC, actor="publisher"), 10,
               "the publisher's last sync on the leader")
    now = time.time()
    for inst, actor, want in ((leader, "publisher", True), (leader, "leader_elector", True),
                              (follower, "leader_elector", True), (follower, "publisher", False),
                              (follower, "allocator", False)):
        v = H.metric_sum(inst.metrics_text(), LAST_SYNC, actor=actor)
        ok = (v is not None and now - 30 <= v <= now + 2) if want else v is None
        H.check(ok, f"{inst.node}: last_sync_success{{actor=\"{actor}\"}} "
                + ("within the last 30 s" if want else "absent (follows)"), v)

    for inst in (leader, follower):
        check_build_info(inst, version, revision)
        check_process(inst, t0)

    # The follower takes over: the leader-only series come with the Lease.
    leader.signal(signal.SIGTERM)
    H.check(leader.wait(5) is not None, "the leader stopped on SIGTERM")
    H.wait_for(lambda: H.metric(follower.metrics_text(), "kube_chorus_router_leader") == 1, 10,
               "the follower leads")
    _, secs = H.wait_for(
        lambda: H.metric_sum(follower.metrics_text(), "kube_chorus_router_overlay_addresses",
                             state="allocated") == len(nodes), 10,
        "overlay_addresses on the new leader")
    text = follower.metrics_text()
    H.check(True, f"the new leader exports overlay_addresses{{state=\"allocated\"}} {len(nodes)} "
            f"({secs:.1f} s after it leads)")
    H.check(H.metric_sum(text, "kube_chorus_router_nodes_waiting", reason="no-pod-range") == 1,
            "the new leader counts the waiting node too")


if __name__ == "__main__":
    H.run_test(body, seed_nodes=10)
