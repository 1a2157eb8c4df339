#!/usr/bin/env bash
# kubectl fidelity test: the real kubectl (1.32) against the fake API server
# (test/fakeapi/fake_apiserver.py) over TLS with a bearer token. If kubectl
# accepts the fake, its discovery, lists, single GETs, watches and 401s are
# shaped like a real kube-apiserver's. Skips (exit 77) without kubectl.
set -u

if ! command -v kubectl >/dev/null 2>&1; then
  echo "SKIP: kubectl not found in PATH"
  exit 77
fi
for tool in python3 openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found"; exit 77; }
done

SRC=${KCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d /tmp/kubectl-fidelity.XXXXXX)
SERVER_PID=""
WATCH_PID=""
cleanup() {
  [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- fake server log (tail)"; tail -20 "$TMP/server.log" 2>/dev/null
  exit 1
}

export HOME="$TMP/home"   # kubectl caches discovery for 6 h under HOME
mkdir -p "$HOME"
TOKEN="fidelity-token-$$"

python3 "$SRC/test/fakeapi/fake_apiserver.py" --tls-dir "$TMP/tls" --token "$TOKEN" \
  --seed-nodes 3 >"$TMP/start.json" 2>"$TMP/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  [ -s "$TMP/start.json" ] && break
  sleep 0.1
done
[ -s "$TMP/start.json" ] || fail "fake API server did not print its startup line"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$TMP/start.json" "$1"; }
API_URL=$(field api_url)
CA_FILE=$(field ca_file)
CONTROL=$(field control_url)

# control(METHOD, PATH, JSON) and api(METHOD, PATH, JSON): python, no curl
control() {
  python3 - "$CONTROL" "$1" "$2" "${3:-}" <<'EOF'
import sys, urllib.request
url, method, path, body = sys.argv[1:5]
req = urllib.request.Request(url + path, method=method, data=body.encode() or None,
                             headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).read().decode())
EOF
}
api() {
  python3 - "$API_URL" "$CA_FILE" "$TOKEN" "$1" "$2" "${3:-}" <<'EOF'
import sys, ssl, urllib.request
url, ca, token, method, path, body = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
req = urllib.request.Request(url + path, method=method, data=body.encode() or None,
                             headers={"Content-Type": "application/json",
                                      "Authorization": "Bearer " + token})
print(urllib.request.urlopen(req, timeout=10, context=ctx).status)
EOF
}

write_kubeconfig() {  # file token
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: $API_URL
    certificate-authority: $CA_FILE
users:
- name: router
  user:
    token: $2
contexts:
- name: fake
  context: {cluster: fake, user: router, namespace: kube-system}
current-context: fake
EOF
}
write_kubeconfig "$TMP/kubeconfig" "$TOKEN"
write_kubeconfig "$TMP/kubeconfig-bad" "wrong-$TOKEN"
K="kubectl --kubeconfig $TMP/kubeconfig"

echo "== kubectl get nodes"
$K get nodes >"$TMP/nodes.out" 2>&1 || { cat "$TMP/nodes.out"; fail "kubectl get nodes failed"; }
cat "$TMP/nodes.out"
for n in node-0000 node-0001 node-0002; do
  grep -q "^$n " "$TMP/nodes.out" || fail "kubectl get nodes does not list $n"
done

echo "== kubectl get cm -n kube-system kcr-fidelity -o json (created through the API)"
[ "$(api POST /api/v1/namespaces/kube-system/configmaps \
  '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kcr-fidelity"},"data":{"EndpointIP":"192.168.254.254","Type":"VXLAN"}}')" = 201 ] \
  || fail "creating the ConfigMap through the API failed"
$K get cm -n kube-system kcr-fidelity -o json >"$TMP/cm.json" 2>&1 || { cat "$TMP/cm.json"; fail "kubectl get cm failed"; }
python3 - "$TMP/cm.json" <<'EOF' || fail "kubectl get cm -o json returned the wrong object"
import json, sys
cm = json.load(open(sys.argv[1]))
assert cm["kind"] == "ConfigMap" and cm["apiVersion"] == "v1", cm
assert cm["metadata"]["name"] == "kcr-fidelity" and cm["metadata"]["namespace"] == "kube-system"
assert cm["metadata"]["uid"] and cm["metadata"]["resourceVersion"] and cm["metadata"]["creationTimestamp"]
assert cm["data"] == {"EndpointIP": "192.168.254.254", "Type": "VXLAN"}, cm["data"]
print("ConfigMap ok:", cm["data"])
EOF

echo "== kubectl create -f (JSON body through kubectl's dynamic client)"
cat >"$TMP/cm2.json" <<'EOF'
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kcr-created","namespace":"kube-system"},"data":{"a":"1"}}
EOF
$K create -f "$TMP/cm2.json" --validate=false >"$TMP/create.out" 2>&1 || { cat "$TMP/create.out"; fail "kubectl create -f failed"; }
$K get cm kcr-created -o jsonpath='{.data.a}' | grep -qx 1 || fail "kubectl create -f did not store the ConfigMap"

echo "== kubectl get nodes -w sees a node added through the control interface"
timeout 30 $K get nodes -w --request-timeout=25s >"$TMP/watch.out" 2>&1 &
WATCH_PID=$!
for _ in $(seq 1 100); do  # wait until kubectl's watch request is open
  control GET /requests | grep -q '"query": "[^"]*watch=true' && break
  sleep 0.1
done
control GET /requests | grep -q 'watch=true' || fail "kubectl did not start a watch"
control POST /nodes '{"metadata":{"name":"fidelity-added"},"spec":{"podCIDR":"10.99.0.0/24"}}' >/dev/null \
  || fail "control POST /nodes failed"
for _ in $(seq 1 100); do
  grep -q '^fidelity-added ' "$TMP/watch.out" && break
  sleep 0.1
done
cat "$TMP/watch.out"
grep -q '^fidelity-added ' "$TMP/watch.out" || fail "kubectl get nodes -w did not show fidelity-added"
kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null; WATCH_PID=""

echo "== wrong token: kubectl reports Unauthorized"
if kubectl --kubeconfig "$TMP/kubeconfig-bad" get nodes >"$TMP/bad.out" 2>&1; then
  fail "kubectl with a wrong token succeeded"
fi
cat "$TMP/bad.out"
grep -q "Unauthorized" "$TMP/bad.out" || fail "kubectl did not report Unauthorized"

echo "PASS: kubectl fidelity"
exit 0
