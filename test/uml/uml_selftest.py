#!/usr/bin/env python3
"""The UML harness's own test (ctest test_uml_harness): two boots of
uml_run.py, asserting what the tests that use it rely on.

  1. the command's exit status (3) and its output come back; the guest runs
     the UML kernel with ipip loaded; a host KCR_* variable and an --env reach
     it; what it writes to /tmp, /run and /var/tmp stays in the guest (the
     host's files are untouched); the host temp dir is removed.
  2. a guest that outlives --timeout is killed (status 124) and no UML
     process is left behind.

Skips (77) when linux.uml is missing, as uml_run.py does.
"""

import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = [sys.executable, os.path.join(HERE, "uml_run.py")]
fails = []


def check(ok, what, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + ("" if ok else f": {detail}"), flush=True)
    if not ok:
        fails.append(what)


def uml_pids():
    """Pids of live linux.uml processes (zombies are dead: init reaps them in a while)."""
    out = subprocess.run(["pgrep", "-x", "linux.uml"], capture_output=True, text=True).stdout
    live = set()
    for pid in out.split():
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    live.add(int(pid))
        except (OSError, IndexError):
            pass  # gone meanwhile
    return live


def run(args, timeout=120):
    t0 = time.monotonic()
    p = subprocess.run(RUN + args, capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t0


def status_and_isolation(marker):
    guest = (f"echo out-$KCR_SELFTEST-$FROM_ENV; echo err >&2; "
             f"touch /tmp/{marker} /run/{marker} /var/tmp/{marker}; "
             "ip link add t0 type ipip local 192.0.2.1 remote 192.0.2.2 && echo ipip-ok; "
             "uname -r; exit 3")
    env = dict(os.environ, KCR_SELFTEST="k")
    t0 = time.monotonic()
    p = subprocess.run(RUN + ["--timeout", "60", "--env", "FROM_ENV=e", "--", "sh", "-c", guest],
                       capture_output=True, text=True, timeout=120, env=env)
    secs = time.monotonic() - t0
    print(p.stdout, flush=True)
    if p.returncode == 77:
        print(p.stdout.strip().splitlines()[-1])
        sys.exit(77)
    lines = p.stdout.splitlines()
    check(p.returncode == 3, f"the command's exit status comes back: {p.returncode} ({secs:.1f} s)")
    check("out-k-e" in lines and "err" in lines, "stdout and stderr come back, with KCR_* "
          "and --env set in the guest", lines)
    check("ipip-ok" in lines, "the guest creates an IPIP link (module ipip loaded)", lines)
    check(any(ln.startswith(os.path.basename(d)) for ln in lines
              for d in glob.glob("/usr/lib/uml/modules/*")), "the guest runs the UML kernel")
    leaked = [d for d in ("/tmp", "/run", "/var/tmp") if os.path.exists(f"{d}/{marker}")]
    check(not leaked, "the guest's writes to /tmp, /run, /var/tmp stay in the guest", leaked)
    for d in leaked:
        os.unlink(f"{d}/{marker}")


def timeout_kills(before):
    # 6 s: the host kills the guest before the guest's own deadline (5 s after boot).
    p, secs = run(["--timeout", "6", "--", "sleep", "300"])
    check(p.returncode == 124 and "killed" in p.stdout,
          f"a command over --timeout: the guest is killed, exit 124 after {secs:.1f} s",
          f"{p.returncode}: {p.stdout[-500:]}")
    left = uml_pids() - before
    check(not left, "no UML process is left", left)


def main():
    before = uml_pids()
    tmp_before = set(glob.glob("/tmp/kcr-uml-*"))
    status_and_isolation(f"kcr-uml-selftest-{os.getpid()}")
    timeout_kills(before)
    left = set(glob.glob("/tmp/kcr-uml-*")) - tmp_before
    check(not left, "the host temp dirs are removed", left)
    print(f"{len(fails)} failed" if fails else "uml selftest: PASSED")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
