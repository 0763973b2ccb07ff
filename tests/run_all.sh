#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs every test three ways —
# the dev preset (Debug, -Werror; includes the install/find_package consumer check and the
# examples), AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer), and
# ThreadSanitizer. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash cmake/install-deps.sh
if command -v ccache >/dev/null 2>&1; then
    export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi

start=$(date +%s)
for preset in dev asan tsan; do
    echo "=== ${preset}: configure, build, test"
    cmake --workflow --preset "${preset}"
done
echo "=== all presets passed in $(( $(date +%s) - start )) s"
