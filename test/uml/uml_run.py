#!/usr/bin/env python3
"""Runs one command as root inside a user-mode Linux (UML) guest and returns
its exit status and output: kernel features the host lacks (the `ipip`
module) for tests, without a VM image.

  uml_run.py [--mem 2G] [--timeout S] [--cwd DIR] [--env K=V]... [--no-skip]
             [--host-if-kernel-has ipip] -- COMMAND [ARG]...

The guest is Debian's `linux.uml` (package user-mode-linux, kernel 6.1) on the
host's root filesystem (hostfs), so it runs the host's binaries and Python;
guest_init.sh (PID 1) mounts proc, sysfs and a tmpfs over /run, /tmp,
/var/tmp and /dev/shm (the guest would write the host's files otherwise),
loads ipip vxlan veth bridge from /usr/lib/uml/modules with `modprobe -d`,
runs COMMAND in --cwd (default: the current directory) with the host's KCR_*
variables and every --env, and writes its exit status to a file in this
run's host temp dir (UML's own exit code is not the command's). The
command's output (stdout and stderr) is relayed live.

Exit status: the command's; 77 (skip) with the reason when linux.uml or its
modules are missing; 125 when the harness itself failed (the guest did not
boot, a module did not load, no status came back; the console's tail is
printed); 124 on --timeout (the guest is killed). --no-skip turns a 77 of the
command in the guest into a failure (its kernel has what the command skipped for).
--host-if-kernel-has ipip runs COMMAND directly on the host when the host
kernel can create an IPIP link (probed in a throw-away network namespace).

Whatever happens (timeout, SIGTERM, Ctrl-C, an exception), every UML process
is killed (they share one process group) and the temp dir is removed.
"""

import argparse
import ctypes
import glob
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_INIT = os.path.join(HERE, "guest_init.sh")
MODULES_DIR = "/usr/lib/uml/modules"
MODULES = ("ipip", "vxlan", "veth", "bridge")
EXIT_SKIP, EXIT_TIMEOUT, EXIT_HARNESS = 77, 124, 125
MARK = "kcr-uml: "


def log(msg):
    print(f"uml_run: {msg}", flush=True)


def why_not_runnable():
    """The reason UML cannot run here, or None."""
    if not shutil.which("linux.uml"):
        return ("linux.uml is not installed (Debian package user-mode-linux; "
                "deploy/install-deps.sh installs it)")
    if not glob.glob(os.path.join(MODULES_DIR, "*", "kernel")):
        return f"no UML kernel modules in {MODULES_DIR} (package user-mode-linux)"
    if not shutil.which("modprobe"):
        return "modprobe is missing (package kmod)"
    return None


