#!/usr/bin/env bash
# Crash recovery, long form: the test suite's kill -9 test with 20 cycles (or $1). Each cycle
# starts redpacketd on the same journal directory, re-checks every claim acknowledged so far
# (a retry with the same request id must answer already_claimed with the same amount), creates
# packets, claims them from 24 clients and kills the daemon with SIGKILL at a random moment.
# At the end the books are checked through the daemon and redpacket-audit must pass.
#
#   bash bench/experiments/crash_cycles.sh [cycles] [build dir, default build/dev]
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles=${1:-20}
build=${2:-build/dev}
tests="$build/tests/redpacketd_tests"
if [ ! -x "$tests" ]; then
    echo "missing $tests: cmake --workflow --preset dev first" >&2
    exit 2
fi
rc=0
out=$(REDPACKET_CRASH_CYCLES="$cycles" "$tests" \
    "claims acknowledged before a kill -9 survive the restart with the same amounts" \
    --reporter compact 2>&1) || rc=$?
echo "$out" | grep -E "crash test:|failed|lost" || true
echo "$out" | tail -1
exit "$rc"
