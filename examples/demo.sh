#!/usr/bin/env bash
# The main job: installs what is missing, builds the release preset, runs the library
# examples, a short pass of every benchmark suite (each hot path beside its naive baseline),
# and then starts redpacketd with a shake and a send campaign and lets 50 clients shake and
# grab against it for 5 seconds, printing what they got and the daemon's own accounting.
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
echo "=== benchmarks (short run; README numbers come from bench/run_benchmarks.sh at full length)"
bash bench/run_benchmarks.sh build/release/bench build/release/bench/results -- \
    --benchmark_min_time=0.05

echo
echo "=== redpacketd: 2 workers, 16 SETs, shake campaign 200/s, send campaign 50/s"
log=$(mktemp)
ready=$(mktemp)
build/release/daemon/redpacketd --port 0 --admin-port 0 --workers 2 --sets 16 \
    --shake-enabled true --shake-rate 200 --shake-min-amount 1 --shake-max-amount 100 \
    --send-enabled true --send-rate 50 --send-total 250 --send-min-total 3 --send-max-total 300 \
    >"$ready" 2>"$log" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    grep -q ready "$ready" && break
    sleep 0.1
done
cat "$ready"
port=$(sed -n 's/.* port=\([0-9]*\) .*/\1/p' "$ready")
admin=$(sed -n 's/.*admin_port=\([0-9]*\) .*/\1/p' "$ready")

build/release/examples/example_daemon_client "$port" 50 5

echo
echo "--- the daemon's view (GET /stats, /metrics on 127.0.0.1:${admin})"
exec 3<>"/dev/tcp/127.0.0.1/${admin}"
printf 'GET /stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
body=$(cat <&3 | sed '1,/^\r$/d')
exec 3<&-
python3 - "$body" <<'PY' || echo "$body" | head -c 2000
import json, sys
s = json.loads(sys.argv[1])
t, m = s["totals"], s["money"]
print(f"connections {s['connections']}, logins {t['logins']}, migrations {t['migrations']}")
print(f"shakes {t['shake_requests']}: hits {t['shake_hits']}, empty {t['shake_misses']}, overloaded {t['shake_overloaded']}")
print(f"group packets sent {t['packets_sent']}, notices {t['notices']}, grabs {t['grabs']} (hits {t['grab_hits']})")
print("money (cents): " + ", ".join(f"{k} {v}" for k, v in m.items()))
print(f"balanced: {m['group_created'] == m['group_claimed'] + m['group_refunded'] + m['group_outstanding']}, invariant violations {s['invariant_violations']}")
l = s["latency_ns"]
print(f"service time: p50 {l['p50']} ns, p99 {l['p99']} ns, max {l['max']} ns over {l['count']} requests")
PY
kill -TERM "$daemon"
wait "$daemon"
echo "redpacketd stopped cleanly (exit 0); its log: $log"
