"""Helpers of the issue 17 end-to-end tests (route-only mode, several device
VTEPs): restarting every instance with other flags (a mode switch as an
operator rolls it out), reading a node's tunnel and a device's routes, and
probes from any namespace."""
import json
import subprocess

from e2e_common import cl, wait_for


def restart_all(c, extra_args):
    """Every instance restarted with `extra_args` instead of the old ones:
    controllers first (they publish the new Type), then the agents."""
    c.extra_args = list(extra_args)
    c._save_state()
    for name in c.instances():
        c.stop_instance(name)
        c.start_instance(name)


def tunnel_links(c, i):
    """Names of node i's links marked as ours (alias kube-chorus-router)."""
    out = cl.netns.ip(c.node_ns(i), "-j", "-d", "link", "show", check=False).stdout
    return sorted(link["ifname"] for link in json.loads(out or "[]")
                  if link.get("ifalias") == "kube-chorus-router")


def fdb_zero_dsts(c, i, dev="routervxlan0"):
    """Destinations of the all-zero FDB entries of node i's tunnel."""
    out = cl.netns.run(cl.netns.exec_argv(c.node_ns(i), ["bridge", "-j", "fdb", "show", "dev",
                                                           dev]), check=False).stdout
    return sorted(e["dst"] for e in json.loads(out or "[]")
                  if e.get("mac") == "00:00:00:00:00:00" and "dst" in e)


def routes(ns):
    return cl.netns.ip(ns, "route", "show", check=False).stdout


def reach_all(c, ns, nodes, timeout=15):
    """Waits until ns reaches every pod (TCP); -> rows (i, ping ok, tcp ok)."""
    try:
        wait_for(lambda: all(cl.netns.tcp_echo(ns, cl.pod_ip(i), cl.POD_PORT, 0.2)
                             for i in nodes), timeout, f"every pod from {ns}")
    except TimeoutError:
        pass  # the rows say which
    return [(i, cl.netns.ping(ns, cl.pod_ip(i), wait=1.0),
             cl.netns.tcp_echo(ns, cl.pod_ip(i), cl.POD_PORT, 1.0)) for i in nodes]


def start_pings(ns, hosts, interval="0.05"):
    """A continuous ping from ns to each host; -> {host: Popen}."""
    return {h: subprocess.Popen(cl.netns.exec_argv(ns, ["ping", "-n", "-i", interval, "-W", "1",
                                                       h]),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for h in hosts}
