#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds a separate consumer project against the
# installed CMake package, and runs it: without root only the error path; as root, create and
# remove in a fresh network namespace.
set -u
build_dir="$1"
src_dir="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
ns="kcr-lib-$$"
cleanup() { ip netns del "$ns" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null || fail "cmake --install"
[ -f "$work/prefix/include/kube-chorus-router/kube_chorus_router.hpp" ] || fail "header not installed"
[ -x "$work/prefix/bin/kube-chorus-router" ] || fail "binary not installed"
cmake -S "$src_dir/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null \
  || fail "configuring the consumer against the installed package"
cmake --build "$work/consumer" >/dev/null || fail "building the consumer"
bin="$work/consumer/kcr_consumer"
export LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64:${LD_LIBRARY_PATH:-}"

out=$(env -i LD_LIBRARY_PATH="$LD_LIBRARY_PATH" "$bin" create 2>&1); rc=$?
echo "without NETWORK: rc=$rc $out"
[ $rc = 1 ] && grep -q "NETWORK is not set" <<<"$out" || fail "missing NETWORK not reported"
out=$(env -i LD_LIBRARY_PATH="$LD_LIBRARY_PATH" NETWORK=192.168.254.0/24 OVERLAY_IP=10.0.0.1 \
      LOCAL_VTEPIP=198.51.100.10 REMOTE_VTEPIP=198.51.100.1 "$bin" create 2>&1); rc=$?
echo "overlay outside network: rc=$rc $out"
[ $rc = 1 ] && grep -q "outside NETWORK" <<<"$out" || fail "bad OVERLAY_IP not reported"

if [ "$(id -u)" != 0 ]; then
  echo "SKIP (netns part): needs root for network namespaces"
  echo "1 passed, 0 failed"; exit 0
fi
ip netns add "$ns" || fail "ip netns add"
ip -n "$ns" link add u0 type veth peer name u1 && ip -n "$ns" addr add 198.51.100.10/24 dev u0 \
  && ip -n "$ns" link set u0 up && ip -n "$ns" link set u1 up || fail "underlay"
run() { ip netns exec "$ns" env -i LD_LIBRARY_PATH="$LD_LIBRARY_PATH" TYPE=vxlan VNID=42 \
        NETWORK=192.168.254.0/24 OVERLAY_IP=192.168.254.7 LOCAL_VTEPIP=198.51.100.10 \
        REMOTE_VTEPIP=198.51.100.1 "$bin" "$@"; }
run create || fail "create"
ip -n "$ns" -d link show routervxlan0 | grep -q "vxlan id 42" || fail "no vxlan id 42"
ip -n "$ns" addr show routervxlan0 | grep -q "192.168.254.7/24" || fail "no overlay address"
ip -n "$ns" link show routervxlan0 | grep -q "0a:58:c0:a8:fe:07" || fail "wrong MAC"
out=$(run create) || fail "second create"
grep -q "already as specified" <<<"$out" || fail "second create changed something: $out"
run remove || fail "remove"
ip -n "$ns" link show routervxlan0 >/dev/null 2>&1 && fail "interface still there after remove"
run remove | grep -q "does not exist" || fail "second remove"
echo "1 passed, 0 failed"
