#!/usr/bin/env bash
# make image: builds deploy/Dockerfile without a Docker engine (buildah, chroot
# isolation) and writes the image as an OCI archive:
#   deploy/image/build.sh [--binary FILE] [OUT_DIR]
#                                   (default build/image; root: sudo when not)
# -> OUT_DIR/kube-chorus-router-<version>.oci.tar, named
#    docker.io/library/kube-chorus-router:<version> inside (what the manifests'
#    `image: kube-chorus-router:<version>` resolves to), and the same image as
#    localhost/kube-chorus-router:<version> in buildah's storage.
#
# - Installs buildah, mmdebstrap, umoci and skopeo when one is missing (Debian).
# - Storage: buildah's default for root (/var/lib/containers/storage), driver
#   vfs (no overlay support needed; every layer is a full copy, so it uses a
#   few GB: `buildah rmi --prune` frees the layers of earlier builds).
# - The bases debian:12 and debian:12-slim: pulled when a registry answers,
#   else made locally with mmdebstrap (minbase; the slim one without docs, man
#   pages and locales, as the real one) once per machine.
# - Labels: org.opencontainers.image.version = project(... VERSION) of
#   CMakeLists.txt, org.opencontainers.image.revision = `git rev-parse
#   --short=12 HEAD` (as the binary's --version), "-dirty" with uncommitted changes.
# - --layers: a second run with nothing changed reuses every layer.
# - --binary FILE (what `make test` does): the runtime stage of the same
#   Dockerfile around a binary already built on this Debian 12 machine, instead
#   of compiling it again in the build stage (a fresh machine saves ~15 min; the
#   runtime stage, its library list, its checks and labels are the shipped
#   ones). The labels then carry the revision the binary prints.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=
if [ "${1:-}" = --binary ]; then
  binary=$(realpath "$2")
  shift 2
fi
out_dir=$(realpath -m "${1:-build/image}")

if [ "$(id -u)" -ne 0 ]; then
  exec sudo bash "$0" ${binary:+--binary "$binary"} "$out_dir"
fi
export STORAGE_DRIVER=vfs
t0=$(date +%s)

ensure_tools() {
  local missing=() t
  for t in buildah mmdebstrap umoci skopeo; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "image: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# debian:12 (build stage) and debian:12-slim (runtime) from mmdebstrap. The
# slim one drops docs, man pages and locales as the real one does (its
# /etc/dpkg/dpkg.cfg.d keeps doing so for the runtime stage's packages).
make_base() {
  local tag=$1 tmp c opts=()
  if [ "$tag" = 12-slim ]; then
    opts=(--dpkgopt='path-exclude=/usr/share/doc/*'
          --dpkgopt='path-include=/usr/share/doc/*/copyright'
          --dpkgopt='path-exclude=/usr/share/man/*'
          --dpkgopt='path-exclude=/usr/share/groff/*'
          --dpkgopt='path-exclude=/usr/share/info/*'
          --dpkgopt='path-exclude=/usr/share/lintian/*'
          --dpkgopt='path-exclude=/usr/share/locale/*'
          --dpkgopt='path-include=/usr/share/locale/locale.alias')
  fi
  tmp=$(mktemp -d)
  echo "image: no registry: making docker.io/library/debian:$tag with mmdebstrap (minbase)"
  mmdebstrap -q --variant=minbase "${opts[@]}" bookworm "$tmp/rootfs.tar"
  c=$(buildah from scratch)
  buildah add -q "$c" "$tmp/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash "$c"
  buildah commit -q --rm "$c" "docker.io/library/debian:$tag" >/dev/null
  rm -rf "$tmp"
}

ensure_base() {
  local tag ref
  for tag in "$@"; do
    ref=docker.io/library/debian:$tag
    have_image "$ref" && continue
    timeout 120 buildah pull -q "$ref" >/dev/null 2>&1 || make_base "$tag"
  done
}

# deploy/Dockerfile with its build stage replaced by the given binary: the
# context is a temporary directory holding only the stripped binary.
prebuilt_context() {
  local ctx=$1
  install -m 0755 -s "$binary" "$ctx/kube-chorus-router"
  awk '/^# --- build/ { print "FROM scratch AS build"
                        print "COPY kube-chorus-router /out/kube-chorus-router"
                        skip = 1; next }
       /^# --- runtime/ { skip = 0 }
       !skip' deploy/Dockerfile >"$ctx/Dockerfile"
}

ensure_tools
version=$(sed -n 's/^project(kube-chorus-router VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "image: no project(... VERSION) in CMakeLists.txt" >&2; exit 1; }
if revision=$(git rev-parse --short=12 HEAD 2>/dev/null); then
  git diff --quiet HEAD -- || revision+=-dirty
else
  revision=unknown
fi
image=localhost/kube-chorus-router:$version
context=. dockerfile=deploy/Dockerfile
if [ -n "$binary" ]; then
  ensure_base 12-slim
  # "kube-chorus-router 0.1.0 (git 1c4bfeb0a1b2)" -> 1c4bfeb0a1b2
  revision=$("$binary" --version | sed -n 's/.*(git \(.*\))$/\1/p')
  context=$(mktemp -d) dockerfile=$context/Dockerfile
  trap 'rm -rf "$context"' EXIT
  prebuilt_context "$context"
  echo "image: building $image around $binary (version $version, revision ${revision:=unknown})"
else
  ensure_base 12 12-slim
  echo "image: building $image (version $version, revision $revision)"
fi
buildah bud --isolation chroot --pull=never --layers -f "$dockerfile" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" -t "$image" "$context"

archive=$out_dir/kube-chorus-router-$version.oci.tar
mkdir -p "$out_dir"
rm -f "$archive.tmp"
buildah push -q "$image" "oci-archive:$archive.tmp:docker.io/library/kube-chorus-router:$version"
mv "$archive.tmp" "$archive"

size=$(buildah images --format '{{.Size}}' "$image")
base=$(buildah images --format '{{.Size}}' docker.io/library/debian:12-slim)
echo "image: $image: $size unpacked, on debian:12-slim of $base"
echo "       (a base made by mmdebstrap --variant=minbase, as when no registry answers,"
echo "       is larger than the real debian:12-slim: the real image is smaller)"
# Read back from the archive (skopeo): what a cluster will see.
echo "image: labels in the archive:"
skopeo inspect --format '{{range $k, $v := .Labels}}{{println (printf "  %s=%s" $k $v)}}{{end}}' \
  "oci-archive:$archive"
echo "image: $archive: $(du -h "$archive" | cut -f1) ($(( $(date +%s) - t0 )) s)"
echo "image: load it: kind load image-archive $archive"
echo "              ctr -n k8s.io images import $archive"
