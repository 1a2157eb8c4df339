#!/usr/bin/env bash
# Runs `kube-chorus-router render` as a program: the seed ConfigMap per target against golden
# files, stdin input, --diff, exit 2 with exactly one stderr line on bad input. As root, also
# applies the linux output with `sh -e` in fresh network namespaces and checks that applying
# `--diff` to the old configuration gives the same kernel state as the new configuration.
# Usage: render_cli_test.sh BINARY DATA_DIR
set -u
bin="$1"
data="$2"
fail=0
passed=0
ok() { echo "ok:   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
netns=()
fake_pid=""
cleanup() {
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
  for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

seed="$data/seed-configmap.json"

# 1. Golden output per target for the seed's ConfigMap (it has no RemoteVTEP: --local-ip).
for target in linux netscaler bigip; do
  if "$bin" render -f "$seed" --local-ip 10.106.170.10 --target "$target" >"$tmp/out" 2>"$tmp/err" &&
    [ ! -s "$tmp/err" ] && diff -u "$data/seed.$target.txt" "$tmp/out" >"$tmp/diff"; then
    ok "render --target $target matches $data/seed.$target.txt"
  else
    bad "render --target $target: $(cat "$tmp/err" "$tmp/diff" 2>/dev/null)"
  fi
done

# The IPIP sample (RemoteVTEP, Network in the ConfigMap): the first line per target.
check_first() { # TARGET WANT
  local first
  first=$("$bin" render -f "$data/ipip-configmap.json" --target "$1" | head -n 1)
  if [ "$first" = "$2" ]; then ok "IPIP --target $1: $first"; else bad "IPIP --target $1: $first"; fi
}
check_first linux "ip link add kcrdev0 type ipip local 192.0.2.10"
check_first netscaler "add ns ip 192.168.254.254 255.255.255.0 -vServer DISABLED"
check_first bigip "tmsh create net tunnels tunnel kcr-ipip-198.51.100.11 profile ipip local-address 192.0.2.10 remote-address 198.51.100.11"

# 2. The ConfigMap on stdin gives the same as from the file.
if "$bin" render -f - --local-ip 10.106.170.10 <"$seed" | diff -q - "$data/seed.linux.txt" >/dev/null; then
  ok "render -f - reads stdin"
else
  bad "render -f - differs from the file"
fi

# 3. --diff prints only the changes (one node removed, one added, one pod CIDR changed).
want_diff="ip route del 10.244.2.0/24 via 192.168.254.2 dev kcrdev0
ip route del 10.244.1.0/24 via 192.168.254.1 dev kcrdev0
ip neigh del 192.168.254.1 dev kcrdev0
bridge fdb del 0a:58:c0:a8:fe:01 dev kcrdev0 dst 198.51.100.11
ip route replace 10.244.9.0/24 via 192.168.254.2 dev kcrdev0 onlink
bridge fdb append 0a:58:c0:a8:fe:03 dev kcrdev0 dst 198.51.100.13
ip neigh replace 192.168.254.3 lladdr 0a:58:c0:a8:fe:03 dev kcrdev0 nud permanent
ip route replace 10.244.3.0/24 via 192.168.254.3 dev kcrdev0 onlink"
got=$("$bin" render -f "$data/vxlan-device-changed.json" --diff "$data/vxlan-device.json")
if [ "$got" = "$want_diff" ]; then ok "render --diff"; else bad "render --diff gave: $got"; fi
got=$("$bin" render -f "$data/vxlan-device.json" --diff "$data/vxlan-device.json")
if [ -z "$got" ]; then ok "render --diff of equal ConfigMaps prints nothing"; else bad "equal diff: $got"; fi

# 4. Bad input: exit 2, nothing on stdout, exactly one line on stderr naming the problem.
check_bad() {
  local want="$1"; shift
  local rc lines
  "$bin" render "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  lines=$(grep -c '' "$tmp/err")
  if [ "$rc" = 2 ] && [ "$lines" = 1 ] && [ ! -s "$tmp/out" ] && grep -q -- "$want" "$tmp/err"; then
    ok "render $* -> 2: $(cat "$tmp/err")"
  else
    bad "render $* -> rc=$rc (want 2), stderr lines=$lines: $(cat "$tmp/err")"
  fi
}
check_bad "cannot read" -f "$data/no-such-file.json"
check_bad "not JSON" -f "$data/not-json.json"
check_bad "no EndpointIP" -f "$data/no-endpoint.json"
check_bad "expected linux, netscaler or bigip" -f "$seed" --target a10
check_bad "give --local-ip" -f "$seed"
check_bad "not JSON" -f "$seed" --local-ip 10.106.170.10 --diff "$data/not-json.json"
check_bad "--device-interface" -f "$data/vxlan-device.json" --device-interface averyveryverylongname
check_bad "--bogus" -f "$seed" --bogus

# 5. As root: the linux output runs with sh -e on a clean network namespace, and the diff
#    brings the old configuration to exactly the new one.
apply() { # NS FILE [render args...]
  local ns="$1"; shift
  ip netns add "$ns" && netns+=("$ns") || return 1
  ip netns exec "$ns" sh -e -c "$("$bin" render "$@")"
}
state() { # NS: the kernel state render manages, normalised
  ip netns exec "$1" sh -c 'ip -d link show kcrdev0 | sed -n "3p" | awk "{print \$1,\$2,\$3,\$4,\$5}";
    ip -4 addr show dev kcrdev0 | awk "/inet /{print \$2}"; ip route show dev kcrdev0;
    ip neigh show dev kcrdev0 | sort; bridge fdb show dev kcrdev0 | sort'
}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v bridge >/dev/null; then
  echo "skip: applying the linux output needs root and iproute2 (uid $(id -u))"
elif ! ip netns add "kcr-render-probe-$$" 2>/dev/null; then
  echo "skip: cannot create network namespaces here"
else
  ip netns del "kcr-render-probe-$$"
  a="kcr-render-a-$$"; b="kcr-render-b-$$"
  if apply "$a" -f "$data/vxlan-device.json" &&
    state "$a" | grep -q "vxlan id 42 local 192.0.2.10" &&
    [ "$(ip netns exec "$a" ip route show 10.244.1.0/24)" = "10.244.1.0/24 via 192.168.254.1 dev kcrdev0 onlink " ]; then
    ok "linux output applies with sh -e on a clean netns"
  else
    bad "linux output does not apply: $(state "$a" 2>&1)"
  fi
  if ip netns exec "$a" sh -e -c "$want_diff" && apply "$b" -f "$data/vxlan-device-changed.json" &&
    [ "$(state "$a")" = "$(state "$b")" ]; then
    ok "old + diff gives the same kernel state as new"
  else
    bad "old + diff differs from new: $(diff <(state "$a") <(state "$b") 2>&1)"
  fi
fi

# 6. Through the API: the ConfigMap created in the fake API server, read with --master alone
#    (no kubeconfig, HOME without ~/.kube), then a missing ConfigMap (exit 1).
fake="$(dirname "$0")/../fakeapi/fake_apiserver.py"
if ! command -v python3 >/dev/null || [ ! -f "$fake" ]; then
  echo "skip: the API path needs python3 and $fake"
else
  python3 "$fake" >"$tmp/fake.json" 2>"$tmp/fake.log" &
  fake_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/fake.json" ] && break; sleep 0.05; done
  url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["api_url"])' "$tmp/fake.json" 2>/dev/null)
  if [ -z "$url" ]; then
    bad "the fake API server did not start: $(tail -3 "$tmp/fake.log")"
  else
    python3 - "$url" "$seed" <<'PY'
import json, sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
cm = json.load(open(path))
for k in ("resourceVersion", "uid"):
    cm["metadata"].pop(k, None)
req = urllib.request.Request(url + "/api/v1/namespaces/kube-system/configmaps", method="POST",
                             data=json.dumps(cm).encode(), headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
    run_api() { env -u KUBECONFIG -u KUBERNETES_SERVICE_HOST HOME="$tmp" "$bin" render --master "$url" "$@"; }
    if run_api --local-ip 10.106.170.10 -t bigip 2>"$tmp/err" | diff -q - "$data/seed.bigip.txt" >/dev/null; then
      ok "render --master reads the ConfigMap through the API"
    else
      bad "render through the API: $(cat "$tmp/err")"
    fi
    run_api --configmap-name absent >/dev/null 2>"$tmp/err"; rc=$?
    if [ "$rc" = 1 ] && grep -q "configmap kube-system/absent not found" "$tmp/err"; then
      ok "a missing ConfigMap exits 1: $(cat "$tmp/err")"
    else
      bad "missing ConfigMap: rc=$rc $(cat "$tmp/err")"
    fi
  fi
  kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null
fi

echo "$passed passed, $fail failed"
[ $fail = 0 ]
