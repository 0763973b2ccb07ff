#!/usr/bin/env python3
"""One 60k QPS phase of the seed experiment with the kernel's softirq threads sampled beside it
(softirq_probe.py), once with redpacket-load busy-polling (--spin) and once pacing on its 1 ms
timer: do the p99 stalls follow ksoftirqd waiting behind the spinning generator?

Usage: python3 bench/experiments/stall_probe.py [--qps 60000] [--seconds 30]
Needs a release build (cmake --preset release && cmake --build --preset release) and a quiet
machine. Writes CSVs and a per-second table into build/release/experiments/stall-<time>/.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from seed_experiment import ROOT, Server, log, taskset  # noqa: E402


def run(args, spin, out):
    name = "spin" if spin else "timer"
    daemon = [os.path.join(args.build, "daemon", "redpacketd"), "--port", "0", "--admin-port",
              "0", "--workers", "1", "--sets", "256", "--max-connections",
              str(args.connections + 100), "--rate-limit", "1000", "--shake-enabled", "true",
              "--shake-rate", "200", "--send-enabled", "true", "--send-rate", "200"]
    d = Server(daemon, 0, os.path.join(out, f"{name}-daemon.log"))
    probe_csv = os.path.join(out, f"{name}-probe.csv")
    load_csv = os.path.join(out, f"{name}-load.csv")
    connect_s = args.connections / 5000 + 5
    try:
        probe = subprocess.Popen([sys.executable, os.path.join(HERE, "softirq_probe.py"),
                                  "--seconds", str(connect_s + args.seconds + 10), "--out",
                                  probe_csv])
        load = [os.path.join(args.build, "bench", "load", "redpacket-load"), "--port",
                str(d.port), "--quiet", "--csv", load_csv, "--json",
                os.path.join(out, f"{name}-load.json"), "--server-pid", str(d.pid),
                "--sources", "8", "--mode", "smooth", "--plan",
                f"connect {args.connections} @ 5000/s; hold 5s; qps {args.qps} for "
                f"{args.seconds}s"]
        if spin:
            load.append("--spin")
        started = time.time()
        subprocess.run(taskset(1, load), stdout=subprocess.DEVNULL, check=False)
        probe.terminate()
        probe.wait()
    finally:
        d.stop()
    table = subprocess.run([sys.executable, os.path.join(HERE, "softirq_probe.py"),
                            "--report-only", probe_csv, "--load-csv", load_csv,
                            "--load-start", str(started)],
                           capture_output=True, text=True, check=False)
    with open(os.path.join(out, f"{name}-table.txt"), "w") as f:
        f.write(table.stdout + table.stderr)
    print(f"--- {name} ---")
    print(table.stdout + table.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--qps", type=int, default=60000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=19000)
    args = ap.parse_args()
    out = os.path.join(args.build, "experiments", time.strftime("stall-%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    for spin in (True, False):
        log(f"60k phase with {'--spin' if spin else 'timer pacing'}")
        run(args, spin, out)
    print(f"results in {out}")


if __name__ == "__main__":
    main()
