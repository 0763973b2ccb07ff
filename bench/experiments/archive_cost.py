#!/usr/bin/env python3
"""What the proof archive costs the daemon: packets that live their whole life during the run,
with the archive off and on, in interleaved rounds (issue 24's goal: at most 5 % slower).

    python3 bench/experiments/archive_cost.py [--rounds 3] [--qps 10000] [--connections 5000]

Each round runs redpacketd (one worker, a journal, --retention-seconds 0) twice: with
--proof-retention-seconds 0 (no archive) and with the default retention (the archive), in an
order that alternates between rounds. Each run has two phases under `redpacket-load --request
cycle`: a connection with no packet open creates a one-share packet and its next request claims
it, and every packet expires --cycle-ttl seconds (default 2) after its create, which is when the
memory store writes it to the archive; so one packet is archived per two requests.
  1. paced: --connections connections, smooth pacing with --spin at --qps for --seconds; the
     daemon's CPU time per response (from /proc);
  2. closed loop: 100 connections x 16 in flight for --seconds; responses per second.
Then it waits until every packet made has expired and the archive has committed all of them
(GET /stats: pending 0), and reads the archive's rows and, per thread, the CPU time and the bytes
handed to write calls (/proc/PID/task/*/stat and io): the archive thread's CPU and bytes written
per archived packet, the worker's CPU per request. After the stop: proofs.sqlite's
size (SQLite checkpoints its WAL on close) over its rows. The report gives every run, the medians and the on/off ratios.

Loopback only; every process it starts is stopped at the end.
"""
import argparse
import datetime
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from seed_experiment import (Server, ab_setup, add_ab_arguments, get_json, log,  # noqa: E402
                             run_load)

CONFIGS = {"off": ["--proof-retention-seconds", "0"], "on": []}


def dir_bytes(path, name=None):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if name is None or f.startswith(name):
                total += os.path.getsize(os.path.join(root, f))
    return total


