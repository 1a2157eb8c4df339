"""e2e: node readiness tied to the tunnel (issue 17, item 1).

Every instance runs with --readiness-taint (the agents keep the Node condition
ChorusTunnelReady and remove the startup taint) and --tunnel-sync-period 1s
(so that "no write per sync" is measured over several syncs). On the real API
server the agents get the opt-in grant deploy/kubernetes/readiness-taint.yaml,
applied with kubectl as an operator would.

- a node registered with the taint kube-chorus-router.io/not-ready (as the
  kubelet's --register-with-taints does) stays tainted while its pod does not
  answer ping from the device, and the taint is gone within 1 s of the first
  answer; its condition is True, the kubelet's Ready condition is kept. The
  agent knows its own side only (its tunnel converged to the published
  entry): the device applies the ConfigMap on its own schedule (here: every
  50 ms, through `render`), so a taint gone while the device has not yet
  applied the entry is allowed within 1 s before the first answer, and printed;
- an idle node's object is not written while its tunnel syncs every second;
- the tunnel interface replaced by a foreign one (unrepairable: never ours to
  touch) turns the condition False (TunnelFailed), and True again once the
  foreign interface is gone and the agent rebuilt the tunnel.
"""
import os
import signal
import time

from e2e_common import all_reachable, check, cl, run, timed

TAINT = "kube-chorus-router.io/not-ready"
CONDITION = "ChorusTunnelReady"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GRANT = os.path.join(ROOT, "deploy", "kubernetes", "readiness-taint.yaml")


def node(c, i):
    return c.node_list().get(cl.node_name(i)) or {}


def tainted(n):
    return any(t.get("key") == TAINT for t in (n.get("spec") or {}).get("taints") or [])


