#!/usr/bin/env bash
# Installs the Debian 12 packages that build, test and run kube-chorus-router.
# Idempotent: does nothing when every package is present. Uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake make pkg-config git ca-certificates
  libcaf-dev libboost1.81-dev libboost-json1.81-dev libboost-test1.81-dev libboost-system1.81-dev
  libnl-3-dev libnl-route-3-dev libspdlog-dev libyaml-cpp-dev libssl-dev prometheus-cpp-dev libcivetweb-dev
  libcli11-dev iproute2 python3 iputils-ping openssl procps
  user-mode-linux kmod
  prometheus # for promtool (deploy_monitoring): 19 MB, 96 MB installed; systemd hosts start its server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "deps: missing packages (${missing[*]}) and not root and no sudo" >&2; exit 1
  fi
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
