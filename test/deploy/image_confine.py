"""The container's confinement in image_test.py: the DaemonSet's
securityContext turned into what the run applies (capability sets,
no_new_privs, uid, read-only mounts), the confined run of the image's binary,
and the check of what the kernel says about the process."""

import os
import subprocess

import cluster as C  # test/integration/cluster.py (image_test.py sets the path)
import harness as H

SECRETS = "/var/run/secrets/kubernetes.io/serviceaccount"
CAP_NET_ADMIN = 12
# securityContext keys this test mirrors; any other one fails the test.
MIRRORED = {"runAsUser", "runAsNonRoot", "privileged", "allowPrivilegeEscalation",
            "readOnlyRootFilesystem", "capabilities", "seccompProfile"}

# Runs inside `ip netns exec NS unshare --mount --pid --fork`: the mounts a
# container runtime makes for an unprivileged container, then the command
# chrooted into the rootfs. $1 rootfs, $2 secrets dir, $3 ro|rw, then argv.
LAUNCH = r"""
set -e
root=$1 secrets=$2 rootmode=$3; shift 3
mount --bind "$root" "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro "$root/proc/sys"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o nosuid,mode=755 tmpfs "$root/dev"
for d in null zero full random urandom tty; do
  touch "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"
done
mount --bind -o ro "$secrets" "$root/run/secrets/kubernetes.io/serviceaccount"
if [ "$rootmode" = ro ]; then mount -o remount,bind,ro "$root"; fi
exec chroot "$root" "$@"
"""


def confinement(container):
    """The securityContext -> what the run applies; fails on keys it would
    not mirror (a new setting must be taught here, not ignored)."""
    sc = container.get("securityContext", {})
    unknown = set(sc) - MIRRORED
    H.check(not unknown, "every key of the container's securityContext is "
            "mirrored by this test", sorted(unknown))
    caps = sc.get("capabilities", {})
    H.check(caps.get("drop") == ["ALL"] and not sc.get("privileged"),
            "the securityContext drops ALL capabilities, not privileged",
            {k: sc.get(k) for k in ("capabilities", "privileged")})
    add = [c.upper().removeprefix("CAP_") for c in caps.get("add", [])]
    print(f"     securityContext: runAsUser {sc.get('runAsUser')}, add "
          f"{add}, allowPrivilegeEscalation "
          f"{sc.get('allowPrivilegeEscalation')}, readOnlyRootFilesystem "
          f"{sc.get('readOnlyRootFilesystem')}")
    return {"uid": sc.get("runAsUser", 0), "caps": add,
            "nnp": sc.get("allowPrivilegeEscalation") is False,
            "ro": bool(sc.get("readOnlyRootFilesystem"))}


def setpriv(conf, caps):
    """The capability sets containerd gives the container: bounding (and so
    permitted and effective, uid 0) = caps; inheritable, ambient empty."""
    keep = "".join(f",+{c.lower()}" for c in caps)
    argv = ["/usr/bin/setpriv", f"--reuid={conf['uid']}", "--regid=0",
            "--clear-groups", "--inh-caps=-all", f"--bounding-set=-all{keep}"]
    if conf["nnp"]:
        argv.append("--no-new-privs")
    return argv + ["--"]


class Confined:
    """One run of the image's binary in the confinement; .pid is the
    binary's own pid (a child of the unshare launcher)."""

    def __init__(self, ns, rootfs, secrets, conf, caps, argv, env, log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        cmd = ["ip", "netns", "exec", ns, "unshare", "--mount",
               "--propagation", "private", "--pid", "--fork", "--kill-child",
               "sh", "-c", LAUNCH, "launch", rootfs, secrets,
               "ro" if conf["ro"] else "rw", *setpriv(conf, caps), *argv]
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     preexec_fn=C.die_with_parent)
        self.pid = None

    def binary_pid(self, timeout=10):
        """The pid of the binary once the launcher's child has exec'd it."""
        def child():
            p = self.proc.pid
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = f.read().split()
            if kids and open(f"/proc/{kids[0]}/comm").read().strip() \
                    .startswith("kube-chorus"):
                return int(kids[0])
            if self.proc.poll() is not None:
                raise H.Failure(f"the launcher exited {self.proc.returncode}:"
                                f" {self.text()[-2000:]}")
            return None
        self.pid, _ = H.wait_for(child, timeout, "the confined binary")
        return self.pid

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()  # --kill-child: the binary goes with it
            self.proc.wait()
        self.log.close()


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def check_confinement(pid, ns, rootfs, conf):
    st = status_of(pid)
    want = sum(1 << CAP_NUMBERS[c] for c in conf["caps"])
    lines = {k: st[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd",
                                "CapAmb", "NoNewPrivs")}
    print("     /proc/<binary>/status: " +
          ", ".join(f"{k} {v}" for k, v in lines.items()) + f", Uid {st['Uid']}")
    got = {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff",
                                       "CapBnd", "CapAmb")}
    H.check(got == {"CapInh": 0, "CapPrm": want, "CapEff": want,
                    "CapBnd": want, "CapAmb": 0},
            f"the binary's capabilities are exactly {conf['caps']} "
            f"(0x{want:x}): bounding, permitted, effective; none inheritable "
            "or ambient", lines)
    H.check(st["NoNewPrivs"].strip() == ("1" if conf["nnp"] else "0"),
            "no_new_privs as allowPrivilegeEscalation says", st["NoNewPrivs"])
    H.check(st["Uid"].split() == [str(conf["uid"])] * 4,
            f"uid {conf['uid']} (runAsUser)", st["Uid"])
    H.check(os.readlink(f"/proc/{pid}/root") == rootfs,
            "its root is the image's root filesystem",
            os.readlink(f"/proc/{pid}/root"))
    ro = read_only_mounts(pid)
    H.check(ro.get("/") == conf["ro"] and ro.get("/proc/sys") is True
            and ro.get(SECRETS) is True, "in its view / is "
            f"{'read-only' if conf['ro'] else 'writable'} "
            "(readOnlyRootFilesystem), /proc/sys and the token read-only", ro)
    H.check(os.stat(f"/proc/{pid}/ns/net").st_ino
            == os.stat(f"/run/netns/{ns}").st_ino,
            "it lives in the node's network namespace")


def read_only_mounts(pid):
    """{mount point as the process sees it: read-only?} from its mountinfo."""
    out = {}
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            out[fields[4]] = "ro" in fields[5].split(",")
    # /var/run is a symlink to /run in the image: the kubelet's path.
    if "/run/secrets/kubernetes.io/serviceaccount" in out:
        out[SECRETS] = out["/run/secrets/kubernetes.io/serviceaccount"]
    return out


# Linux capability numbers of the names the manifests may add.
CAP_NUMBERS = {"NET_ADMIN": CAP_NET_ADMIN, "NET_RAW": 13, "NET_BIND_SERVICE": 10,
               "SYS_ADMIN": 21, "SYS_MODULE": 16}

