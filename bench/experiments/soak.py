#!/usr/bin/env python3
"""Soak: redpacketd under steady load for a long time, watching for leaks.

    python3 bench/experiments/soak.py [--minutes 30] [--qps 30000] [--connections 10000]

Starts redpacketd (shake campaign 200/s, unlimited send campaign 200/s, optional journal)
pinned to core 0 and redpacket-load (smooth pacing) pinned to core 1, samples the daemon's
RSS (and how much of it is the main [heap] and other anonymous mappings), open descriptors
and CPU time from /proc every 10 s into soak.csv, plots soak.png and
checks, after a warm-up (default 2 minutes): RSS grows < 1 % and the descriptor count stays
flat. Exits non-zero if a check fails or a process did not finish cleanly. Not part of the
test command (it runs for half an hour).
"""
import argparse
import csv
import datetime
import os
import shutil
import subprocess
import sys
import time

from seed_experiment import ROOT, Server, get_json, log, taskset


def sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    # Where the resident memory is: the main arena's [heap] (brk) against every other
    # anonymous mapping (mmap'ed blocks, other threads' arenas, stacks).
    heap = anon = 0
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                name = head[5] if len(head) > 5 else ""
            elif line.startswith("Rss:"):
                kb = int(head[1])
                if name == "[heap]":
                    heap += kb
                elif name == "":
                    anon += kb
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return cpu_s, rss, fds, heap, anon


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=2, help="minutes before the checks start")
    ap.add_argument("--qps", type=int, default=30000)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--journal", action="store_true", help="run with a journal in the out dir")
    ap.add_argument("--every", type=float, default=10, help="seconds between samples")
    ap.add_argument("--daemon-arg", action="append", default=[],
                    help="extra redpacketd argument (repeatable), e.g. --daemon-arg=--snapshot-interval-s=5")
    args = ap.parse_args()
    started = datetime.datetime.utcnow()
    out = args.out or os.path.join(args.build, "experiments", f"soak-{started:%Y%m%d-%H%M%S}")
    os.makedirs(out, exist_ok=True)
    daemon = os.path.join(args.build, "daemon", "redpacketd")
    load = os.path.join(args.build, "bench", "load", "redpacket-load")
    argv = [daemon, "--port", "0", "--admin-port", "0", "--compat-mode", "true", "--workers", str(args.workers),
            "--max-connections", str(args.connections + 100), "--rate-limit", "1000",
            "--shake-enabled", "true", "--shake-rate", "200",
            "--send-enabled", "true", "--send-rate", "200", "--send-total", "0"]
    if args.journal:
        argv += ["--journal-dir", os.path.join(out, "journal")]
    argv += args.daemon_arg
    d = Server(argv, 0, os.path.join(out, "daemon.log"))
    seconds = int(args.minutes * 60)
    plan = f"connect {args.connections} @ 5000/s; qps {args.qps} for {seconds}s"
    log(f"soak: {plan}, sampling every {args.every:.0f} s into {out}/soak.csv")
    load_proc = subprocess.Popen(taskset(1, [
        load, "--port", str(d.port), "--admin-port", str(d.admin_port), "--mode", "smooth",
        "--quiet", "--sources", "8", "--plan", plan, "--max-seconds", str(seconds + 120),
        "--json", os.path.join(out, "load.json"), "--csv", os.path.join(out, "load.csv"),
        "--server-pid", str(d.pid)]), stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(out, "load.log"), "w"))
    rows = []
    t0 = time.monotonic()
    try:
        while load_proc.poll() is None:
            cpu, rss, fds, heap, anon = sample(d.pid)
            rows.append((round(time.monotonic() - t0, 1), round(cpu, 2), rss, fds, heap, anon))
            time.sleep(args.every)
        stats = get_json(d.admin_port, "/stats")
    finally:
        if load_proc.poll() is None:
            load_proc.terminate()
        rc = d.stop()
    with open(os.path.join(out, "soak.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["elapsed_s", "cpu_s", "rss_kb", "fds", "heap_kb", "other_anon_kb"])
        w.writerows(rows)
    warm = [r for r in rows if r[0] >= args.warmup * 60]
    ok = True
    lines = [f"# Soak — {started:%Y-%m-%d %H:%M} UTC", "",
             f"`python3 bench/experiments/soak.py {' '.join(sys.argv[1:])}`: {plan}, "
             f"{args.workers} worker(s), campaigns shake 200/s and send 200/s"
             f"{', journal on' if args.journal else ''}; {len(rows)} samples.", ""]
    if len(warm) >= 6:
        # RSS saws up and down with each snapshot (its buffers are mmap'ed and returned), so
        # growth compares peaks: the highest RSS of the last third after the warm-up against
        # the highest of the first third. A leak raises every later peak.
        third = len(warm) // 3
        rss0 = max(r[2] for r in warm[:third])
        rss_max = max(r[2] for r in warm[-third:])
        rss_last = warm[-1][2]
        fd_min, fd_max = min(r[3] for r in warm), max(r[3] for r in warm)
        growth = (rss_max - rss0) / rss0 * 100
        cpu_rate = (warm[-1][1] - warm[0][1]) / max(1e-9, warm[-1][0] - warm[0][0])
        # A sample may catch a snapshot file or a new segment open for a moment: "flat" allows
        # that much; a leak grows without bound.
        ok = growth < 1.0 and fd_max - fd_min <= 2
        lines += [f"After the {args.warmup:g}-minute warm-up: peak RSS of the first third "
                  f"{rss0} kB, of the last third {rss_max} kB (**{growth:+.2f} %**, goal < 1 %), "
                  f"last sample {rss_last} kB; descriptors "
                  f"{fd_min}–{fd_max} (goal: flat, ±2 for a snapshot or segment file being written); daemon CPU {cpu_rate:.2f} cores.", ""]
    else:
        ok = False
        lines.append("Too few samples after the warm-up.")
    load_ok = load_proc.returncode == 0 and rc == 0
    lines.append(f"Load exit {load_proc.returncode}, daemon exit {rc}; daemon totals: "
                 f"{stats['totals']['shake_requests']:,} shakes, "
                 f"{stats['totals']['packets_sent']:,} group packets, "
                 f"{stats['totals']['refunds']:,} refunds; invariant violations "
                 f"{stats['invariant_violations']}.")
    lines.append("")
    lines.append(f"Result: {'PASS' if ok and load_ok else 'FAIL'}")
    if shutil.which("gnuplot"):
        script = f"""set datafile separator ","
set terminal pngcairo size 1000,420 font ",10"
set output "{out}/soak.png"
set title "redpacketd soak: {plan}"
set xlabel "minutes"
set ylabel "RSS (MiB)"
set y2label "open descriptors"
set ytics nomirror
set y2tics
set key outside bottom center horizontal
set grid
set arrow from {args.warmup}, graph 0 to {args.warmup}, graph 1 nohead dt 2
plot "{out}/soak.csv" every ::1 using ($1/60):($3/1024) with lines lw 2 title "RSS", \\
     "" every ::1 using ($1/60):($5/1024) with lines lw 1 title "[heap]", \\
     "" every ::1 using ($1/60):($6/1024) with lines lw 1 title "other anonymous", \\
     "" every ::1 using ($1/60):4 axes x1y2 with lines lw 2 title "descriptors"
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=False)
        lines.append("")
        lines.append("![soak](soak.png)")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    print(text)
    print(f"CSV, plot and report: {out}")
    sys.exit(0 if ok and load_ok else 1)


if __name__ == "__main__":
    main()
