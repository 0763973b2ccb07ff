#!/usr/bin/env bash
# The main job: installs what is missing, builds the release preset, runs the library
# examples, then the one-minute version of the seed experiment: redpacketd (pinned to core 0,
# shake campaign 200/s, send campaign 200/s) under redpacket-load (pinned to core 1) with 3,000
# connections at 5k and then 10k QPS, followed by the closed-loop ceilings against a plain echo
# server (and redis-benchmark if installed). Prints the summary table and where the PNG plots
# are. The full experiment: python3 bench/experiments/seed_experiment.py (about 7 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

bash cmake/install-deps.sh --experiment
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
echo "=== the seed experiment, one-minute version (bench/experiments/seed_experiment.py --quick)"
out="build/release/experiments/demo-$(date -u +%Y%m%d-%H%M%S)"
python3 bench/experiments/seed_experiment.py --quick --out "$out"
echo
echo "Plots (PNG) and the report: $out/"
ls "$out"/*.png 2>/dev/null | sed 's/^/  /' || true
