#!/usr/bin/env python3
"""User-space instructions and simulated cache misses per paced request: redpacketd and
redpacket-echo under callgrind (this machine has no hardware counters).

    python3 bench/experiments/request_instructions.py [--daemon PATH] [--qps 2000] [--seconds 10]

Each server runs under `valgrind --tool=callgrind --cache-sim=yes`, pinned to --server-core, and
redpacket-load paces --connections connections at --qps for --seconds (smooth, --spin) from
--load-core. callgrind's counters are zeroed when the paced phase starts and dumped when it
ends (callgrind_control), so the totals are the paced phase's alone; per request = over the
responses the load counted in it. Reported: instructions (Ir), first-level data misses (D1mr +
D1mw) and last-level misses (DLmr + DLmw + ILmr) per request, and the functions with the most
inclusive instructions per request. The kernel's share (the loopback path, most of a paced
request's cost) is not seen by callgrind: paced_profile.py measures it.

Loopback only; every process it starts is stopped at the end.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from paced_ab import daemon_argv  # noqa: E402
from seed_experiment import Server, ab_setup, add_ab_arguments, log, run_load  # noqa: E402

EVENTS = ["Ir", "D1mr", "D1mw", "DLmr", "DLmw", "ILmr"]
TOP = 25


def totals(path):
    """{event: total} of a callgrind output file (its 'totals:' or 'summary:' line)."""
    events, values = [], []
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith(("totals:", "summary:")):
                values = [int(v) for v in line.split()[1:]]
    return dict(zip(events, values))


def top_functions(path, requests):
    """[(Ir per request inclusive, function)] from callgrind_annotate --inclusive=yes."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=99",
                          path], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(", line)
        if m and "PROGRAM TOTALS" not in line:
            # The function is the last column: "file:function [object]".
            name = re.split(r"\s{2,}", line.strip())[-1]
            name = re.sub(r"^(\?\?\?|\S*?):", "", name, count=1)
            name = re.sub(r"\((?!anonymous).*$", "", name)  # no argument lists
            rows.append((int(m.group(1).replace(",", "")) / requests, name[:120]))
    return rows[:TOP]


def measured(args, argv, echo, name):
    out = os.path.join(args.out, f"{name}.callgrind")
    vg = ["valgrind", "--tool=callgrind", "--cache-sim=yes", "--dump-instr=no",
          f"--callgrind-out-file={out}.%p"] + argv
    s = Server(vg, args.server_core, os.path.join(args.out, f"{name}-server.log"))
    try:
        # The paced phase starts once the connections are made and held for `hold` s.
        start = args.connections / args.connect_rate + args.hold
        marks = threading.Thread(target=lambda: (
            time.sleep(start + 0.5),
            subprocess.run(["callgrind_control", "-z", str(s.pid)], capture_output=True),
            time.sleep(args.seconds - 1.0),
            subprocess.run(["callgrind_control", "-d", "paced", str(s.pid)],
                           capture_output=True)))
        marks.start()
        load = ["--mode", "smooth", "--max-seconds", "600", "--plan",
                f"connect {args.connections} @ {args.connect_rate}/s; hold {args.hold}s; "
                f"qps {args.qps} for {args.seconds}s"]
        if echo:
            load.append("--echo")
        summary = run_load(args, s.port, load, name, s.pid, spin=True)
        marks.join()
    finally:
        s.stop()
    dumps = [p for p in glob.glob(f"{out}.{s.pid}*") if not p.endswith(f".{s.pid}")]
    if not dumps:
        raise RuntimeError(f"no callgrind dump for {name} in {args.out}")
    # The window between -z and -d is seconds - 1.0 s of the paced phase: scale the responses.
    requests = summary["phases"][-1]["responses"] * (args.seconds - 1.0) / args.seconds
    t = totals(dumps[0])
    return {"name": name, "requests": requests,
            "ir": t.get("Ir", 0) / requests,
            "d1": (t.get("D1mr", 0) + t.get("D1mw", 0)) / requests,
            "ll": (t.get("DLmr", 0) + t.get("DLmw", 0) + t.get("ILmr", 0)) / requests,
            "top": top_functions(dumps[0], requests)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_ab_arguments(ap, rounds=1)
    ap.add_argument("--qps", type=int, default=2000)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--connect-rate", type=int, default=1000)
    ap.add_argument("--hold", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    args.no_spin = False
    echo_bin, daemons = ab_setup(args, "request-instructions")
    rows = []
    for server, argv, echo in [("echo", [echo_bin, "--port", "0"], True)] + [
            (n, daemon_argv(p, args.connections), False) for n, p in daemons]:
        log(f"{server} under callgrind")
        rows.append(measured(args, argv, echo, server))
    lines = [f"# User-space cost of a paced request under callgrind: {args.qps:,} QPS, "
             f"{args.connections:,} connections", "",
             "| server | requests | instructions/request | D1 misses/request | "
             "LL misses/request |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['requests']:,.0f} | {r['ir']:,.0f} | {r['d1']:.1f} | "
                     f"{r['ll']:.1f} |")
    for r in rows:
        lines += ["", f"## {r['name']}: inclusive instructions per request", ""]
        lines += [f"- {ir:,.0f} `{fn}`" for ir, fn in r["top"]]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
