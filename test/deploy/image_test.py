#!/usr/bin/env python3
"""The shipped image and the shipped securityContext are enough: the binary of
the built image (build/image/kube-chorus-router-<version>.oci.tar, `make
image`), run from the image's root filesystem as the agent DaemonSet runs it,
converges its tunnel with CAP_NET_ADMIN as its only capability.

What is mirrored, read from the objects `kubectl apply -k deploy/kubernetes`
stored on a REAL kube-apiserver (so a change of the manifests changes the run):
  - the DaemonSet container's securityContext: runAsUser (the uid), the
    capabilities (drop ALL, add NET_ADMIN: bounding, permitted and effective
    sets exactly these, inheritable and ambient empty, as containerd sets
    them), allowPrivilegeEscalation false (no_new_privs),
    readOnlyRootFilesystem (the rootfs is mounted read-only), privileged
    false (/proc/sys and /sys read-only, as the runtime mounts them); a key
    the test does not know FAILS it rather than being ignored;
  - hostNetwork: the process lives in the node's network namespace (here a
    namespace with an underlay veth, 198.51.100.10/24, to a device namespace
    at 198.51.100.1);
  - the image's ENTRYPOINT with the container's args (--run-publisher=false),
    env (envFrom the settings ConfigMap, the fieldRefs resolved) and the
    in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT and the agents'
    ServiceAccount token + ca.crt at /var/run/secrets/kubernetes.io/
    serviceaccount, as the kubelet projects them. The one setting an operator
    must change, REMOTE_VTEPIP, is set to the test's device.
Not mirrored: the seccomp profile RuntimeDefault (no container runtime here),
the masked /proc paths and /etc/hosts, /etc/resolv.conf (unused: the API
server is reached by IP).

The API server: the REAL control plane (etcd + kube-apiserver) on the host's
loopback, reached from inside the node namespace through a relay on the
namespace's 127.0.0.1 (a pod on hostNetwork reaches it by IP too). The Node
node-a carries the overlay-ip annotation a controller would write (the
controller is not the subject).

Checks: the process's CapInh/CapPrm/CapEff/CapBnd/CapAmb, NoNewPrivs, uid,
root and network namespace; routervxlan0 converges (alias, VNI, local,
port, MAC, MTU, address, up, FDB to the device); the readiness probe's
/readyz answers 200; the rp_filter write fails on the read-only /proc/sys and
is logged as the documented warning, not as an error; no permission error in
the log; SIGTERM exits 0 and leaves the tunnel; `--cleanup-config` in the same
confinement removes it. Control: the same run with NO capability creates no
tunnel and logs the permission error (the confinement is real).

Exit 77 (skipped, reason printed) when not root, without umoci, unshare or
chroot, without veth/vxlan in the kernel, or (--skip-without-archive, as ctest
runs it; `make test` builds the archive first) without the archive; FAILS
when the archive is missing otherwise (`make image-test`) or the control
plane is not built (`make controlplane`).
"""

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.append(os.path.join(HERE, "..", "..", "deploy", "devcluster"))
import cluster as C  # noqa: E402
import harness as H  # noqa: E402
import netns  # noqa: E402 - namespaces, the loopback relay, HTTP inside one
# The expected tunnel, held once (the same node, device and overlay address).
from netns_tunnel_privileged_test import (  # noqa: E402
    IFNAME, MAC, NODE_IP, OVERLAY_IP, VTEP, link, problems)
from image_confine import Confined, check_confinement, confinement, status_of  # noqa: E402
from image_oci import ROOT, check_labels, unpack, version  # noqa: E402

PREFIX = "kcr-img-"
NODE = "node-a"
DS = f"/apis/apps/v1/namespaces/{C.NS}/daemonsets/{C.NAME}"
PERMISSION = re.compile(r"permission|not permitted|EPERM|EACCES", re.I)


class SkipTest(Exception):
    pass


def workload(cp):
    """The DaemonSet as applied: -> (container, serviceAccountName)."""
    ds = cp.api("GET", DS)
    spec = ds["spec"]["template"]["spec"]
    H.check(spec.get("hostNetwork") is True, "the DaemonSet runs on "
            "hostNetwork (the node's network namespace is the one mirrored)")
    [container] = spec["containers"]
    return container, spec["serviceAccountName"]


