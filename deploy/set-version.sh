#!/usr/bin/env bash
# Sets the project's version everywhere it must be written out, from its one source:
# `project(kube-chorus-router VERSION x.y.z)` in CMakeLists.txt (the binary's --version, the
# User-Agent and the image labels come from it at build time).
#   deploy/set-version.sh           prints the version
#   deploy/set-version.sh 0.2.0     writes 0.2.0 into CMakeLists.txt, the kustomize image tags and
#                                   the Helm chart (version and appVersion)
# test/deploy/version_test.py fails when any of these places disagrees with CMakeLists.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

current=$(sed -n 's/^project(kube-chorus-router VERSION \([0-9.]*\) .*/\1/p' CMakeLists.txt)
if [ $# -eq 0 ]; then
  echo "$current"
  exit 0
fi
new=$1
if ! [[ $new =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "set-version: \"$new\" is not a version like 1.2.3" >&2
  exit 2
fi
sed -i "s/^project(kube-chorus-router VERSION $current /project(kube-chorus-router VERSION $new /" \
  CMakeLists.txt
sed -i "s/^\(    newTag:\) .*/\1 $new/" deploy/kubernetes/kustomization.yaml \
  deploy/kubernetes/cleanup/kustomization.yaml
sed -i -e "s/^version: .*/version: $new/" -e "s/^appVersion: .*/appVersion: \"$new\"/" \
  deploy/helm/kube-chorus-router/Chart.yaml
echo "set-version: $current -> $new (add a CHANGELOG.md entry)"
