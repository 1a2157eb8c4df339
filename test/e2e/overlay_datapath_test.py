"""e2e: the data path of one overlay type (--overlay-type ipip or vxlan) with
real packets, then `--cleanup-config` takes it away.

The dev cluster (deploy/devcluster) with one node on the real control plane
(etcd + kube-apiserver started inside the run, like every e2e test), every
instance of the real binary run with `--overlay-type T`; the device is
configured from the published ConfigMap by `render` only. Asserted:

  - the ConfigMap says Type IPIP/VXLAN; the node's tunnel and the device's
    kcrdev0 are links of that kind (`ip -d link`);
  - device -> pod: ping and TCP echo; pod -> the device's EndpointIP: ping
    and TCP echo (the return path on its own); the node's tunnel counted
    packets both ways;
  - `--cleanup-config` on the node (its instance stopped first, as the
    cleanup DaemonSet does) exits 0 and removes the tunnel; then the same
    four probes FAIL.

The host kernel of this project's machines lacks the `ipip` module, so ctest
runs this test inside user-mode Linux (test/uml/uml_run.py, entries
e2e_ipip_uml and e2e_vxlan_uml, the VXLAN one being the control that tells an
IPIP failure from a harness failure). There the control plane starts in the
guest too. Measured on this project's 2-core machine (busy with builds):
kube-apiserver ready 27-53 s in the guest (one CPU, every syscall through
ptrace) against 4 s on the host; the API host with the manifests applied and
the tokens made 31-66 s; the whole test 51-108 s. That is under the 90 s to
ready at which a link to the host's control plane would pay for itself.

  overlay_datapath_test.py --binary B --overlay-type ipip|vxlan [--api real|fake]

Skips (77) when not root, when the control plane is not built, or when the
kernel cannot create a link of the type (with the way to run it in UML).
"""

import argparse
import json
import os
import sys

from e2e_common import check, cl, run_cluster, timed

HERE = os.path.dirname(os.path.abspath(__file__))
UML_RUN = os.path.normpath(os.path.join(HERE, "..", "uml", "uml_run.py"))
TUNNEL = {"ipip": "routertun0", "vxlan": "routervxlan0"}
DEVICE_LINK = "kcrdev0"
NODE = 1


def skip(msg):
    print(f"SKIP {os.path.basename(sys.argv[0])}: {msg}", flush=True)
    sys.exit(77)


def kernel_has(kind):
    """True when this kernel creates a `kind` link (in a throw-away netns)."""
    ns = f"kcr-probe-{os.getpid()}"
    cl.netns.add_ns(ns)
    try:
        extra = ["id", "1"] if kind == "vxlan" else []
        return cl.netns.ip(ns, "link", "add", "t0", "type", kind, *extra, "local", "192.0.2.1",
                           "remote", "192.0.2.2", check=False).returncode == 0
    finally:
        cl.netns.delete_ns(ns)


def link_kind(ns, name):
    """The link's kind ('ipip', 'vxlan'; `ip -d link`), or None without the link."""
    p = cl.netns.ip(ns, "-d", "-j", "link", "show", name, check=False)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)[0].get("linkinfo", {}).get("info_kind", "?")


def packets(ns, name):
    """(rx, tx) packets of link `name` in ns."""
    stats = json.loads(cl.netns.ip(ns, "-s", "-j", "link", "show", name).stdout)[0]["stats64"]
    return stats["rx"]["packets"], stats["tx"]["packets"]


class Probes:
    """The four probes the test is judged by, before and after the cleanup."""

    def __init__(self, c, endpoint):
        self.c, self.endpoint = c, endpoint
        self.pod = cl.pod_ip(NODE)

    def table(self):
        c, pod_ns = self.c, self.c.pod_ns(NODE)
        return [(f"device -> pod {self.pod}: ping", c.ping_ok(NODE, wait=1.0)),
                (f"device -> pod {self.pod}: TCP", c.tcp_ok(NODE, 1.0)),
                (f"pod -> device {self.endpoint}: ping",
                 cl.netns.ping(pod_ns, self.endpoint, wait=1.0)),
                (f"pod -> device {self.endpoint}: TCP",
                 cl.netns.tcp_echo(pod_ns, self.endpoint, cl.POD_PORT, 1.0))]


