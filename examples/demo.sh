#!/usr/bin/env bash
# The main job: installs what is missing, builds the release preset, runs the examples, and
# runs a short pass of every benchmark suite (each hot path beside its naive baseline), with
# the JSON results kept under build/release/bench/results.
set -euo pipefail
cd "$(dirname "$0")/.."

bash cmake/install-deps.sh
if command -v ccache >/dev/null 2>&1; then
    export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi

cmake --preset release -DREDPACKET_BUILD_TESTS=OFF >/dev/null
cmake --build --preset release

for example in embed_pool count_rates route_to_shards; do
    echo
    echo "=== example: ${example}"
    build/release/examples/example_${example}
done

echo
echo "=== benchmarks (short run; for README-grade numbers use bench/run_benchmarks.sh without --benchmark_min_time)"
bash bench/run_benchmarks.sh build/release/bench build/release/bench/results -- \
    --benchmark_min_time=0.05
