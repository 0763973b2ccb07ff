#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs every test three ways —
# the dev preset (Debug, -Werror; includes the install/find_package consumer check and the
# examples), AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer), and
# ThreadSanitizer (each with the simulator's CI seeds: 2,000 in dev, 200 under the sanitizers)
# — then the fuzz smoke run: every libFuzzer target of tests/fuzz (clang 19,
# ASan + UBSan) for at most 100,000 executions or 30 s each. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash cmake/install-deps.sh --tests
if command -v ccache >/dev/null 2>&1; then
    export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi

start=$(date +%s)
for preset in dev asan tsan; do
    echo "=== ${preset}: configure, build, test"
    cmake --workflow --preset "${preset}"
done
echo "=== all presets passed in $(( $(date +%s) - start )) s"
echo "=== fuzz smoke: tests/fuzz/run_fuzz.sh 30 100000"
bash tests/fuzz/run_fuzz.sh 30 100000
echo "=== everything passed in $(( $(date +%s) - start )) s"
