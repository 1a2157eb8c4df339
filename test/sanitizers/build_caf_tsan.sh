#!/usr/bin/env bash
# Builds CAF 0.17.6's libcaf_core with ThreadSanitizer into DEST (make test-tsan): TSan against
# Debian's uninstrumented libcaf_core sees none of CAF's synchronisation and reports thousands
# of false races. The source is Debian's own (apt-get source actor-framework, through a private
# deb-src list so the machine's apt configuration stays as it is), checked against the .dsc.
# Prints the library's path on its last line; exits non-zero when the source is unreachable.
# Usage: build_caf_tsan.sh DEST
set -euo pipefail
dest=${1:?usage: build_caf_tsan.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
lib="$dest/build/lib/libcaf_core.so"
if [ -f "$lib" ]; then echo "$lib"; exit 0; fi

version=$(dpkg-query -W -f='${source:Version}' libcaf-dev)   # e.g. 0.17.6-2.1
upstream=${version%-*}
src="$dest/src"
if [ ! -d "$src/actor-framework-$upstream" ]; then
  mkdir -p "$src/lists/partial"
  echo "deb-src http://deb.debian.org/debian bookworm main" >"$src/sources.list"
  apt_opts=(-o Dir::Etc::SourceList="$src/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o Dir::State::Lists="$src/lists")
  apt-get "${apt_opts[@]}" update -q >"$src/apt.log" 2>&1
  # --download-only: the upstream tarball is all we need (Debian's patches touch packaging).
  (cd "$src" && apt-get "${apt_opts[@]}" source --download-only "actor-framework=$version" \
     >>"$src/apt.log" 2>&1) || true
  tarball="$src/actor-framework_$upstream.orig.tar.gz"
  [ -f "$tarball" ] || { echo "build_caf_tsan: could not fetch $tarball (see $src/apt.log)" >&2; exit 1; }
  want=$(sed -n '/^Checksums-Sha256:/,/^[A-Z]/p' "$src"/actor-framework_*.dsc |
         awk -v f="$(basename "$tarball")" '$3 == f {print $1}')
  have=$(sha256sum "$tarball" | cut -d' ' -f1)
  [ -n "$want" ] && [ "$want" = "$have" ] ||
    { echo "build_caf_tsan: $tarball: sha256 $have, the .dsc says ${want:-nothing}" >&2; exit 1; }
  tar xzf "$tarball" -C "$src"
fi
# Core only, with the options Debian's build_config.hpp shows (log level QUIET, exceptions on).
cmake -S "$src/actor-framework-$upstream" -B "$dest/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -g1" -DCAF_NO_IO=yes -DCAF_NO_OPENSSL=yes \
  -DCAF_NO_EXAMPLES=yes -DCAF_NO_UNIT_TESTS=yes -DCAF_NO_TOOLS=yes -DCAF_NO_PYTHON=yes \
  -DCAF_NO_OPENCL=yes -DCAF_NO_SUMMARY=yes -DCAF_LOG_LEVEL=QUIET >"$dest/cmake.log" 2>&1
cmake --build "$dest/build" -j"${JOBS:-$(nproc)}" --target libcaf_core_shared >"$dest/build.log" 2>&1 ||
  { tail -20 "$dest/build.log" >&2; exit 1; }
ls "$dest"/build/lib/libcaf_core.so* >/dev/null
echo "$lib"
