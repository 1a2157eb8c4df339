#!/usr/bin/env bash
# Builds the tree with sanitizers and runs test suites in it (make test-asan, make test-tsan).
# Usage: run.sh asan|tsan BUILD_DIR CONTROLPLANE_BIN [ctest args...]
#   asan: -DKCR_SANITIZE=address,undefined (ASan, LeakSanitizer, UBSan) in BUILD_DIR
#   tsan: -DKCR_SANITIZE=thread
# Every report goes to BUILD_DIR/sanitizer-logs/ (log_path), also those of the
# kube-chorus-router processes the integration tests start and stop: ctest only sees their
# exit codes, so a report in that folder fails the run even when ctest passed. Suppressions
# (third-party code only, each with its reason) are the *.supp files next to this script.
set -uo pipefail

kind=${1:?usage: run.sh asan|tsan BUILD_DIR CONTROLPLANE_BIN [ctest args...]}
build=${2:?build dir}
cpbin=${3:?control plane bin dir}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
jobs=${JOBS:-$(nproc)}

extra=()
tsan_supp="$here/tsan.supp"
opt=-O1
case "$kind" in
  # -O0: far less compile time than -O1 (CMakeLists.txt says why that matters).
  asan) sanitize=address,undefined; opt=-O0 ;;
  tsan)
    sanitize=thread
    # TSan must see CAF's own synchronisation: link a libcaf_core built with -fsanitize=thread.
    if caf=$(bash "$here/build_caf_tsan.sh" "$build/caf" | tail -1) && [ -f "$caf" ]; then
      extra=(-DCAF_CORE_LIB="$caf")
      echo "sanitizers: tsan with the instrumented $caf"
    else
      extra=(-DCAF_CORE_LIB="$(ls /usr/lib/*/libcaf_core.so | head -1)")
      tsan_supp="$here/tsan-caf-uninstrumented.supp"
      echo "sanitizers: WARNING: no instrumented CAF (see above); Debian's libcaf_core with" \
           "$tsan_supp: races with a CAF frame are not reported" >&2
    fi ;;
  *) echo "run.sh: $kind: expected asan or tsan" >&2; exit 2 ;;
esac

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKCR_SANITIZE="$sanitize" \
  -DKCR_SANITIZE_OPT="$opt" "${extra[@]}" >/dev/null || exit 1
# Only what the chosen tests run: their test binaries (a *_real test runs its plain one) and the
# product binary the script tests start.
tests=$(cd "$build" && ctest -N "$@" 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *//p')
known=$(cmake --build "$build" --target help | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p')
want=(kube-chorus-router)
for t in $tests; do
  t=${t%_real}
  grep -qx -- "$t" <<<"$known" && want+=("$t")
done
start=$(date +%s)
cmake --build "$build" -j"$jobs" --target "${want[@]}" || exit 1
echo "sanitizers: $kind build of ${#want[@]} targets took $(( $(date +%s) - start ))s"

logs=$(cd "$build" && pwd)/sanitizer-logs
rm -rf "$logs" && mkdir -p "$logs"
common="log_path=$logs/report:print_stacktrace=1"
export ASAN_OPTIONS="$common:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="$common:halt_on_error=1:suppressions=$here/ubsan.supp"
export TSAN_OPTIONS="$common:halt_on_error=0:second_deadlock_stack=1:suppressions=$tsan_supp"
export KCR_CONTROLPLANE_BIN="$cpbin"

start=$(date +%s)
(cd "$build" && ctest --output-on-failure "$@")
rc=$?
echo "sanitizers: $kind tests took $(( $(date +%s) - start ))s (ctest exit $rc)"

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  echo "sanitizers: $(echo "$reports" | wc -l) report file(s) in $logs:" >&2
  for f in $reports; do
    echo "--- $f" >&2
    grep -E "ERROR: |WARNING: ThreadSanitizer|runtime error:|SUMMARY:" "$f" | head -5 >&2
  done
  exit 1
fi
exit $rc
