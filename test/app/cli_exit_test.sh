#!/usr/bin/env bash
# Runs the real binary: invalid flags exit 2 with exactly one line on stderr, before touching anything.
set -u
bin="$1"
fail=0
check() {
  local want_rc="$1"; shift
  local err rc
  err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  local lines; lines=$(printf '%s' "$err" | grep -c '')
  if [ "$rc" != "$want_rc" ] || { [ "$want_rc" = 2 ] && [ "$lines" != 1 ]; }; then
    echo "FAIL: $* -> rc=$rc (want $want_rc), stderr lines=$lines: $err"; fail=1
  else
    echo "ok:   $* -> rc=$rc ${err}"
  fi
}
check 2 --remote-vtep 192.0.2.1
check 2 --overlay-network 192.168.254.0/33 --remote-vtep 192.0.2.1
check 2 --overlay-network 192.168.254.0/24 --remote-vtep 192.0.2.1 --vni 0
check 2 --overlay-network 192.168.254.0/24 --remote-vtep 192.0.2.1 --vxlan-port 70000
check 2 --overlay-network 192.168.254.0/24 --remote-vtep 192.0.2.1 --endpoint-ip 192.168.254.255
check 2 --overlay-network 192.168.254.0/24 --remote-vtep 192.0.2.1 --overlay-type gre
check 2 --overlay-network 192.168.254.0/24 --remote-vtep 192.0.2.1 --tunnel-sync-period 1y
check 0 --version
check 0 --help
[ "$("$bin" --help | grep -c -- '--overlay-network')" -ge 1 ] || { echo "FAIL: --help lacks --overlay-network"; fail=1; }
if [ $fail = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
