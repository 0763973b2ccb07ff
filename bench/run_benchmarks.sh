#!/usr/bin/env bash
# Runs every bench_* binary and keeps its results as JSON.
#
# Usage: bench/run_benchmarks.sh [BENCH_DIR [OUT_DIR]] [-- EXTRA_ARGS...]
#   BENCH_DIR   directory holding the bench_* binaries (default: build/release/bench)
#   OUT_DIR     where <name>.json goes (default: BENCH_DIR/results)
#   EXTRA_ARGS  passed to every binary, e.g. --benchmark_min_time=0.05 for a short run, or
#               --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#
# Single-threaded suites are pinned to core 1 with taskset (if present); the suites with
# two-thread benchmarks (rate_counter, dispatch, journal's producer and writer thread) get cores
# 0 and 1 — never one core, or the producer and consumer would take turns instead of running
# side by side.
set -euo pipefail

bench_dir=build/release/bench
out_dir=""
if [[ $# -gt 0 && $1 != -* ]]; then
    bench_dir=$1
    shift
fi
if [[ $# -gt 0 && $1 != -* ]]; then
    out_dir=$1
    shift
fi
if [[ $# -gt 0 && $1 == -- ]]; then
    shift
fi
out_dir=${out_dir:-$bench_dir/results}

shopt -s nullglob
binaries=()
for f in "$bench_dir"/bench_*; do
    [[ -f $f && -x $f ]] && binaries+=("$f")
done
if [[ ${#binaries[@]} -eq 0 ]]; then
    echo "run_benchmarks.sh: no bench_* binaries in $bench_dir (build the bench targets first)" >&2
    exit 1
fi
mkdir -p "$out_dir"

have_taskset=false
command -v taskset >/dev/null 2>&1 && have_taskset=true

for bin in "${binaries[@]}"; do
    name=$(basename "$bin")
    pin=()
    if $have_taskset; then
        case $name in
            bench_rate_counter | bench_dispatch | bench_journal) pin=(taskset -c 0,1) ;;
            *) pin=(taskset -c 1) ;;
        esac
    fi
    echo "=== $name ${pin[*]:+(${pin[*]})}"
    "${pin[@]}" "$bin" \
        --benchmark_format=console \
        --benchmark_out="$out_dir/$name.json" \
        --benchmark_out_format=json \
        "$@"
done

echo
echo "JSON results written to $(cd "$out_dir" && pwd):"
for bin in "${binaries[@]}"; do
    echo "  $(basename "$bin").json"
done