def readiness_probe(container):
    """-> (path, port number) of the container's readinessProbe."""
    get = container["readinessProbe"]["httpGet"]
    port = get["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container["ports"]
                    if p.get("name") == port)
    return get["path"], port


def container_env(cp, container, config, api_port):
    """envFrom + env as the kubelet resolves them, the image's Env first,
    then the in-cluster variables; REMOTE_VTEPIP: the test's device."""
    env = dict(e.split("=", 1) for e in config["config"].get("Env", []))
    for src in container.get("envFrom", []):
        name = src["configMapRef"]["name"]
        env.update(cp.api("GET", f"/api/v1/namespaces/{C.NS}/configmaps/"
                          f"{name}").get("data", {}))
    fields = {"spec.nodeName": NODE, "metadata.namespace": C.NS}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            path = e["valueFrom"]["fieldRef"]["fieldPath"]
            H.check(path in fields, f"env {e['name']}: fieldRef {path} is "
                    "resolved by this test")
            env[e["name"]] = fields[path]
    env.update(REMOTE_VTEPIP=VTEP, KUBERNETES_SERVICE_HOST="127.0.0.1",
               KUBERNETES_SERVICE_PORT=str(api_port))
    return env


def setup_namespaces(ns, dev):
    for n in (ns, dev):
        netns.add_ns(n)
    r = netns.ip(ns, "link", "add", "veth0", "type", "veth", "peer", "name",
                 "veth1", "netns", dev, check=False)
    if r.returncode != 0:
        raise SkipTest(f"cannot create a veth pair: {r.stderr.strip()}")
    netns.ip_batch(ns, [f"addr add {NODE_IP}/24 dev veth0", "link set veth0 up"])
    netns.ip_batch(dev, [f"addr add {VTEP}/24 dev veth1", "link set veth1 up"])
    r = netns.ip(ns, "link", "add", "kcrprobe0", "type", "vxlan", "id", "9",
                 "dstport", "4789", "dev", "veth0", check=False)
    if r.returncode != 0:
        raise SkipTest(f"the kernel cannot create vxlan links: "
                       f"{r.stderr.strip()}")
    netns.ip(ns, "link", "del", "kcrprobe0")


def add_node(cp):
    cp.api("POST", "/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE, "annotations": {
            "kube-chorus-router.io/overlay-ip": OVERLAY_IP}},
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}})
    cp.api("PATCH", f"/api/v1/nodes/{NODE}/status", {"status": {"addresses": [
        {"type": "InternalIP", "address": NODE_IP},
        {"type": "Hostname", "address": NODE}]}},
        ctype="application/merge-patch+json")


def rp_filter(ns):
    return netns.run(netns.exec_argv(ns, [
        "cat", f"/proc/sys/net/ipv4/conf/{IFNAME}/rp_filter"])).stdout.strip()


def agent_run(ctx, conf, argv, env):
    """The agent converges with the shipped capabilities; -> the run."""
    run = Confined(ctx["ns"], ctx["rootfs"], ctx["secrets"], conf,
                   conf["caps"], argv, env, ctx["log"])
    ctx["runs"].append(run)
    pid = run.binary_pid()
    check_confinement(pid, ctx["ns"], ctx["rootfs"], conf)
    try:
        info, secs = H.wait_for(lambda: (i := link(ctx["ns"]))
                                and not problems(i) and i, 30,
                                f"{IFNAME} converged")
    except H.Failure:
        print(run.text()[-3000:])
        H.check(False, f"{IFNAME} converges", problems(link(ctx["ns"])))
    H.check(True, f"{IFNAME} converged {secs:.1f} s after the start: vxlan "
            f"id 1, local {NODE_IP}, {OVERLAY_IP}/24, MAC {MAC}, MTU "
            f"{info['mtu']}, up, FDB default dst {VTEP}")
    client = netns.NsClient(ctx["ns"], "127.0.0.1", ctx["probe"][1], timeout=3)
    last = []

    def ready():
        try:
            last[:] = [client.request("GET", "/readyz")]
        except OSError as e:
            last[:] = [e]
        return ready_ok(last)
    try:
        H.wait_for(ready, 15, f"{ctx['probe'][0]} 200")
    except H.Failure:
        pass
    finally:
        client.close()
    H.check(ready_ok(last), f"the readiness probe ({ctx['probe'][0]} on "
            f":{ctx['probe'][1]}, hostNetwork) answers 200", last)
    return run


