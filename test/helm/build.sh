#!/usr/bin/env bash
# Builds helm from the module pinned in go.mod into OUT (default
# build/controlplane/bin, next to kubectl), with the same version stamps as
# helm's own Makefile. Debian 12 packages no helm. Go's module and build caches
# are reused; a stamp of go.mod, go.sum and this script makes a second call a
# no-op. A failure is an error with Go's own message, never a silent skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build/controlplane/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)

helm=$(awk '$1 == "require" && $2 == "helm.sh/helm/v3" { print $3 }' "$here/go.mod")
stamp="$out/.stamp-helm"
want=$(cat "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $out/helm ]]; then
  echo "helm: $helm up to date in $out"
  exit 0
fi

command -v go >/dev/null || { echo "helm: error: 'go' not found (needed to build helm $helm)" >&2; exit 1; }
cd "$here"
# helm's Makefile: the Kubernetes version it assumes (helm template's
# .Capabilities.KubeVersion, lint's deprecation checks) follows client-go's.
cg=$(go list -f '{{.Version}}' -m k8s.io/client-go)  # v0.37.0 -> 1.37
cg=${cg#v}
kmajor=$(( ${cg%%.*} + 1 )); kminor=${cg#*.}; kminor=${kminor%%.*}
v=helm.sh/helm/v3/internal/version
ldflags="-s -w -X $v.version=$helm -X $v.metadata= -X $v.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $p.k8sVersionMajor=$kmajor -X $p.k8sVersionMinor=$kminor"
done

echo "helm: go build helm.sh/helm/v3/cmd/helm $helm -> $out/helm ($(go version | cut -d' ' -f3); a first build takes a few minutes)"
start=$(date +%s)
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/helm" helm.sh/helm/v3/cmd/helm
echo "$want" > "$stamp"
echo "helm: done in $(( $(date +%s) - start )) s: $("$out/helm" version --short)"