def condition(n, kind=CONDITION):
    for cond in (n.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def grant_taint_removal(c):
    """The opt-in grant, applied with the built kubectl; waits until it works."""
    api = c.apiserver
    if api.kind != "real":
        print("     fake API server: no RBAC to grant")
        return
    home = c.path("kubectl-home")
    os.makedirs(home, exist_ok=True)
    argv = ["env", f"HOME={home}", api.kubectl, "--kubeconfig", api.kubeconfig, "apply", "-f",
            os.path.abspath(GRANT)]
    print("     " + cl.netns.run(cl.netns.exec_argv(c.api, argv), timeout=60).stdout.strip())
    token = api.role_token("agent")
    # An empty PATCH body: 403 while the grant is not in effect, 4xx for the body after.
    timed(lambda: api.status_as(token, "PATCH", "/api/v1/nodes/node-1") != 403, 10,
          "the agents' grant to patch Nodes in effect")


def new_tainted_node(c, i):
    """Node i registered with the startup taint; -> the samples until the taint
    is gone and its pod answers: [(t, tainted, ping_ok)] from the Node's POST."""
    c.add_node(i, create_object=False)
    obj = c.node_object(i)
    obj["spec"]["taints"] = [{"key": TAINT, "effect": "NoSchedule"}]
    t0 = time.monotonic()
    c.apiserver.create_node(obj)
    samples, deadline = [], t0 + 30
    while time.monotonic() < deadline:
        t = time.monotonic() - t0
        is_tainted = tainted(node(c, i))
        ok = c.ping_ok(i, wait=0.2)  # after the taint check: a violation is real
        samples.append((t, is_tainted, ok))
        if not is_tainted and ok:
            break
    return samples


def check_new_node(c, i):
    samples = new_tainted_node(c, i)
    reach = next((t for t, _, ok in samples if ok), None)
    gone = next((t for t, is_tainted, _ in samples if not is_tainted), None)
    early = [round(t, 3) for t, is_tainted, ok in samples if not is_tainted and not ok]
    print(f"     node-{i}: {len(samples)} samples; first ping answer at "
          f"{reach if reach is None else round(reach * 1000)} ms, taint gone at "
          f"{gone if gone is None else round(gone * 1000)} ms after the Node's POST")
    check(reach is not None and gone is not None, f"pod-{i} answers and node-{i}'s taint goes")
    print(f"     samples without the taint and without an answer (the device not yet "
          f"applied): {early}")
    check(all(reach - t <= 1 for t in early), f"node-{i} tainted while pod-{i} did not answer "
          "ping, up to the device's own apply delay (< 1 s)", early)
    check(any(is_tainted for _, is_tainted, _ in samples),
          f"node-{i} was seen tainted before its tunnel converged")
    lag = gone - reach
    print(f"     taint gone {lag * 1000:.0f} ms after the pod first answered (sampling: a failed "
          "ping waits 200 ms)")
    check(abs(lag) <= 1, f"node-{i}'s taint gone within 1 s of reachability ({lag:.3f} s)")
    n = node(c, i)
    cond, ready = condition(n), condition(n, "Ready")
    check(cond and cond["status"] == "True" and cond["reason"] == "TunnelConverged",
          f"node-{i}: {CONDITION}=True TunnelConverged", cond)
    check(ready and ready["status"] == "True",
          f"node-{i}: the Ready condition is kept (strategic merge by type)", ready)


def check_no_writes_per_sync(c, i, seconds=3.5):
    before = node(c, i)["metadata"]["resourceVersion"]
    time.sleep(seconds)  # a measurement window, not a wait for something
    after = node(c, i)["metadata"]["resourceVersion"]
    print(f"     node-{i}: resourceVersion {before} -> {after} over {seconds} s of 1 s syncs")
    check(before == after, f"node-{i} not written while idle (no write per sync)")


def swap_in_foreign(c, i):
    """Replaces routervxlan0 on node i with a veth of that name (no ownership
    mark: the agent must not touch it). The agent is stopped meanwhile: it
    rebuilds a deleted tunnel faster than a second command can take the name,
    and the test needs the swap to look atomic to it. It sees both link changes
    when it continues."""
    pid = c.procs[cl.node_name(i)].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        cl.netns.ip_batch(c.node_ns(i), ["link del routervxlan0",
                                         "link add routervxlan0 type veth peer name kcrfrgn1"])
    finally:
        os.kill(pid, signal.SIGCONT)


def check_broken_and_repaired(c, i):
    swap_in_foreign(c, i)
    took = timed(lambda: (condition(node(c, i)) or {}).get("status") == "False", 10,
                 f"node-{i}'s {CONDITION} False")
    cond = condition(node(c, i))
    print(f"     node-{i}: foreign routervxlan0 -> {CONDITION}=False after {took * 1000:.0f} ms "
          f"({cond.get('reason')}: {cond.get('message')})")
    check(cond["reason"] == "TunnelFailed" and "foreign_interface" in cond["message"],
          f"node-{i}: reason TunnelFailed naming the foreign interface", cond)
    check(not c.tcp_ok(i, 0.3), f"pod-{i} indeed unreachable meanwhile")
    t1 = time.monotonic()
    cl.netns.ip(c.node_ns(i), "link", "del", "routervxlan0")
    took = timed(lambda: (condition(node(c, i)) or {}).get("status") == "True", 10,
                 f"node-{i}'s {CONDITION} True again")
    reach = timed(lambda: c.tcp_ok(i, 0.2), 5, f"pod-{i} reachable again")
    print(f"     foreign interface deleted: {CONDITION}=True after {took * 1000:.0f} ms, pod-{i} "
          f"reachable {(time.monotonic() - t1) * 1000:.0f} ms after the deletion ({reach:.3f} s "
          "after the condition)")


def body(c):
    all_reachable(c)
    for i in c.nodes:
        cond = condition(node(c, i))
        check(cond and cond["status"] == "True", f"node-{i}: {CONDITION}=True", cond)
    grant_taint_removal(c)
    check_new_node(c, 4)
    check_no_writes_per_sync(c, 1)
    check_broken_and_repaired(c, 2)
    all_reachable(c, timeout=3)


run(body, "e2rdy", nodes=3,
    extra_args=["--readiness-taint", "--tunnel-sync-period", "1s"])
