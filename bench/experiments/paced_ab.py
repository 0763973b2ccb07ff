#!/usr/bin/env python3
"""Paced per-request cost of redpacketd builds against redpacket-echo, in interleaved rounds.

    python3 bench/experiments/paced_ab.py [--daemon NAME=PATH ...] [--rounds 5]

Each round runs, for each rate (default 30,000 and 60,000 requests/s): redpacket-echo, then every
daemon given (default: this tree's build/release/daemon/redpacketd as "current"), each under
redpacket-load in smooth mode with --spin (sends on schedule to the microsecond), --connections
connections (default 19,000: one worker of the seed experiment) logged in and paced for
--seconds (default 15), the server pinned to --server-core and the load to --load-core, with
--server-pid sampling the server's CPU time. A server's cost is its CPU time over the paced
phase divided by the responses in it; a daemon's ratio in a round is its cost over echo's in
that round (and its p99 over echo's). The report gives every round and the medians; the issue's
goal is a median CPU ratio of at most 1.1 and a p99 ratio of at most 1.2 at both rates.

To compare a change: build the old tree in a worktree (release preset) and pass it as
--daemon before=/path/to/old/build/release/daemon/redpacketd --daemon after=build/release/...

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


def paced(args, argv, echo, qps, name):
    """One paced run; returns the paced phase's cost, latency and counts."""
    s = Server(argv, args.server_core, os.path.join(args.out, f"{name}-server.log"))
    try:
        load = ["--mode", "smooth", "--plan",
                f"connect {args.connections} @ 10000/s; hold 1s; qps {qps} for {args.seconds}s"]
        if echo:
            load.append("--echo")
        summary = run_load(args, s.port, load, name, s.pid, spin=True)
    finally:
        s.stop()
    p = summary["phases"][-1]
    return {"cpu_us": p.get("server_cpu_us_per_response", 0.0),
            "p99_us": p["latency_us"]["p99"], "p50_us": p["latency_us"]["p50"],
            "responses": p["responses"], "errors": p["errors"]}


def daemon_argv(path, connections):
    return [path, "--port", "0", "--admin-port", "0", "--compat-mode", "true", "--workers", "1",
            "--max-connections", str(connections + 100), "--rate-limit", "1000000000"]


def report(args, rows, names, rates):
    lines = [f"# Paced per-request cost, {args.rounds} interleaved rounds", "",
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"{args.connections} connections, smooth pacing with --spin, {args.seconds} s paced "
             f"per run, server on core {args.server_core}, load on core {args.load_core}.", "",
             "| round | QPS | server | CPU µs/request | ratio to echo | p50 µs | p99 µs | "
             "p99 ratio | errors |", "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['round'] + 1} | {r['qps']:,} | {r['name']} | {r['cpu_us']:.2f} | "
                     f"{r['ratio']:.2f} | {r['p50_us']:.0f} | {r['p99_us']:.0f} | "
                     f"{r['p99_ratio']:.2f} | {r['errors']} |")
    lines += ["", "| QPS | server | median CPU µs/request | median ratio | median p99 ratio |",
              "|---:|---|---:|---:|---:|"]
    summary = {}
    for qps in rates:
        for name in ["echo"] + names:
            mine = [r for r in rows if r["qps"] == qps and r["name"] == name]
            cpu = statistics.median(r["cpu_us"] for r in mine)
            ratio = statistics.median(r["ratio"] for r in mine)
            p99 = statistics.median(r["p99_ratio"] for r in mine)
            summary[f"{name}-{qps}"] = {"cpu_us": cpu, "ratio": ratio, "p99_ratio": p99}
            lines.append(f"| {qps:,} | {name} | {cpu:.2f} | {ratio:.2f} | {p99:.2f} |")
    return "\n".join(lines) + "\n", summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_ab_arguments(ap, rounds=5)
    ap.add_argument("--qps", default="30000,60000")
    ap.add_argument("--connections", type=int, default=19000)
    ap.add_argument("--seconds", type=int, default=15)
    args = ap.parse_args()
    args.no_spin = False
    echo_bin, daemons = ab_setup(args, "paced-ab")
    rates = [int(x) for x in args.qps.split(",")]

    rows = []
    for r in range(args.rounds):
        for qps in rates:
            log(f"round {r + 1}/{args.rounds}, {qps} QPS: echo")
            e = paced(args, [echo_bin, "--port", "0"], True, qps, f"r{r}-q{qps}-echo")
            rows.append(dict(e, round=r, qps=qps, name="echo", ratio=1.0, p99_ratio=1.0))
            for name, path in daemons:
                log(f"round {r + 1}/{args.rounds}, {qps} QPS: {name}")
                d = paced(args, daemon_argv(path, args.connections), False, qps,
                          f"r{r}-q{qps}-{name}")
                rows.append(dict(d, round=r, qps=qps, name=name,
                                 ratio=d["cpu_us"] / e["cpu_us"] if e["cpu_us"] else 0.0,
                                 p99_ratio=d["p99_us"] / e["p99_us"] if e["p99_us"] else 0.0))
    text, summary = report(args, rows, [n for n, _ in daemons], rates)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"rows": rows, "summary": summary}, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
