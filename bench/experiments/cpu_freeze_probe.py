#!/usr/bin/env python3
"""Who had each CPU, and when a CPU had nobody: a machine-level stall probe.

    python3 bench/experiments/cpu_freeze_probe.py [--seconds 8] [--min-ms 30] [--comm rp-worker]

Records `perf record -e sched:sched_switch -e sched:sched_wakeup -e irq:softirq_entry -a` for
the given seconds (run it while a load runs) and reports, per CPU:
  - silences: stretches with no event at all — no context switch, no wake-up, no softirq, not
    even the timer softirq. A guest kernel that runs logs something every few ms on a busy
    CPU; a silence of 100 ms on a CPU whose neighbour keeps logging every 0.2 ms is the
    hypervisor not running that virtual CPU (steal time this guest is not told about);
  - for threads whose name starts with --comm: the longest time from being woken to running
    (what schedstat's run-queue wait adds up), and which of those waits fall in a silence;
  - the longest single slices of other threads on that CPU (a neighbour taking the core).
Needs perf and the right to trace (root, or kernel.perf_event_paranoid <= -1).
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

EVENT = re.compile(r"\s*\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)")


def record(seconds, path):
    cmd = ["perf", "record", "-q", "-e", "sched:sched_switch", "-e", "sched:sched_wakeup",
           "-e", "irq:softirq_entry", "-a", "-o", path, "--", "sleep", str(seconds)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run(["perf", "script", "-i", path, "-F", "cpu,time,event,trace"],
                         check=True, capture_output=True, text=True).stdout
    events = []
    for line in out.splitlines():
        m = EVENT.match(line)
        if m:
            events.append((int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)))
    return events


def silences(times, min_s):
    return [(times[i], times[i + 1] - times[i]) for i in range(len(times) - 1)
            if times[i + 1] - times[i] >= min_s]


def wake_to_run(events, comm):
    """(cpu, woken at, waited) for every wake-up of a `comm*` thread until it ran."""
    woken, waits = {}, []
    for cpu, t, name, trace in events:
        if name == "sched:sched_wakeup":
            m = re.search(r"comm=(\S+) pid=(\d+)", trace)
            if m and m.group(1).startswith(comm):
                woken.setdefault(m.group(2), t)
        elif name == "sched:sched_switch":
            m = re.search(r"next_comm=(\S+) next_pid=(\d+)", trace)
            if m and m.group(2) in woken:
                start = woken.pop(m.group(2))
                waits.append((cpu, start, t - start))
    return waits


def longest_slices(events, cpu, skip):
    """The longest on-CPU slices of threads on `cpu`, except idle and `skip*`."""
    slices, current, since = [], None, None
    for c, t, name, trace in events:
        if c != cpu or name != "sched:sched_switch":
            continue
        m = re.search(r"next_comm=(.*?) next_pid", trace)
        if current and since is not None and not current.startswith(("swapper", skip)):
            slices.append((t - since, current))
        current, since = m.group(1), t
    return sorted(slices, reverse=True)[:3]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--min-ms", type=float, default=30, help="shortest silence reported")
    ap.add_argument("--comm", default="rp-worker", help="threads whose wake-ups are followed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        events = record(args.seconds, os.path.join(tmp, "perf.data"))
    if not events:
        sys.exit("no events recorded: is perf allowed to trace here?")
    by_cpu = collections.defaultdict(list)
    for cpu, t, _, _ in events:
        by_cpu[cpu].append(t)
    waits = wake_to_run(events, args.comm)
    span = events[-1][1] - events[0][1]
    print(f"{len(events):,} events over {span:.1f} s on {len(by_cpu)} CPUs")
    for cpu in sorted(by_cpu):
        quiet = silences(by_cpu[cpu], args.min_ms / 1000)
        print(f"\nCPU {cpu}: {len(quiet)} silences >= {args.min_ms:g} ms, "
              f"{sum(d for _, d in quiet) * 1000:.0f} ms in all "
              f"({100 * sum(d for _, d in quiet) / span:.1f} % of the trace)")
        for start, d in quiet[:10]:
            print(f"  at {start:.3f} s: {d * 1000:.1f} ms")
        mine = sorted((w for w in waits if w[0] == cpu), key=lambda w: -w[2])[:5]
        for _, start, d in mine:
            inside = any(s <= start + d and start <= s + q for s, q in quiet)
            print(f"  {args.comm}* woken at {start:.3f} s ran {d * 1000:.2f} ms later"
                  f"{' (during a silence)' if inside else ''}")
        for d, comm in longest_slices(events, cpu, args.comm):
            print(f"  longest slice of {comm}: {d * 1000:.1f} ms")


if __name__ == "__main__":
    main()