def ready_ok(last):
    return bool(last) and isinstance(last[0], tuple) and last[0][0] == 200


def level(line):
    """The level of a JSON log line (KCR_LOG_FORMAT=json); "" otherwise."""
    try:
        return str(json.loads(line).get("level", ""))
    except (ValueError, AttributeError):
        return ""


def check_log(run, ns):
    text = run.text()
    rp = rp_filter(ns)
    H.check(rp != "2", f"net.ipv4.conf.{IFNAME}.rp_filter is untouched "
            "(/proc/sys is read-only in the container)", rp)
    warned = [ln for ln in text.splitlines() if "read-only /proc/sys" in ln]
    H.check(warned and all(level(ln).startswith("warn") for ln in warned),
            "the rp_filter write is logged as the documented warning",
            warned[:1] or text[-1500:])
    print(f"     {warned[0][:240]}")
    bad = [ln for ln in text.splitlines() if PERMISSION.search(ln)]
    H.check(not bad, "no permission error in the log", bad[:3])


def stop_and_clean(ctx, run, conf, argv, env):
    os.kill(run.pid, signal.SIGTERM)
    rc = run.wait(5)
    H.check(rc == 0, "SIGTERM: the binary exits 0 within 5 s", rc)
    H.check(not problems(link(ctx["ns"])), f"{IFNAME} stays up after SIGTERM",
            problems(link(ctx["ns"])))
    clean = Confined(ctx["ns"], ctx["rootfs"], ctx["secrets"], conf,
                     conf["caps"], argv + ["--cleanup-config"], env,
                     ctx["log"] + ".cleanup")
    ctx["runs"].append(clean)
    rc = clean.wait(30)
    out = clean.text().strip()
    print(f"     --cleanup-config: exit {rc}: "
          f"{out.splitlines()[-1] if out else ''}")
    H.check(rc == 0 and link(ctx["ns"]) is None, "--cleanup-config, in the "
            f"same confinement, exits 0 and removes {IFNAME}", out[-1500:])


def control_without_caps(ctx, conf, argv, env):
    """No capability at all: nothing is created and the log says why."""
    run = Confined(ctx["ns"], ctx["rootfs"], ctx["secrets"], conf, [], argv,
                   env, ctx["log"] + ".nocaps")
    ctx["runs"].append(run)
    pid = run.binary_pid()
    H.check(int(status_of(pid)["CapEff"], 16) == 0, "control run: CapEff 0")
    try:
        H.wait_for(lambda: PERMISSION.search(run.text()), 20,
                   "a permission error in the log")
    except H.Failure:
        H.check(False, "control run without CAP_NET_ADMIN logs a permission "
                "error", run.text()[-1500:])
    line = next(ln for ln in run.text().splitlines() if PERMISSION.search(ln))
    print(f"     control: {line[:240]}")
    H.check(link(ctx["ns"]) is None, "control run without CAP_NET_ADMIN: no "
            f"{IFNAME}, a permission error logged")
    run.stop()


