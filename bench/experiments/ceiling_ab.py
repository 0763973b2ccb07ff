#!/usr/bin/env python3
"""Closed-loop shake ceilings of one or more redpacketd builds against redpacket-echo, in
interleaved rounds, so that builds are compared on the same machine in the same minutes.

    python3 bench/experiments/ceiling_ab.py [--daemon NAME=PATH ...] [--rounds 3]

Each round runs, for each in-flight depth (default 1 and 16): the echo server, then every daemon
given (default: this tree's build/release/daemon/redpacketd as "current"), each under a closed
loop of --connections connections (default 100) for --seconds (default 10), server pinned to
--server-core, redpacket-load to --load-core. A daemon's ratio in a round is its requests/s over
the echo server's in that round; the report gives every round and the median ratio. Use it to
measure a change: build the old tree, pass it as --daemon before=/path/to/old/redpacketd.

Loopback only; every process it starts is stopped at the end.
"""
import argparse
import datetime
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from seed_experiment import Server, ab_setup, add_ab_arguments, log, run_load  # noqa: E402


def closed_loop(args, argv, echo, inflight, name):
    s = Server(argv, args.server_core, os.path.join(args.out, f"{name}-server.log"))
    try:
        load = ["--mode", "closed", "--inflight", str(inflight), "--plan",
                f"connect {args.connections} @ 5000/s; qps 1 for {args.seconds}s"]
        if echo:
            load.append("--echo")
        summary = run_load(args, s.port, load, name, s.pid, spin=False)
    finally:
        s.stop()
    p = summary["phases"][1]
    return {"rps": p["responses"] * 1000.0 / max(1, p["duration_ms"]),
            "cpu_us": p.get("server_cpu_us_per_response", 0.0), "errors": p["errors"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_ab_arguments(ap, rounds=3)
    ap.add_argument("--inflight", default="1,16")
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    args.no_spin = True
    echo_bin, daemons = ab_setup(args, "ceiling-ab")
    depths = [int(x) for x in args.inflight.split(",")]

    rows = []  # (round, inflight, name, rps, ratio, cpu_us)
    for r in range(args.rounds):
        for inflight in depths:
            log(f"round {r + 1}/{args.rounds}, {inflight} in flight: echo")
            e = closed_loop(args, [echo_bin, "--port", "0"], True, inflight,
                            f"r{r}-x{inflight}-echo")
            rows.append((r, inflight, "echo", e["rps"], 1.0, e["cpu_us"]))
            for name, path in daemons:
                log(f"round {r + 1}/{args.rounds}, {inflight} in flight: {name}")
                d = closed_loop(args, [path, "--port", "0", "--admin-port", "0", "--compat-mode", "true", "--workers", "1",
                                       "--rate-limit", "1000000000"], False, inflight,
                                f"r{r}-x{inflight}-{name}")
                rows.append((r, inflight, name, d["rps"], d["rps"] / e["rps"] if e["rps"] else 0,
                             d["cpu_us"]))

    lines = [f"# Closed-loop ceilings, {args.rounds} interleaved rounds",
             "", f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"{args.connections} connections, {args.seconds} s each, server on core "
             f"{args.server_core}, load on core {args.load_core}.", "",
             "| round | in flight | server | requests/s | ratio to echo | server CPU µs/request |",
             "|---:|---:|---|---:|---:|---:|"]
    for r, inflight, name, rps, ratio, cpu in rows:
        lines.append(f"| {r + 1} | {inflight} | {name} | {rps:,.0f} | {ratio:.2f} | {cpu:.2f} |")
    lines += ["", "| in flight | server | median ratio to echo | median requests/s |",
              "|---:|---|---:|---:|"]
    summary = {}
    for inflight in depths:
        for name, _ in daemons:
            mine = [x for x in rows if x[1] == inflight and x[2] == name]
            ratio = statistics.median(x[4] for x in mine)
            rps = statistics.median(x[3] for x in mine)
            summary[f"{name}-x{inflight}"] = {"median_ratio": ratio, "median_rps": rps}
            lines.append(f"| {inflight} | {name} | {ratio:.2f} | {rps:,.0f} |")
    report = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"rows": rows, "summary": summary}, f, indent=1)
    print(report)


if __name__ == "__main__":
    main()
