#!/usr/bin/env bash
# The fuzz smoke run: installs clang 19 if it is missing, configures and builds the fuzz preset
# (ASan + UBSan), then runs every libFuzzer target from its committed seeds for at most RUNS
# executions or SECONDS seconds, whichever comes first. Exits non-zero if any target crashes,
# fails a property, leaks, hangs (a unit over 10 s) or runs out of memory.
#
# Usage: tests/fuzz/run_fuzz.sh [SECONDS=30] [RUNS=100000] [TARGET...]
#   TARGET: frame_decoder messages admin_router admin_http config journal_record snapshot
#   journal_scan
#   (default: all). CMAKE_BUILD_PARALLEL_LEVEL limits the build's jobs.
#
# Writes one line per target (executions, time, crashes) to build/fuzz/fuzz-results.txt and
# prints it. Crash inputs land in build/fuzz/artifacts/<target>/, logs in build/fuzz/logs/, new
# corpus entries in build/fuzz/corpus/<target>/ (the committed seeds are only read).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-30}
runs=${2:-100000}
shift $(( $# < 2 ? $# : 2 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(frame_decoder messages admin_router admin_http config journal_record snapshot
             journal_scan)
fi

bash cmake/install-deps.sh --fuzz
if command -v ccache >/dev/null 2>&1; then
    export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
build=build/fuzz
start=$(date +%s)
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
echo "=== fuzz: built in $(( $(date +%s) - start )) s"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
for symbolizer in llvm-symbolizer-19 llvm-symbolizer; do
    if command -v "$symbolizer" >/dev/null 2>&1; then
        export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$(command -v "$symbolizer")}"
        break
    fi
done

results="$build/fuzz-results.txt"
mkdir -p "$build/logs"
{
    echo "# fuzz smoke $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)," \
        "bound: ${runs} runs or ${seconds} s"
} >"$results"
failed=()
fuzz_start=$(date +%s)
for target in "${targets[@]}"; do
    binary="$build/tests/fuzz/fuzz_${target}"
    seeds="tests/fuzz/corpus/${target}"
    work="$build/corpus/${target}"
    artifacts="$build/artifacts/${target}"
    log="$build/logs/${target}.log"
    if [ ! -x "$binary" ] || [ ! -d "$seeds" ]; then
        echo "run_fuzz: unknown target '${target}'" >&2
        exit 2
    fi
    rm -rf "$artifacts"
    mkdir -p "$work" "$artifacts"
    dict=()
    if [ -f "tests/fuzz/${target}.dict" ]; then
        dict=(-dict="tests/fuzz/${target}.dict")
    fi
    t0=$(date +%s.%N)
    rc=0
    "$binary" -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$work" "$seeds" \
        >"$log" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    crashes=$(find "$artifacts" -type f | wc -l)
    status=ok
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status="FAILED(rc=${rc})"
        failed+=("$target")
    fi
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    line=$(printf '%-15s executions=%-9s time=%6ss crashes=%s status=%s' "$target" \
        "${execs:-?}" "$elapsed" "$crashes" "$status")
    echo "$line" | tee -a "$results"
done
echo "# all targets: $(( $(date +%s) - fuzz_start )) s" >>"$results"

echo "=== fuzz results ($results)"
cat "$results"
if [ ${#failed[@]} -ne 0 ]; then
    for target in "${failed[@]}"; do
        echo "=== ${target}: last lines of $build/logs/${target}.log"
        tail -n 40 "$build/logs/${target}.log"
        ls "$build/artifacts/${target}"
    done
    exit 1
fi
