#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kubectl from the pinned modules of go.mod into
# OUT (default build/controlplane/bin). Go's module and build caches are reused;
# a stamp of go.mod, go.sum and this script makes a second call a no-op.
# A failure is an error with Go's own message, never a silent skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build/controlplane/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)

k8s=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod")
stamp="$out/.stamp"
want=$(cat "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]] &&
   [[ -x $out/etcd && -x $out/kube-apiserver && -x $out/kubectl ]]; then
  echo "controlplane: Kubernetes $k8s up to date in $out"
  exit 0
fi

command -v go >/dev/null || { echo "controlplane: error: 'go' not found (Go >= 1.26 is needed to build Kubernetes $k8s)" >&2; exit 1; }
major=${k8s#v}; major=${major%%.*}
minor=${k8s#v*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s"

cd "$here"
echo "controlplane: building etcd, kube-apiserver and kubectl of Kubernetes $k8s with $(go version | cut -d' ' -f3)"
echo "controlplane: a first build takes 10-20 min on 2 cores (later builds reuse Go's caches: seconds)"
start=$(date +%s)
go mod download
for cmd in go.etcd.io/etcd/server/v3:etcd \
           k8s.io/kubernetes/cmd/kube-apiserver:kube-apiserver \
           k8s.io/kubernetes/cmd/kubectl:kubectl; do
  t0=$(date +%s)
  echo "controlplane: go build ${cmd%%:*} -> $out/${cmd##*:}"
  go build -ldflags "$ldflags" -o "$out/${cmd##*:}" "${cmd%%:*}"
  echo "controlplane:   ${cmd##*:} built in $(( $(date +%s) - t0 )) s"
done
echo "$want" > "$stamp"
echo "controlplane: done in $(( $(date +%s) - start )) s: $("$out/kube-apiserver" --version), etcd $("$out/etcd" --version | awk 'NR==1 {print $3}')"
