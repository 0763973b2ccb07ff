#!/usr/bin/env python3
"""Redis CPU per store call, measured on the master itself: creates one packet of --shares
shares with rp_create, then claims every share with rp_claim (one user each), and optionally
takes shake packets (rp_offer, then rp_take), all pipelined through `redis-cli --pipe` to the
master that owns the SET's slot. Reports the master's CPU time (utime + stime from
/proc/PID/stat) per call and Redis's own `INFO commandstats` usec_per_call, with and without
a WAIT behind each call.

    python3 bench/experiments/redis_call_cost.py --seed 127.0.0.1:7100 [--shares 20000]

The cluster must have the redpacket functions loaded (start any redpacketd --store
redis-cluster against it once, or run examples/redis_store). Loopback only.
"""
import argparse
import os
import subprocess
import sys
import time

KEYS = ["p", "sh", "cl", "al", "dl", "rt", "rf", "rq", "cp", "sq", "tot"]


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], check=True,
                          capture_output=True, text=True).stdout


def resp(*args):
    out = [f"*{len(args)}\r\n"]
    for a in args:
        b = str(a)
        out.append(f"${len(b.encode())}\r\n{b}\r\n")
    return "".join(out)


def owner_of(seed_port, key):
    slot = int(cli(seed_port, "cluster", "keyslot", key).strip())
    for line in cli(seed_port, "cluster", "nodes").splitlines():
        f = line.split()
        if "master" not in f[2]:
            continue
        for r in f[8:]:
            lo, _, hi = r.partition("-")
            if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                return int(f[1].split(":")[1].split("@")[0])
    sys.exit(f"no master serves slot {slot}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(port, pid, commands, label, calls):
    cli(port, "config", "resetstat")
    before = cpu_seconds(pid)
    t = time.time()
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input="".join(commands), text=True,
                   check=True, capture_output=True)
    wall = time.time() - t
    cpu = cpu_seconds(pid) - before
    stats = cli(port, "info", "commandstats")
    per_call = next((l.split("usec_per_call=")[1].split(",")[0] for l in stats.splitlines()
                     if l.startswith(f"cmdstat_fcall:")), "?")
    print(f"| {label} | {calls} | {cpu / calls * 1e6:.1f} | {per_call} | {calls / wall:,.0f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", default="127.0.0.1:7100", help="any node of the cluster")
    ap.add_argument("--prefix", default=f"cost{os.getpid()}")
    ap.add_argument("--shares", type=int, default=20000)
    args = ap.parse_args()
    seed_port = int(args.seed.split(":")[1])
    now = int(time.time() * 1000)
    n = args.shares
    print(f"{n} shares per run, prefix {args.prefix}\n")
    print("| call | calls | master CPU µs/call | commandstats µs/call | calls/s |")
    print("|---|---|---|---|---|")
    for wait in (False, True):
        p = f"{args.prefix}w" if wait else args.prefix
        tag = "{" + p + ":s:0}:"
        keys = [tag + k for k in KEYS]
        port = owner_of(seed_port, keys[0])
        pid = int(cli(port, "info", "server").split("process_id:")[1].split()[0])
        suffix = " + WAIT 1" if wait else ""
        # rp_create in packets of at most 1000 shares (the daemon's default max_shares).
        creates = []
        for i in range(0, n, 1000):
            count = min(1000, n - i)
            creates.append(resp("FCALL", "rp_create", len(KEYS), *keys, 0, 7, i + 1, count * 10,
                                count, 0, now + 3_600_000, 0, 0, *([10] * count)))
        run(port, pid, creates, f"rp_create (1000 shares){suffix}", len(creates))
        serial_base = int(cli(port, "hget", keys[-1], "serial")) - len(creates)
        claims = []
        for u in range(n):
            packet = (serial_base + 1 + u // 1000) * 8192
            claims.append(resp("FCALL", "rp_claim", len(KEYS), *keys, packet, 0, 1_000_000 + u,
                               now))
            if wait:
                claims.append(resp("WAIT", 1, 200))
        run(port, pid, claims, f"rp_claim{suffix}", n)
        offers = [resp("FCALL", "rp_offer", len(KEYS), *keys, 0, 5, now + 3_600_000, n + 10)
                  for _ in range(n)]
        run(port, pid, offers, f"rp_offer{suffix}", n)
        takes = []
        for u in range(n):
            takes.append(resp("FCALL", "rp_take", len(KEYS), *keys, 2_000_000 + u, now))
            if wait:
                takes.append(resp("WAIT", 1, 200))
        run(port, pid, takes, f"rp_take{suffix}", n)


if __name__ == "__main__":
    main()