def threads(pid):
    """For each of the process's threads, by name (rp-worker-0, rp-journal, rp-archive, ...):
    CPU seconds so far (/proc/PID/task/*/stat) and bytes handed to write calls (`wchar` of
    /proc/PID/task/*/io)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
            with open(f"/proc/{pid}/task/{tid}/io") as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        t = out.setdefault(comm, {"cpu_s": 0.0, "wchar": 0})
        t["cpu_s"] += (int(fields[11]) + int(fields[12])) / tick
        t["wchar"] += int(io["wchar"])
    return out


def archive_rows(journal):
    """Rows in the archive after the daemon stopped, and the bytes of its files."""
    path = os.path.join(journal, "worker-0", "proofs.sqlite")
    if not os.path.exists(path):
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM proofs").fetchone()[0]


def one_run(args, daemon, config, name):
    journal = tempfile.mkdtemp(prefix="archive-cost-", dir=args.out)
    argv = [daemon, "--port", "0", "--admin-port", "0", "--compat-mode", "true", "--workers", "1",
            "--max-connections", str(args.connections + 200), "--rate-limit", "1000000000",
            "--journal-dir", journal, "--retention-seconds", "0",
            "--max-packets-per-set", str(args.max_packets)] + CONFIGS[config]
    s = Server(argv, args.server_core, os.path.join(args.out, f"{name}-server.log"))
    try:
        cycle = ["--request", "cycle", "--cycle-ttl", str(args.cycle_ttl)]
        paced = run_load(args, s.port, cycle + [
            "--mode", "smooth", "--plan", f"connect {args.connections} @ 10000/s; hold 1s; "
            f"qps {args.qps} for {args.seconds}s"], f"{name}-paced", s.pid, spin=True)
        closed = run_load(args, s.port, cycle + [
            "--mode", "closed", "--inflight", "16", "--user-base", "1000000", "--plan",
            f"connect 100 @ 5000/s; qps 1 for {args.seconds}s"], f"{name}-closed", s.pid,
            spin=False)
        # Every packet made has expired (cycle_ttl) and the archive has caught up: its thread's
        # CPU and writes are then for every row counted, not for rows still queued.
        time.sleep(args.cycle_ttl + 1.5)
        deadline = time.monotonic() + 300
        while True:
            stats = get_json(s.admin_port, "/stats")["journal"]["proof_archive"]
            if stats["pending"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        per_thread = threads(s.pid)
    finally:
        rc = s.stop()
    p, c = paced["phases"][-1], closed["phases"][-1]
    row = {"config": config, "rc": rc, "archived": stats["archived"],
           "dropped": stats["dropped"], "archive_errors": stats["errors"],
           "cpu_us": p.get("server_cpu_us_per_response", 0.0), "p99_us": p["latency_us"]["p99"],
           "paced_responses": p["responses"], "paced_errors": p["errors"],
           "pending_at_read": stats["pending"],
           "closed_rps": c["responses"] * 1000.0 / max(1, c["duration_ms"]),
           "closed_errors": c["errors"], "sqlite_bytes": dir_bytes(journal, "proofs.sqlite"),
           "journal_bytes": dir_bytes(journal, "journal-"), "threads": per_thread,
           "rows_at_stop": archive_rows(journal),
           "archive_cpu_s": per_thread.get("rp-archive", {}).get("cpu_s", 0.0),
           "archive_wchar": per_thread.get("rp-archive", {}).get("wchar", 0),
           "worker_cpu_s": per_thread.get("rp-worker-0", {}).get("cpu_s", 0.0),
           "requests": p["responses"] + c["responses"]}
    shutil.rmtree(journal, ignore_errors=True)
    return row


def report(args, rows):
    lines = [f"# The proof archive's cost, {args.rounds} interleaved rounds", "",
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; one worker, "
             f"journal on, `--request cycle --cycle-ttl {args.cycle_ttl}`; paced: "
             f"{args.connections} connections at {args.qps:,}/s for {args.seconds} s (smooth, "
             f"--spin); closed: 100 connections x 16 in flight for {args.seconds} s; server on "
             f"core {args.server_core}, load on core {args.load_core}.", "",
             "| round | archive | paced CPU µs/request | paced p99 µs | closed requests/s | "
             "archived | dropped | worker CPU µs/request | archive thread CPU µs/packet | "
             "archive thread B written/packet | proofs.sqlite B/row | journal B/packet | errors |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        per = r["sqlite_bytes"] / r["rows_at_stop"] if r["rows_at_stop"] else 0
        wper = r["archive_wchar"] / r["archived"] if r["archived"] else 0
        packets = (r["paced_responses"] + r["closed_rps"] * args.seconds) / 2
        jper = r["journal_bytes"] / packets if packets else 0
        lines.append(f"| {r['round'] + 1} | {r['config']} | {r['cpu_us']:.2f} | {r['p99_us']:.0f} "
                     f"| {r['closed_rps']:,.0f} | {r['archived']:,} | {r['dropped']} | "
                     f"{r['worker_cpu_s'] * 1e6 / max(1, r['requests']):.2f} | "
                     f"{r['archive_cpu_s'] * 1e6 / r['archived'] if r['archived'] else 0:.2f} | {wper:,.0f} | {per:.0f} "
                     f"| {jper:.0f} | {r['paced_errors'] + r['closed_errors'] + r['archive_errors']} |")
    med = {}
    for config in CONFIGS:
        mine = [r for r in rows if r["config"] == config]
        med[config] = {k: statistics.median(r[k] for r in mine) for k in ("cpu_us", "closed_rps")}
    lines += ["", "| | archive off | archive on | on / off |", "|---|---:|---:|---:|",
              f"| median paced CPU µs/request | {med['off']['cpu_us']:.2f} | "
              f"{med['on']['cpu_us']:.2f} | {med['on']['cpu_us'] / med['off']['cpu_us']:.3f} |",
              f"| median closed-loop requests/s | {med['off']['closed_rps']:,.0f} | "
              f"{med['on']['closed_rps']:,.0f} | "
              f"{med['on']['closed_rps'] / med['off']['closed_rps']:.3f} |"]
    return "\n".join(lines) + "\n", med


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_ab_arguments(ap, rounds=3)
    ap.add_argument("--qps", type=int, default=10000)
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--cycle-ttl", type=int, default=2)
    ap.add_argument("--max-packets", type=int, default=1 << 19,
                    help="--max-packets-per-set: a packet stays in memory until its deadline")
    args = ap.parse_args()
    args.no_spin = False
    _, daemons = ab_setup(args, "archive-cost")
    daemon = daemons[0][1]
    rows = []
    for r in range(args.rounds):
        order = ["off", "on"] if r % 2 == 0 else ["on", "off"]
        for config in order:
            log(f"round {r + 1}/{args.rounds}: archive {config}")
            rows.append(dict(one_run(args, daemon, config, f"r{r}-{config}"), round=r))
    text, med = report(args, rows)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"rows": rows, "medians": med}, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
