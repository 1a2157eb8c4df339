#!/usr/bin/env bash
# Runs every fuzz target of BUILD_DIR/fuzz for FUZZ_SECONDS each (make fuzz; CI: make test).
# Each target starts from its checked-in seeds (test/fuzz/corpus/<target>, plus the repository's
# test data where it fits) and grows a working corpus in BUILD_DIR/fuzz/corpus/<target>, kept
# between runs. A crash, a leak, a sanitizer report or a broken invariant fails the run; the
# input is kept in BUILD_DIR/fuzz/crashes/ and the command that replays it is printed.
# FUZZ_RUNS=N (the long run by hand: 10000000) stops each target after N executions instead
# of after FUZZ_SECONDS.
# Usage: run.sh BUILD_DIR [target...]
set -uo pipefail

build=${1:?usage: run.sh BUILD_DIR [target...]}
shift
seconds=${FUZZ_SECONDS:-60}
runs_limit=${FUZZ_RUNS:-}
if [ -n "$runs_limit" ]; then
  limit=(-runs="$runs_limit"); what="up to $runs_limit executions"
else
  limit=(-max_total_time="$seconds"); what="${seconds}s"
fi
src=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$src/../.." && pwd)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_watch_decoder fuzz_node fuzz_configmap_codec
                                     fuzz_kubeconfig fuzz_duration fuzz_options)

# Extra seed folders from the repository's test data.
extra_seeds() {
  case "$1" in
    fuzz_node) echo "$root/test/kube/data" ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
mkdir -p "$build/fuzz/crashes"
for t in "${targets[@]}"; do
  bin="$build/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz: $bin missing (make fuzz builds it)" >&2; failed+=("$t"); continue; }
  work="$build/fuzz/corpus/$t"
  mkdir -p "$work"
  log="$build/fuzz/$t.log"
  # shellcheck disable=SC2046
  start=$(date +%s)
  "$bin" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz/crashes/$t-" \
    "$work" "$src/corpus/$t" $(extra_seeds "$t") >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "fuzz: $t: ok, ${runs:-?} executions in ${took}s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) inputs"
  else
    failed+=("$t")
    crash=$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')
    echo "fuzz: $t: FAILED (exit $rc) after ${runs:-?} executions; log $log" >&2
    grep -E "ERROR: |runtime error:|SUMMARY:|fuzz_[a-z_]*: |watch_decoder: " "$log" | head -5 >&2
    if [ -n "$crash" ]; then
      echo "fuzz: input kept in $crash; reproduce with: $bin $crash" >&2
    fi
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets clean ($what each)"
