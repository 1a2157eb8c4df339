#!/usr/bin/env bash
# Installs the Debian 12 packages that build, test and run kube-chorus-router.
# Idempotent: does nothing when every package is present. Uses sudo when not root.
#   deploy/install-deps.sh               everything (`make deps`, `make test`)
#   deploy/install-deps.sh --build-only  what compiling the binary needs (the image's build stage)
set -euo pipefail

build_packages=(
  build-essential cmake make pkg-config git ca-certificates
  libcaf-dev libboost1.81-dev libboost-json1.81-dev libboost-test1.81-dev libboost-system1.81-dev
  libnl-3-dev libnl-route-3-dev libspdlog-dev libyaml-cpp-dev libssl-dev prometheus-cpp-dev libcivetweb-dev
  libcli11-dev
)
test_packages=(
  iproute2 python3 iputils-ping openssl procps
  user-mode-linux kmod
  clang libclang-rt-14-dev # make fuzz: libFuzzer and the sanitizer runtimes of Debian's clang 14
  prometheus # for promtool (deploy_monitoring): 19 MB, 96 MB installed; systemd hosts start its server
)
case "${1:-}" in
  "") packages=("${build_packages[@]}" "${test_packages[@]}") ;;
  --build-only) packages=("${build_packages[@]}") ;;
  *) echo "deps: unknown argument $1 (expected --build-only or nothing)" >&2; exit 2 ;;
esac

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