def body(ctx, archive):
    t0 = time.monotonic()
    rootfs, config, ref, layers = unpack(archive, ctx["workdir"])
    ctx["rootfs"] = rootfs
    print(f"     unpacked {os.path.basename(archive)} ({layers} layers) in "
          f"{time.monotonic() - t0:.1f} s")
    check_labels(config, ref)
    cluster = C.RealCluster(ctx["workdir"])
    ctx["cluster"] = cluster
    cp = cluster.cp
    container, sa = workload(cp)
    conf = confinement(container)
    ctx["probe"] = readiness_probe(container)
    secrets = os.path.join(ctx["workdir"], "serviceaccount")
    os.makedirs(secrets)
    for name, text in (("token", cp.token(sa, C.NS)), ("namespace", C.NS),
                       ("ca.crt", open(cp.ca_file).read())):
        with open(os.path.join(secrets, name), "w") as f:
            f.write(text)
    ctx["secrets"] = secrets
    add_node(cp)
    relay = netns.LoopbackRelay(ctx["ns"], ("127.0.0.1", cp.port))
    ctx["relay"] = relay
    env = container_env(cp, container, config, relay.port)
    argv = (config["config"].get("Entrypoint", []) + container.get("args", []))
    print(f"     argv {argv}, ServiceAccount {sa}, API server "
          f"127.0.0.1:{relay.port} in the namespace")
    run = agent_run(ctx, conf, argv, env)
    check_log(run, ctx["ns"])
    stop_and_clean(ctx, run, conf, argv, env)
    control_without_caps(ctx, conf, argv, env)


def leaked_mounts(workdir):
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(workdir)]


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--archive-dir", default=os.path.join(
        os.environ.get("KCR_BINARY_DIR", os.path.join(ROOT, "build")), "image"),
        help="where `make image` wrote kube-chorus-router-<version>.oci.tar")
    p.add_argument("--skip-without-archive", action="store_true",
                   help="no archive: skip (ctest run alone; `make test` builds "
                   "it first) instead of failing (make image-test)")
    return p.parse_args()


def preflight(archive, skip_without):
    if os.geteuid() != 0:
        H.skip("needs root (network namespaces, mounts, chroot)")
    for tool in ("ip", "bridge", "umoci", "unshare", "chroot", "tar"):
        if not shutil.which(tool):
            H.skip(f"needs `{tool}` (umoci: apt-get install umoci, or make "
                   "image, which installs it)")
    if not os.path.exists(archive):
        if skip_without:
            H.skip(f"no image archive {archive}: `make image` builds it "
                   "(`make test` does not), `make image-test` builds and tests")
        print(f"FAIL no image archive {archive}: run `make image`")
        sys.exit(1)


def main():
    args = parse_args()
    archive = os.path.join(os.path.abspath(args.archive_dir),
                           f"kube-chorus-router-{version()}.oci.tar")
    preflight(archive, args.skip_without_archive)
    H.exit_on_sigterm()
    for n in netns.list_ns(PREFIX):  # of runs that were killed
        pid = n[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            netns.delete_ns(n)
    workdir = tempfile.mkdtemp(prefix="kcr-image-test-")
    ns, dev = f"{PREFIX}{os.getpid()}-node", f"{PREFIX}{os.getpid()}-dev"
    ctx = {"workdir": workdir, "ns": ns, "runs": [], "relay": None,
           "cluster": None, "log": os.path.join(workdir, "kcr.log")}
    failed, skipped = True, None
    try:
        setup_namespaces(ns, dev)
        body(ctx, archive)
        failed = False
    except SkipTest as e:
        skipped = str(e)
    except H.Failure as e:
        if not getattr(e, "printed", False):
            print(f"FAIL {e}")
    except Exception:  # noqa: BLE001 - an error is a failure too
        traceback.print_exc()
    finally:
        for run in ctx["runs"]:
            run.stop()
        if failed and ctx["runs"]:
            print(f"----- log of the agent -----\n{ctx['runs'][0].text()[-4000:]}")
        if ctx["relay"]:
            ctx["relay"].close()
        if ctx["cluster"]:
            ctx["cluster"].stop()
        for n in (ns, dev):
            netns.delete_ns(n)
    leaked = leaked_mounts(workdir)
    if leaked:  # never rm -rf through a bind mount of /dev
        print(f"FAIL mounts left on the host: {leaked}; kept {workdir}")
        failed = True
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    left = [n for n in (ns, dev) if netns.exists(n)]
    if left:
        print(f"FAIL namespaces left behind: {left}")
        failed = True
    if skipped:
        H.skip(skipped)
    print(f"image_test.py: {'FAILED' if failed else 'PASSED'}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
