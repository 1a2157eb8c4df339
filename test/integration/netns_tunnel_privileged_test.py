"""Integration (privileged): the real binary builds its VXLAN tunnel in a
fresh network namespace, repairs it after a delete, leaves it up on SIGTERM
and removes it with --cleanup-config (idempotent).

Two namespaces per run, unique names, deleted at the end even on failure:
  kcr-i-<pid>-node: veth0 198.51.100.10/24 (the node's underlay), `lo` up; the
                    fake API server AND the binary run here (a process in a
                    netns cannot reach the root namespace's 127.0.0.1)
  kcr-i-<pid>-dev:  veth1 198.51.100.1/24 (the device's VTEP)
Exit 77 (skipped) with a reason when not root or the kernel lacks veth or
vxlan.

Runs on the fake API server: the subject is the tunnel, and the API server
must live inside the node's network namespace; the one Node it needs is
loaded from a file (--nodes-file)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import harness as H

PREFIX = "kcr-i-"
IFNAME = "routervxlan0"
NODE_IP, VTEP = "198.51.100.10", "198.51.100.1"
OVERLAY_IP, MAC = "192.168.254.1", "0a:58:c0:a8:fe:01"


def reap_stale():
    """Namespaces of earlier runs whose process died (kill -9, timeout)."""
    for line in H.sh("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            H.sh("ip", "netns", "del", name, check=False)


def setup(ns, dev):
    for n in (ns, dev):
        H.sh("ip", "netns", "add", n)
        H.sh("ip", "-n", n, "link", "set", "lo", "up")
    r = H.sh("ip", "-n", ns, "link", "add", "veth0", "type", "veth", "peer",
           "name", "veth1", "netns", dev, check=False)
    if r.returncode != 0:
        raise SkipTest(f"cannot create a veth pair: {r.stderr.strip()}")
    H.sh("ip", "-n", ns, "addr", "add", f"{NODE_IP}/24", "dev", "veth0")
    H.sh("ip", "-n", ns, "link", "set", "veth0", "up")
    H.sh("ip", "-n", dev, "addr", "add", f"{VTEP}/24", "dev", "veth1")
    H.sh("ip", "-n", dev, "link", "set", "veth1", "up")
    r = H.sh("ip", "-n", ns, "link", "add", "kcrprobe0", "type", "vxlan", "id",
           "9", "dstport", "4789", "dev", "veth0", check=False)
    if r.returncode != 0:
        raise SkipTest(f"the kernel cannot create vxlan links (module vxlan):"
                       f" {r.stderr.strip()}")
    H.sh("ip", "-n", ns, "link", "del", "kcrprobe0")


class SkipTest(Exception):
    pass


def link(ns):
    """-> the JSON of `ip -d link show routervxlan0` plus its addresses and
    FDB, or None when it does not exist."""
    r = H.sh("ip", "-n", ns, "-d", "-j", "link", "show", IFNAME, check=False)
    if r.returncode != 0:
        return None
    info = json.loads(r.stdout)[0]
    a = H.sh("ip", "-n", ns, "-j", "addr", "show", "dev", IFNAME, check=False)
    info["addrs"] = [f"{x['local']}/{x['prefixlen']}"
                     for x in (json.loads(a.stdout or "[]") or [{}])[0]
                     .get("addr_info", []) if x.get("family") == "inet"]
    f = H.sh("bridge", "-n", ns, "-j", "fdb", "show", "dev", IFNAME, check=False)
    info["fdb"] = [(e.get("mac"), e.get("dst"))
                   for e in json.loads(f.stdout or "[]")]
    return info


def problems(info):
    """Every difference between the link and the expected tunnel."""
    if info is None:
        return [f"{IFNAME} does not exist"]
    p = []
    data = info.get("linkinfo", {}).get("info_data", {})
    want = [("kind", info.get("linkinfo", {}).get("info_kind"), "vxlan"),
            ("alias", info.get("ifalias"), "kube-chorus-router"),
            ("vxlan id", data.get("id"), 1),
            ("local", data.get("local"), NODE_IP),
            ("port", data.get("port"), 4789),
            ("MAC", info.get("address"), MAC),
            ("MTU (veth 1500 - 50)", info.get("mtu"), 1450),
            ("address", info.get("addrs"), [f"{OVERLAY_IP}/24"])]
    for what, got, exp in want:
        if got != exp:
            p.append(f"{what} {got!r}, want {exp!r}")
    if "UP" not in info.get("flags", []):
        p.append(f"not up: flags {info.get('flags')}")
    if ("00:00:00:00:00:00", VTEP) not in info.get("fdb", []):
        p.append(f"no FDB entry 00:00:00:00:00:00 dst {VTEP}: {info['fdb']}")
    return p


def body(h, ns, binary):
    inst = h.instance("node-a", run_tunnel=True, remote_vtep=VTEP)
    t0 = time.monotonic()
    try:
        info, secs = H.wait_for(lambda: (i := link(ns)) and not problems(i)
                                and i, 5, f"{IFNAME} converged")
    except H.Failure:
        H.check(False, f"{IFNAME} converges within 5 s", problems(link(ns)))
    print(f"     converged {secs * 1000:.0f} ms after the start: alias "
          f"{info['ifalias']}, vxlan id 1, local {NODE_IP}, {OVERLAY_IP}/24, "
          f"MAC {MAC}, MTU {info['mtu']}, FDB default dst {VTEP}")
    H.check(True, f"{IFNAME} exists with alias kube-chorus-router, vxlan id "
            f"1, local {NODE_IP}, address {OVERLAY_IP}/24, MAC {MAC}, up, "
            f"FDB to {VTEP}")
    data = h.cluster.data()
    H.check(data.get(f"Interface-{NODE_IP}") == OVERLAY_IP
            and data.get(f"Mac-{NODE_IP}") == MAC,
            "the published entry matches the interface",
            {k: v for k, v in data.items() if k.endswith(NODE_IP)})

    # Deleted by someone: back within 1 s (created and fully configured).
    H.sh("ip", "-n", ns, "link", "del", IFNAME)
    t0 = time.monotonic()
    _, exists = H.wait_for(lambda: link(ns) is not None, 3,
                           f"{IFNAME} re-created", interval=0.005)
    try:
        _, secs = H.wait_for(lambda: not problems(link(ns)), 3,
                             f"{IFNAME} repaired", interval=0.005)
    except H.Failure:
        H.check(False, f"{IFNAME} is fully repaired", problems(link(ns)))
    secs = time.monotonic() - t0
    print(f"     after `ip link del`: back after {exists * 1000:.0f} ms, "
          f"fully configured after {secs * 1000:.0f} ms")
    H.check(secs <= 1.0, f"{IFNAME} is back and configured within 1 s", secs)

    # SIGTERM leaves the data plane up.
    rc, secs = H.term_and_wait(inst, 5)
    H.check(rc == 0, "SIGTERM: exit 0 within 5 s", (rc, secs))
    H.check(not problems(link(ns)), f"{IFNAME} stays up after SIGTERM",
            problems(link(ns)))

    # --cleanup-config removes it, and is idempotent.
    for attempt in ("first", "second"):
        r = subprocess.run(["ip", "netns", "exec", ns, binary,
                            "--cleanup-config"],
                           capture_output=True, text=True, timeout=30)
        out = (r.stdout + r.stderr).strip()
        print(f"     --cleanup-config ({attempt}): exit {r.returncode}: "
              f"{out.splitlines()[-1] if out else ''}")
        H.check(r.returncode == 0, f"--cleanup-config ({attempt} run) exits 0",
                out)
        H.check(link(ns) is None, f"{IFNAME} is gone after the {attempt} "
                "--cleanup-config")
    # An interface with our name that is not ours is never removed.
    H.sh("ip", "-n", ns, "link", "add", IFNAME, "type", "vxlan", "id", "7",
       "dstport", "4789", "dev", "veth0")
    r = subprocess.run(["ip", "netns", "exec", ns, binary, "--cleanup-config"],
                       capture_output=True, text=True, timeout=30)
    out = (r.stdout + r.stderr).strip()
    print(f"     --cleanup-config with a foreign {IFNAME}: exit "
          f"{r.returncode}: {out.splitlines()[-1] if out else ''}")
    H.check(link(ns) is not None, f"a foreign {IFNAME} (no alias mark) "
            "survives --cleanup-config", out)
    veth = H.sh("ip", "-n", ns, "-j", "addr", "show", "dev", "veth0").stdout
    H.check(f'"{NODE_IP}"' in veth, "the underlay veth0 and its address are "
            "untouched by the cleanup")


def main():
    args = H.parse_args("fake")
    if os.geteuid() != 0:
        H.skip("needs root (network namespaces and netlink); run as root")
    for tool in ("ip", "bridge"):
        if not shutil.which(tool):
            H.skip(f"needs the `{tool}` command (iproute2)")
    H.exit_on_sigterm()
    reap_stale()
    ns = f"{PREFIX}{os.getpid()}-node"
    dev = f"{PREFIX}{os.getpid()}-dev"
    workdir = tempfile.mkdtemp(prefix="kcr-integration-")
    with open(os.path.join(workdir, "nodes.json"), "w") as f:
        json.dump([{"metadata": {"name": "node-a",
                                 "uid": "a0000000-0000-4000-8000-00000000000a"},
                    "spec": {"podCIDR": "10.244.1.0/24",
                             "podCIDRs": ["10.244.1.0/24"]},
                    "status": {"addresses": [
                        {"type": "InternalIP", "address": NODE_IP},
                        {"type": "Hostname", "address": "node-a"}]}}], f)
    h, failed, skipped = None, True, None
    try:
        setup(ns, dev)
        h = H.Harness(args.binary, backend="fake", fake_args=[
            "--nodes-file", os.path.join(workdir, "nodes.json")], netns=ns,
            workdir=workdir)
        body(h, ns, os.path.abspath(args.binary))
        failed = False
    except SkipTest as e:
        skipped = str(e)
    except H.Failure:
        pass
    except Exception:  # noqa: BLE001 - an error is a failure too
        traceback.print_exc()
    finally:
        if h:
            h.close(failed)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        for n in (ns, dev):
            H.sh("ip", "netns", "del", n, check=False)
    left = [n for n in (ns, dev)
            if n in H.sh("ip", "netns", "list", check=False).stdout]
    if left:
        print(f"FAIL namespaces left behind: {left}")
        failed = True
    if skipped:
        H.skip(skipped)
    name = os.path.basename(sys.argv[0])
    print(f"{name}: {'FAILED' if failed else 'PASSED'}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
