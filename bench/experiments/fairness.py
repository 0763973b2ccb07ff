#!/usr/bin/env python3
"""Fairness by claim position: for each split policy, the mean and spread of the share handed
out at each position, over 10^6 seeded packets (each split from its own seed, as verifiable
packets are: docs/fairness.md), beside the closed-form expectation.

    python3 bench/experiments/fairness.py [--build build/release] [--out DIR]
                                         [--packets 1000000] [--total 10000] [--count 10]

Needs the split_positions binary (cmake --build build/release --target split_positions) and
gnuplot for the PNG. Writes positions.csv, fairness.png and report.md into --out.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys


def run(binary, packets, total, count):
    out = subprocess.run([binary, str(packets), str(total), str(count)], check=True,
                         capture_output=True, text=True).stdout
    return out, list(csv.DictReader(out.splitlines()))


def plot(rows, out_dir, packets, total, count):
    if shutil.which("gnuplot") is None:
        print("fairness: gnuplot not found: no PNG (apt-get install gnuplot-nox)")
        return None
    data = {}
    for r in rows:
        data.setdefault(r["policy"], []).append(r)
    blocks = []
    for policy in ("double_mean", "line_cut", "equal"):
        lines = [f'{int(r["position"]) + 1} {r["mean"]} {r["stddev"]} {r["expected_stddev"]}'
                 for r in data[policy]]
        blocks.append("\n".join(lines) + "\ne\n")
    png = os.path.join(out_dir, "fairness.png")
    script = f"""
set terminal pngcairo size 1000,560 noenhanced
set output '{png}'
set title 'Share by claim position: {packets:,} packets of {total} cents in {count} shares (mean, and ±1 standard deviation)'
set xlabel 'claim position'
set ylabel 'cents'
set xrange [0.5:{count}.5]
set key below horizontal
set grid
plot '-' using ($1-0.15):2:3 with yerrorbars title 'double_mean', \\
     '-' using 1:2:3 with yerrorbars title 'line_cut', \\
     '-' using ($1+0.15):2:3 with yerrorbars title 'equal'
""" + "".join(blocks)
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print("fairness: gnuplot failed:", r.stderr)
        return None
    return png


def report(rows, out_dir, args):
    lines = [f"# Fairness by claim position ({args.packets:,} packets, {args.total} cents, "
             f"{args.count} shares)", "",
             f"Command: `python3 bench/experiments/fairness.py --packets {args.packets} "
             f"--total {args.total} --count {args.count}`", "",
             "| policy | position | mean | stddev | min | max | expected mean | expected stddev |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    worst = {}
    for r in rows:
        lines.append(f'| {r["policy"]} | {int(r["position"]) + 1} | {r["mean"]} | {r["stddev"]} | '
                     f'{r["min"]} | {r["max"]} | {r["expected_mean"]} | {r["expected_stddev"]} |')
        dev = abs(float(r["mean"]) - float(r["expected_mean"]))
        worst[r["policy"]] = max(worst.get(r["policy"], 0.0), dev)
    lines += ["", "Largest distance of a position's mean from total/count: " +
              ", ".join(f"{p} {d:.2f} cents" for p, d in worst.items()), ""]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build/release")
    p.add_argument("--out", default=None)
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--total", type=int, default=10_000)
    p.add_argument("--count", type=int, default=10)
    args = p.parse_args()
    binary = os.path.join(args.build, "bench", "split_positions")
    if not os.path.exists(binary):
        sys.exit(f"fairness: {binary} missing: cmake --build {args.build} --target split_positions")
    out_dir = args.out or os.path.join(args.build, "experiments", "fairness")
    os.makedirs(out_dir, exist_ok=True)
    text, rows = run(binary, args.packets, args.total, args.count)
    with open(os.path.join(out_dir, "positions.csv"), "w") as f:
        f.write(text)
    print("fairness:", report(rows, out_dir, args))
    png = plot(rows, out_dir, args.packets, args.total, args.count)
    if png:
        print("fairness:", png)


if __name__ == "__main__":
    main()
