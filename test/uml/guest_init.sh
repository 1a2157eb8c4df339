#!/bin/sh
# PID 1 of the user-mode Linux guest that test/uml/uml_run.py boots with the
# host's root filesystem (hostfs). The guest WRITES host files wherever it
# writes, so every place a test writes gets a tmpfs first; only KCR_UML_DIR,
# the host's temp dir of this run, is bind-mounted through (at /run/kcr-uml),
# and the folders in KCR_UML_KEEP (a checkout under /tmp) are bound back:
# it holds cmd.sh (the command), and receives `status` (its exit status).
# Everything is handed over in kernel parameters, which become this
# process's environment: KCR_UML_DIR, KCR_UML_MODULES (comma-separated),
# KCR_UML_TIMEOUT (seconds).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
H=/run/kcr-uml

say() { echo "kcr-uml: $*"; }
# The host waits for `status`; without one it reports the console's tail.
finish() {
  echo "$1" > "$H/status"
  sync
  say "exit $1"
  poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 tmpfs /run   # /var/run/netns, pid files
mkdir -p "$H"
mount --bind "$KCR_UML_DIR" "$H" || { say "cannot bind $KCR_UML_DIR"; poweroff -f; }
# KCR_UML_KEEP (colon-separated): host folders under those tmpfs that the
# command needs (a checkout under /tmp): held aside, then bound back on top.
K=/run/kcr-keep
n=0
for p in $(echo "${KCR_UML_KEEP:-}" | tr : ' '); do
  mkdir -p "$K/$n" && mount --bind "$p" "$K/$n" || { say "cannot keep $p"; finish 125; }
  n=$((n + 1))
done
for d in /tmp /var/tmp /dev/shm; do
  mkdir -p "$d" && mount -t tmpfs -o mode=1777 tmpfs "$d" || finish 125
done
n=0
for p in $(echo "${KCR_UML_KEEP:-}" | tr : ' '); do
  mkdir -p "$p" && mount --bind "$K/$n" "$p" || { say "cannot bind $p back"; finish 125; }
  n=$((n + 1))
done
ip link set lo up # nothing else brings it up: etcd and kube-apiserver talk over it
dmesg -n 1 # keep kernel messages off the console: it carries the command's output

# modprobe -d wants <root>/lib/modules/<version>; the UML modules live elsewhere.
M=/run/kcr-modules
mkdir -p "$M/lib/modules"
ln -s "/usr/lib/uml/modules/$(uname -r)" "$M/lib/modules/"
MODULES=$(echo "${KCR_UML_MODULES:-ipip,vxlan,veth,bridge}" | tr , ' ')
for m in $MODULES; do
  modprobe -d "$M" "$m" || { say "modprobe $m failed"; finish 125; }
done

export HOME=/tmp PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 TERM=dumb
say "guest up: kernel $(uname -r), modules $MODULES"
# The guest's own deadline, a little inside the host's: it powers off by itself
# even if the host side of the harness was killed.
# Through a pipe, as under ctest (the console is a tty, which changes some output).
(
  timeout -k 5 "${KCR_UML_TIMEOUT:-600}" sh "$H/cmd.sh" < /dev/null 2>&1
  echo $? > /run/kcr-status
) | cat
echo # the marker on a line of its own, even after output without a newline
finish "$(cat /run/kcr-status)"
