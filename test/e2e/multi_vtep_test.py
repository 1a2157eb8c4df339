"""e2e (issue 17): two device VTEPs, --remote-vtep 198.51.100.1,198.51.100.200.

The two devices are an HA pair as NetScaler and BIG-IP build one: each has its
own VTEP (underlay) address, they share the overlay EndpointIP and a virtual
MAC (--remote-vtep-mac on the nodes, render --device-mac on the devices), and
the active one holds the EndpointIP. Both are configured by `render` from the
published ConfigMap, each with its own --local-ip (RemoteVTEPs lists both).

1. The ConfigMap lists both (RemoteVTEPs); every node's VXLAN tunnel has one
   all-zero FDB entry per VTEP.
2. Device 1 active, device 2 standby (configured, receiving the nodes' copies):
   device 1 reaches every pod (ping + TCP).
3. Failover (the EndpointIP moves to device 2): device 2 reaches every pod.
4. A continuous ping (every 50 ms) from device 2 to every pod while device 1 is
   killed (its underlay link down): zero loss."""
import json
import signal
import subprocess
import time

from e2e_common import all_reachable, check, cl, run
from issue17_common import fdb_zero_dsts, reach_all, start_pings

DEV1, DEV2 = cl.DEVICE_IP, "198.51.100.200"
VMAC = "02:42:c6:33:64:fe"  # the pair's virtual MAC
ENDPOINT = "192.168.254.254/24"


def add_standby_device(c):
    """Device 2: a host on the underlay bridge, configured from the ConfigMap
    by render --local-ip DEV2, without the EndpointIP (the standby's state)."""
    ns = c.prefix + "dev2"
    cl.netns.add_ns(ns)
    c._host_leg(ns, "v-dev2", DEV2)
    path = c.path("dev2-configmap.json")
    with open(path, "w") as f:
        json.dump(c.configmap(), f)
    r = subprocess.run([c.binary, "render", "--target", "linux", "-f", path, "--local-ip", DEV2,
                        "--device-mac", VMAC], capture_output=True, text=True)
    check(r.returncode == 0, "render --local-ip for device 2", r.stderr.strip())
    lines = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("ip addr add ")]
    check(any(f"local {DEV2} " in ln for ln in lines), f"device 2's tunnel is bound to {DEV2}")
    for ln in lines:
        cl.netns.run(cl.netns.exec_argv(ns, ["sh", "-c", ln]))
    return ns


def check_reach(c, ns, who):
    rows = reach_all(c, ns, c.nodes)
    for i, ping_ok, tcp_ok in rows:
        check(ping_ok and tcp_ok, f"{who} -> pod-{i} {cl.pod_ip(i)}: ping and TCP")


def body(c):
    data = c.cm_data()
    check(data.get("RemoteVTEPs") == f"{DEV1},{DEV2}",
          f"the ConfigMap lists RemoteVTEPs {DEV1},{DEV2}", str(data.get("RemoteVTEPs")))
    check(data.get("RemoteVTEP") == DEV1, "RemoteVTEP (seed key) stays the first")
    for i in c.nodes:
        got = fdb_zero_dsts(c, i)
        check(got == sorted([DEV1, DEV2]), f"node-{i}: one all-zero FDB entry per VTEP {got}")

    dev2 = add_standby_device(c)
    all_reachable(c)  # device 1 (active) while device 2 gets the nodes' copies

    t0 = time.monotonic()
    cl.netns.ip(c.dev, "addr", "del", ENDPOINT, "dev", "kcrdev0")
    cl.netns.ip(dev2, "addr", "add", ENDPOINT, "dev", "kcrdev0")
    check_reach(c, dev2, "device 2")
    print(f"     failover to device 2: every pod reachable after {time.monotonic() - t0:.2f} s")

    pings = start_pings(dev2, [cl.pod_ip(i) for i in c.nodes])
    try:
        time.sleep(1.0)
        cl.netns.ip(c.dev, "link", "set", "eth0", "down")  # device 1 killed
        print("     device 1 killed (its underlay link down)")
        time.sleep(2.0)
    finally:
        for p in pings.values():
            p.send_signal(signal.SIGINT)
    for host, p in pings.items():
        out = p.communicate(timeout=10)[0]
        replies, lost = cl.netns.ping_lost(out)
        print(f"     ping {host} from device 2: {replies} replies, lost icmp_seq {lost or 'none'}")
        check(replies > 20 and not lost,
              f"zero lost packets to {host} while device 1 died", out.strip().splitlines()[-2:])
    check_reach(c, dev2, "device 2 after device 1 died")


run(body, tag="e2mvtep", nodes=3, remote_vtep=f"{DEV1},{DEV2}",
         extra_args=["--remote-vtep-mac", VMAC],
         device_args=[f"--local-ip={DEV1}", f"--device-mac={VMAC}"])