def host_kernel_has(kind):
    """True when the host kernel creates a `kind` link (in a throw-away netns)."""
    ns = f"kcr-uml-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        return False
    try:
        return subprocess.run(["ip", "-n", ns, "link", "add", "t0", "type", kind, "local",
                               "192.0.2.1", "remote", "192.0.2.2"],
                              capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def command_script(argv, cwd, env):
    """cmd.sh: what the guest runs (sh, from guest_init.sh)."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    return f"cd {shlex.quote(cwd)} || exit 125\n{exports}exec {shlex.join(argv)}\n"


# The guest mounts tmpfs over these (its writes must not reach the host).
GUEST_TMPFS = ("/tmp/", "/var/tmp/", "/dev/shm/")


def kept_paths(argv, cwd, env):
    """The host folders under a guest tmpfs that the command needs to see: its
    working folder, the source and build trees (a checkout under /tmp, as a CI
    runner may make) and the folders of absolute paths among its arguments.
    The guest binds them back over its tmpfs."""
    candidates = [cwd, env.get("KCR_SOURCE_DIR", ""), env.get("KCR_BINARY_DIR", ""),
                  os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
    candidates += [os.path.dirname(x) for x in argv if os.path.isabs(x)]
    keep = []
    for path in candidates:
        path = os.path.realpath(path) if path else ""
        if path and os.path.isdir(path) and path.startswith(GUEST_TMPFS) and \
                not any(path == k or path.startswith(k + "/") for k in keep):
            keep = [k for k in keep if not k.startswith(path + "/")] + [path]
    return keep


class Guest:
    """One UML boot running one command; run() -> exit status."""

    def __init__(self, argv, mem, timeout, cwd, env):
        self.argv, self.mem, self.timeout, self.cwd, self.env = argv, mem, timeout, cwd, env
        self.console = []  # every console line (printed on a harness failure)
        self.up_at = None  # monotonic time the guest said it was up
        self.done = False  # the command has ended

    def _relay(self, stream, t0):
        """Console -> our stdout: boot noise kept quiet, the command's output live."""
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.console.append(line)
            if self.up_at is None and line.startswith(MARK + "guest up"):
                self.up_at = time.monotonic()
                log(f"guest booted in {self.up_at - t0:.1f} s ({line[len(MARK):]})")
            elif line.startswith(MARK + "exit"):
                self.done = True  # then only "Powering off." and the like
            elif self.up_at is not None and not self.done and not line.startswith(MARK):
                print(line, flush=True)

    def run(self):
        tmp = tempfile.mkdtemp(prefix="kcr-uml-")
        proc = None
        try:
            with open(os.path.join(tmp, "cmd.sh"), "w") as f:
                f.write(command_script(self.argv, self.cwd, self.env))
            # umid/uml_dir: UML's pid file and mconsole socket go to tmp, not ~/.uml.
            kernel = ["linux.uml", f"mem={self.mem}", "rootfstype=hostfs", "rw",
                      f"init={GUEST_INIT}", "quiet", f"uml_dir={tmp}", "umid=kcr",
                      "con=null", "con0=fd:0,fd:1", f"KCR_UML_DIR={tmp}",
                      f"KCR_UML_MODULES={','.join(MODULES)}",
                      f"KCR_UML_TIMEOUT={max(5, int(self.timeout) - 10)}",
                      f"KCR_UML_KEEP={':'.join(kept_paths(self.argv, self.cwd, self.env))}"]
            t0 = time.monotonic()
            # Its own session: one killpg reaches every UML process (the kernel
            # and its helpers, which outlive a killed main process).
            proc = subprocess.Popen(kernel, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            relay = threading.Thread(target=self._relay, args=(proc.stdout, t0), daemon=True)
            relay.start()
            try:
                proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                log(f"TIMEOUT: the guest ran longer than {self.timeout:.0f} s; killed")
                return EXIT_TIMEOUT
            relay.join(5)
            return self._status(tmp, time.monotonic() - t0)
        finally:
            if proc is not None:
                kill_group(proc)
            shutil.rmtree(tmp, ignore_errors=True)

    def _status(self, tmp, seconds):
        try:
            with open(os.path.join(tmp, "status")) as f:
                status = int(f.read().strip())
        except (OSError, ValueError) as e:
            log(f"harness failure: no exit status from the guest ({e}); console tail:")
            print("\n".join(self.console[-30:]), flush=True)
            return EXIT_HARNESS
        if status == EXIT_HARNESS:
            log("harness failure inside the guest; console tail:")
            print("\n".join(self.console[-30:]), flush=True)
        log(f"command exited {status}; the guest ran {seconds:.1f} s")
        return status


def become_subreaper():
    """UML's helpers outlive a killed main process; as their subreaper we
    reap them ourselves (kill_group) instead of leaving zombies to PID 1."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)


def kill_group(proc):
    """SIGKILL to proc's process group; waits for every member we can reap."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-proc.pid, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid == 0:
            time.sleep(0.02)


def run_on_host(argv, timeout, cwd, env):
    proc = subprocess.Popen(argv, cwd=cwd, env=dict(os.environ, **env), start_new_session=True)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"TIMEOUT: the command ran longer than {timeout:.0f} s; killed")
        return EXIT_TIMEOUT
    finally:
        kill_group(proc)


def parse(args):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mem", default="2G", help="guest memory (default 2G)")
    p.add_argument("--timeout", type=float, default=300, help="seconds (default 300)")
    p.add_argument("--cwd", default=os.getcwd())
    p.add_argument("--env", action="append", default=[], metavar="K=V")
    p.add_argument("--no-skip", action="store_true",
                   help="a skip (77) of the command in the guest is a failure")
    p.add_argument("--host-if-kernel-has", metavar="KIND",
                   help="run on the host when its kernel creates a KIND link (e.g. ipip)")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(args)
    if a.command[:1] == ["--"]:
        a.command = a.command[1:]
    if not a.command:
        p.error("no command")
    return a


def main(args=None):
    a = parse(sys.argv[1:] if args is None else args)
    env = {k: v for k, v in os.environ.items() if k.startswith("KCR_")}
    env.update(kv.split("=", 1) for kv in a.env)
    # SIGTERM (ctest, a CI runner) unwinds like Ctrl-C, through the cleanups.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_TIMEOUT))
    become_subreaper()
    if a.host_if_kernel_has and host_kernel_has(a.host_if_kernel_has):
        log(f"the host kernel has {a.host_if_kernel_has}: running on the host")
        status = run_on_host(a.command, a.timeout, a.cwd, env)
    else:
        reason = why_not_runnable()
        if reason:
            print(f"SKIP: cannot boot user-mode Linux: {reason}", flush=True)
            return EXIT_SKIP
        if a.host_if_kernel_has:
            log(f"the host kernel lacks {a.host_if_kernel_has}: running in user-mode Linux")
        status = Guest(a.command, a.mem, a.timeout, a.cwd, env).run()
        if a.no_skip and status == EXIT_SKIP:
            log("FAIL: the command skipped (77) in the guest, whose kernel has what it needs")
            return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
