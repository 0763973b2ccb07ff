#!/usr/bin/env python3
"""Samples the kernel's softirq threads while a load runs, to test one explanation of the
60k QPS latency stalls (docs/perf/seed-2026-11-25.md): network softirq work pushed to
ksoftirqd waits behind a busy-polling process on the same core.

Every --interval-ms it reads /proc/<pid>/schedstat of every ksoftirqd/N (time on CPU and time
spent runnable but waiting, in ns) and the NET_RX row of /proc/softirqs, and writes one CSV row
per sample. With --load-csv (a redpacket-load --csv file written during the same run) it then
prints, per second of the load, the load's p99 next to how long each ksoftirqd waited and ran
in that second, and the correlation between p99 and each thread's waiting time.

Usage: softirq_probe.py --seconds 60 --out probe.csv [--load-csv load.csv --load-start UNIX_S]
       (start it just before the load; --load-start is when redpacket-load started, which its
       elapsed_s column counts from)
"""
import argparse
import csv
import glob
import sys
import time


def ksoftirqd_threads():
    """{cpu: pid} of every ksoftirqd/N thread."""
    out = {}
    for comm in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(comm) as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith("ksoftirqd/"):
            out[int(name.split("/")[1])] = int(comm.split("/")[2])
    return dict(sorted(out.items()))


def schedstat(pid):
    with open(f"/proc/{pid}/schedstat") as f:
        run_ns, wait_ns, _ = (int(v) for v in f.read().split())
    return run_ns, wait_ns


def net_rx():
    with open("/proc/softirqs") as f:
        for line in f:
            if line.strip().startswith("NET_RX:"):
                return [int(v) for v in line.split()[1:]]
    return []


def sample(args):
    threads = ksoftirqd_threads()
    if not threads:
        sys.exit("softirq_probe: no ksoftirqd threads visible in /proc")
    cpus = list(threads)
    header = ["unix_s"]
    for c in cpus:
        header += [f"ksoftirqd{c}_run_ns", f"ksoftirqd{c}_wait_ns", f"net_rx{c}"]
    end = time.time() + args.seconds
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        try:
            while time.time() < end:
                rx = net_rx()
                row = [f"{time.time():.3f}"]
                for c in cpus:
                    run_ns, wait_ns = schedstat(threads[c])
                    row += [run_ns, wait_ns, rx[c] if c < len(rx) else 0]
                w.writerow(row)
                time.sleep(args.interval_ms / 1000)
        except KeyboardInterrupt:
            pass
    return cpus


def per_second(probe_csv, cpus):
    """{unix second: {cpu: (run_ms, wait_ms, max_wait_ms_in_one_interval)}}"""
    with open(probe_csv) as f:
        rows = list(csv.DictReader(f))
    out = {}
    for prev, cur in zip(rows, rows[1:]):
        sec = int(float(cur["unix_s"]))
        slot = out.setdefault(sec, {c: [0.0, 0.0, 0.0] for c in cpus})
        for c in cpus:
            run = (int(cur[f"ksoftirqd{c}_run_ns"]) - int(prev[f"ksoftirqd{c}_run_ns"])) / 1e6
            wait = (int(cur[f"ksoftirqd{c}_wait_ns"]) - int(prev[f"ksoftirqd{c}_wait_ns"])) / 1e6
            slot[c][0] += run
            slot[c][1] += wait
            slot[c][2] = max(slot[c][2], wait)
    return out


def correlation(xs, ys):
    n = len(xs)
    if n < 3:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / (sxx * syy) ** 0.5 if sxx > 0 and syy > 0 else float("nan")


def report(args, cpus):
    probe = per_second(args.out, cpus)
    with open(args.load_csv) as f:
        load = [r for r in csv.DictReader(f) if r["kind"] == "qps" and int(r["responses"]) > 0]
    start = args.load_start
    print("second  target  p99_ms  " + "  ".join(
        f"ksi{c}_wait_ms ksi{c}_maxwait_ms ksi{c}_run_ms" for c in cpus))
    p99s, waits = [], {c: [] for c in cpus}
    for r in load:
        sec = int(start + float(r["elapsed_s"]))
        if sec not in probe:
            continue
        p99 = float(r["p99_us"]) / 1000
        cells = []
        for c in cpus:
            run, wait, peak = probe[sec][c]
            cells.append(f"{wait:13.1f} {peak:16.1f} {run:12.1f}")
            waits[c].append(wait)
        p99s.append(p99)
        print(f"{sec % 100000:6d}  {r['target']:>6}  {p99:6.2f}  " + "  ".join(cells))
    for c in cpus:
        print(f"correlation(p99, ksoftirqd/{c} waiting): {correlation(p99s, waits[c]):.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--interval-ms", type=float, default=20)
    ap.add_argument("--out", help="CSV to write the samples to")
    ap.add_argument("--report-only", metavar="PROBE_CSV",
                    help="sample nothing: report PROBE_CSV (from an earlier run) against --load-csv")
    ap.add_argument("--load-csv", help="report against this redpacket-load CSV afterwards")
    ap.add_argument("--load-start", type=float, default=0,
                    help="unix time (s) redpacket-load started: its elapsed_s counts from it")
    args = ap.parse_args()
    if args.report_only:
        args.out = args.report_only
        with open(args.out) as f:
            header = f.readline().strip().split(",")
        cpus = [int(h[len("ksoftirqd"):-len("_run_ns")]) for h in header if h.endswith("_run_ns")]
    elif args.out:
        cpus = sample(args)
    else:
        ap.error("--out or --report-only is needed")
    if args.load_csv:
        report(args, cpus)


if __name__ == "__main__":
    main()