def start_device_echo(c):
    """A TCP echo on the device (its EndpointIP answers the pod's TCP probe)."""
    c.spawn("device-echo", c.dev, [sys.executable, "-c", cl.ECHO], "device-echo.log")


def body(c, kind):
    name, typ = TUNNEL[kind], kind.upper()
    node_ns = c.node_ns(NODE)
    data = c.cm_data()
    endpoint = data.get("EndpointIP")
    check(data.get("Type") == typ, f"the ConfigMap says Type {typ}", f"data: {data}")
    check(c.published(NODE, data), f"node-{NODE} is published: overlay {c.overlay_ip(NODE, data)}")
    t = timed(lambda: link_kind(node_ns, name) is not None, 30, f"{name} on node-{NODE}")
    check(link_kind(node_ns, name) == kind,
          f"node-{NODE} has {name} of kind {kind} ({t:.1f} s after the cluster was up)",
          cl.netns.ip(node_ns, "-d", "link", "show", name, check=False).stdout)
    check(link_kind(c.dev, DEVICE_LINK) == kind, f"the device's {DEVICE_LINK} is {kind} "
          "(render output)", cl.netns.ip(c.dev, "-d", "link", "show", check=False).stdout)
    start_device_echo(c)
    probes = Probes(c, endpoint)
    before = packets(node_ns, name)
    t = timed(lambda: all(ok for _, ok in probes.table()), 30, "every probe to answer")
    print(f"     every probe answered after {t:.1f} s", flush=True)
    for what, ok in probes.table():
        check(ok, what)
    rx, tx = (a - b for a, b in zip(packets(node_ns, name), before))
    check(rx > 0 and tx > 0, f"{name} carried them: {rx} packets in, {tx} out")

    c.stop_instance(NODE)  # else its agent would make the tunnel again
    p = cl.netns.run(cl.netns.exec_argv(node_ns, [c.binary, "--cleanup-config",
                                                  "--hostname-override", cl.node_name(NODE)]),
                     check=False)
    print(f"     --cleanup-config: exit {p.returncode}: {(p.stdout + p.stderr).strip()}")
    check(p.returncode == 0, "--cleanup-config exits 0")
    check(link_kind(node_ns, name) is None, f"{name} is gone from node-{NODE}")
    for what, ok in probes.table():
        check(not ok, f"{what} FAILS without the tunnel")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--overlay-type", choices=sorted(TUNNEL), required=True)
    p.add_argument("--api", choices=["real", "fake"],
                   default=os.environ.get("KCR_E2E_API", "real"))
    a = p.parse_args()
    kind = a.overlay_type
    if os.geteuid() != 0:
        skip("needs root (network namespaces, veth, tunnels)")
    missing = cl.apihost.controlplane.missing_binaries() if a.api == "real" else []
    if missing:
        skip(f"the control plane is not built ({', '.join(missing)} missing in "
             f"{cl.apihost.controlplane.bin_dir()}; `make controlplane`, or KCR_E2E_API=fake)")
    if not kernel_has(kind):
        skip(f"this kernel cannot create {kind} links (module {kind}); run the test in "
             f"user-mode Linux: {UML_RUN} -- python3 {' '.join(sys.argv)}")
    cl.hold_signals_as_interrupt()
    c = cl.Cluster(a.binary, tag=f"e2{kind}", nodes=1, api=a.api,
                   extra_args=["--overlay-type", kind],
                   log=lambda m: print(f"     {m}", flush=True))
    run_cluster(c, lambda c: body(c, kind), f"{os.path.basename(sys.argv[0])} {kind}", a.api)


if __name__ == "__main__":
    main()
