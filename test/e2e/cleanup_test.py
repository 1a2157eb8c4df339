"""e2e: `--cleanup-config` on one node removes its tunnel and nothing else."""
import difflib

from e2e_common import all_reachable, check, cl, run


def snapshot(ns):
    out = {}
    # Without -d (bridge timers) and without neighbour states (REACHABLE/STALE age by themselves).
    for what in (["link", "show"], ["addr", "show"], ["route", "show"]):
        out[" ".join(what)] = cl.netns.ip(ns, *what).stdout
    out["neigh show"] = "\n".join(sorted(" ".join(ln.split()[:5])
                                         for ln in cl.netns.ip(ns, "neigh", "show").stdout
                                         .splitlines()))
    out["fdb"] = cl.netns.run(["bridge", "-n", ns, "fdb", "show"]).stdout
    return out


def without_tunnel(snap):
    """The snapshot with every line (or link block) about routervxlan0 removed."""
    out = {}
    for k, text in snap.items():
        keep, skip = [], False
        for line in text.splitlines():
            if line and not line.startswith(" "):
                skip = "routervxlan0" in line
            elif "routervxlan0" in line:
                continue
            if not skip and "routervxlan0" not in line:
                keep.append(line)
        out[k] = "\n".join(l for l in keep if "rx_" not in l)
    return out


def body(c):
    all_reachable(c)
    c.stop_instance(2)  # as the cleanup DaemonSet does: the controller is gone first
    before = {i: snapshot(c.node_ns(i)) for i in c.nodes}
    p = cl.netns.run(cl.netns.exec_argv(c.node_ns(2), [c.binary, "--cleanup-config",
                                                       "--hostname-override", "node-2"]),
                     check=False)
    print(f"     --cleanup-config: exit {p.returncode}: {(p.stdout + p.stderr).strip()}")
    check(p.returncode == 0, "--cleanup-config exits 0")
    after = {i: snapshot(c.node_ns(i)) for i in c.nodes}
    check("routervxlan0" in before[2]["link show"], "node-2 had routervxlan0 before")
    check("routervxlan0" not in after[2]["link show"], "routervxlan0 is gone on node-2")
    for k in before[2]:
        b, a = without_tunnel(before[2])[k], without_tunnel(after[2])[k]
        diff = "\n".join(difflib.unified_diff(b.splitlines(), a.splitlines(), lineterm="", n=0))
        check(b == a, f"node-2 `{k}` unchanged apart from the tunnel", diff)
    for i in c.nodes:
        if i != 2:
            check(before[i]["link show"].count("\n") == after[i]["link show"].count("\n")
                  and "routervxlan0" in after[i]["link show"],
                  f"node-{i} keeps its tunnel")
    check(not c.tcp_ok(2, 0.5), "pod-2 is no longer reachable (its tunnel is gone)")
    all_reachable(c, [i for i in c.nodes if i != 2], timeout=1)


run(body, tag="e2clean")
