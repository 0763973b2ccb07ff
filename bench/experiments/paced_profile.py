#!/usr/bin/env python3
"""Where a paced request's CPU goes, in redpacketd and in redpacket-echo, under the same load.

    python3 bench/experiments/paced_profile.py [--daemon NAME=PATH ...] [--qps 30000] [--rounds 2]

Each round runs redpacket-echo and then each daemon (default: this tree's release build) under paced_ab.py's load (redpacket-load
smooth with --spin, --connections connections, --qps requests/s for --seconds), the server on
--server-core and the load on --load-core. Over a window inside the paced phase (from --settle s
after it starts, for --window s) it attaches, to the server's pid only:
  - perf stat: task-clock, context switches, page faults, and the syscalls it entered
    (raw_syscalls:sys_enter), each per request (requests = qps × window);
  - perf record (cpu-clock at --frequency Hz, call graphs): the share of samples in the kernel
    and in user space, the user-space functions with the most samples, and each thread's share.
perf's own cost lands on both servers alike; compare them within a round, not with paced_ab.py.
The report (report.md in the output folder) has every round and the medians.

Loopback only; every process it starts is stopped at the end. Needs perf with permission to
attach to the servers (root, or perf_event_paranoid ≤ 1).
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from paced_ab import daemon_argv  # noqa: E402
from seed_experiment import Server, ab_setup, add_ab_arguments, log, run_load  # noqa: E402

TOP = 12  # user-space functions listed per run
# Every syscall a paced request could make, each counted: which ones a server adds shows here.
SYSCALLS = ["read", "write", "writev", "epoll_wait", "epoll_ctl", "futex", "clock_gettime",
            "accept4", "close", "getsockopt", "setsockopt", "ioctl"]
STAT_EVENTS = ",".join(["task-clock", "context-switches", "page-faults", "raw_syscalls:sys_enter"]
                       + [f"syscalls:sys_enter_{s}" for s in SYSCALLS])


def attach(args, pid, name):
    """perf stat and perf record on `pid` for the window; returns their output paths."""
    stat_out = os.path.join(args.out, f"{name}.stat")
    data = os.path.join(args.out, f"{name}.perf")
    window = str(args.window)
    stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", STAT_EVENTS, "-p", str(pid),
                             "-o", stat_out, "--", "sleep", window],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    record = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F",
                               str(args.frequency), "-g", "-p", str(pid), "-o", data, "--",
                               "sleep", window],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stat.wait()
    record.wait()
    return stat_out, data


def parse_stat(path):
    """perf stat -x , output → {event: value}."""
    values = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0] and not line.startswith("#"):
                try:
                    values[parts[2]] = float(parts[0])
                except ValueError:
                    pass
    return values


def by_thread(data):
    """[(percent, thread name)] of a perf.data's samples."""
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                          "--sort", "comm", "-g", "none"], capture_output=True, text=True).stdout
    rows = []
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S.*)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2).strip()))
    return rows


def split_samples(data):
    """(kernel share, user share, top user symbols [(percent, symbol)]) of a perf.data."""
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                          "--sort", "sym", "-g", "none"],
                         capture_output=True, text=True).stdout
    kernel = user = 0.0
    top = []
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[([k.])\]\s+(.*)", line)
        if not m:
            continue
        pct, where, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        if where == "k":
            kernel += pct
        else:
            user += pct
            top.append((pct, sym))
    return kernel, user, top[:TOP]


def profiled(args, argv, echo, name):
    s = Server(argv, args.server_core, os.path.join(args.out, f"{name}-server.log"))
    result = {}
    try:
        # The paced phase starts after the connections are made and held for 1 s.
        connect_s = args.connections / 10000 + 1
        timer = threading.Timer(connect_s + args.settle,
                                lambda: result.update(paths=attach(args, s.pid, name)))
        timer.start()
        load = ["--mode", "smooth", "--plan",
                f"connect {args.connections} @ 10000/s; hold 1s; "
                f"qps {args.qps} for {args.seconds}s"]
        if echo:
            load.append("--echo")
        summary = run_load(args, s.port, load, name, s.pid, spin=True)
        timer.join()
    finally:
        s.stop()
    stat_path, data = result["paths"]
    stat = parse_stat(stat_path)
    requests = args.qps * args.window
    kernel, user, top = split_samples(data)
    phase = summary["phases"][-1]
    return {"name": name, "cpu_us": stat.get("task-clock", 0.0) * 1000 / requests,
            "syscalls": stat.get("raw_syscalls:sys_enter", 0.0) / requests,
            "switches": stat.get("context-switches", 0.0) / requests,
            "faults": stat.get("page-faults", 0.0) / requests,
            "by_syscall": {n: stat.get(f"syscalls:sys_enter_{n}", 0.0) / requests
                           for n in SYSCALLS},
            "kernel_pct": kernel, "user_pct": user, "top": top, "threads": by_thread(data),
            "responses": phase["responses"], "errors": phase["errors"]}


def report(args, rows):
    lines = [f"# Where a paced request's CPU goes: {args.qps:,} QPS, {args.connections:,} "
             f"connections, {args.rounds} rounds", "",
             f"perf stat and perf record (cpu-clock {args.frequency} Hz) on the server's pid over "
             f"{args.window} s of the paced phase; per request = over {args.qps} × {args.window} "
             "requests.", "",
             "| round | server | CPU µs/request | syscalls/request | switches/request | "
             "faults/request | kernel % | user % |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['round'] + 1} | {r['server']} | {r['cpu_us']:.2f} | "
                     f"{r['syscalls']:.2f} | {r['switches']:.3f} | {r['faults']:.4f} | "
                     f"{r['kernel_pct']:.1f} | {r['user_pct']:.1f} |")
    lines += ["", "| server | median CPU µs/request | median kernel µs/request | "
              "median user µs/request |", "|---|---:|---:|---:|"]
    for server in ["echo"] + [name for name, _ in args.daemons]:
        mine = [r for r in rows if r["server"] == server]
        cpu = statistics.median(r["cpu_us"] for r in mine)
        kern = statistics.median(r["cpu_us"] * r["kernel_pct"] / 100 for r in mine)
        user = statistics.median(r["cpu_us"] * r["user_pct"] / 100 for r in mine)
        lines.append(f"| {server} | {cpu:.2f} | {kern:.2f} | {user:.2f} |")
    lines += ["", "Syscalls per request, by syscall (those under 0.01 left out):", "",
              "| round | server | " + " | ".join(SYSCALLS) + " |",
              "|---:|---|" + "---:|" * len(SYSCALLS)]
    for r in rows:
        lines.append(f"| {r['round'] + 1} | {r['server']} | " +
                     " | ".join(f"{r['by_syscall'][n]:.2f}" if r['by_syscall'][n] >= 0.01
                                else "" for n in SYSCALLS) + " |")
    for r in rows:
        lines += ["", f"## Round {r['round'] + 1}, {r['server']}: user-space functions "
                  "(% of all its samples)", ""]
        lines += [f"- {pct:.1f} % `{sym}`" for pct, sym in r["top"]]
        lines += ["", "By thread: " + ", ".join(f"{name} {pct:.1f} %"
                                              for pct, name in r["threads"])]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_ab_arguments(ap, rounds=2)
    ap.add_argument("--qps", type=int, default=30000)
    ap.add_argument("--connections", type=int, default=19000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--frequency", type=int, default=999)
    args = ap.parse_args()
    args.no_spin = False
    if args.settle + args.window > args.seconds:
        ap.error("--settle + --window must fit in --seconds")
    echo_bin, args.daemons = ab_setup(args, "paced-profile")
    rows = []
    for r in range(args.rounds):
        servers = [("echo", [echo_bin, "--port", "0"], True)] + [
            (name, daemon_argv(path, args.connections), False) for name, path in args.daemons]
        for server, argv, echo in servers:
            log(f"round {r + 1}/{args.rounds}: {server}")
            row = profiled(args, argv, echo, f"r{r}-{server}")
            rows.append(dict(row, round=r, server=server))
    text = report(args, rows)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
