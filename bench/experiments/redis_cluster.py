#!/usr/bin/env python3
"""redpacketd on Redis Cluster beside the memory store, in one run on this machine.

    python3 bench/experiments/redis_cluster.py [--build build/release] [--out DIR] [--quick]

Starts a local cluster of 3 masters with $REDPACKET_REDIS_REPLICAS replicas each (cmake/redis-cluster.sh;
default 2), then:
  A. one daemon (1 worker), per store: claims through a closed loop (redpacket-load --request
     claim: every claim a new user-packet pair over a packet per connection; on the Redis store
     also "claim-hot", 1,000 users on one packet, and each claim workload both with one call
     per claim (--redis-max-claim-batch 1) and batched (the default), interleaved, --rounds
     times) and shakes with the shake campaign refilling
     the supplies. Per run: requests/s, daemon CPU µs per request, p50/p99, and for the Redis
     store the masters' and replicas' CPU per request (from /proc), Redis's own time per
     FCALL (INFO commandstats) and the store's round trips per request (/stats);
  B. from those per-call costs, how many masters a request rate needs;
  C. 100,000 logged-in connections on this machine: --daemons redpacketd processes (1 worker
     each) on the one cluster, each with its own redpacket-load of 100,000 / daemons
     connections, paced together at the seed's 30k QPS (smooth mode), beside one memory-store daemon
     holding 19,000 connections at the same QPS. Per run: seconds on target, memory per
     connection (daemon RSS and the kernel's TCP memory from /proc/net/sockstat, per
     connection, both ends on loopback), CPU per request (daemons, loads, Redis).
Writes report.md (and every load's JSON) into the results folder and prints the report.
Loopback only; every process it starts is stopped at the end, by pid.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from seed_experiment import ROOT, Server, get_json, log, rss_kb  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          text=True, timeout=10).stdout


class Cluster:
    def __init__(self, directory, port):
        self.dir, self.port = directory, port
        out = subprocess.run(["bash", os.path.join(ROOT, "cmake", "redis-cluster.sh"), "start",
                              directory, str(port)], capture_output=True, text=True, check=True)
        self.seeds = out.stdout.strip()
        nodes = 3 * (1 + int(os.environ.get("REDPACKET_REDIS_REPLICAS", "2")))
        self.ports = [port + i for i in range(nodes)]

    def pids(self):
        return {p: int(open(os.path.join(self.dir, str(p), "pid")).read()) for p in self.ports}

    def roles(self):
        return {p: "master" if "role:master" in redis_cli(p, "info", "replication") else "replica"
                for p in self.ports}

    def cpu(self):
        """CPU seconds of masters and of replicas."""
        roles, pids = self.roles(), self.pids()
        out = {"master": 0.0, "replica": 0.0}
        for p, pid in pids.items():
            out[roles[p]] += cpu_s(pid)
        return out

    def reset_stats(self):
        for p in self.ports:
            redis_cli(p, "config", "resetstat")

    def fcall_usec(self):
        """Redis's own µs per FCALL over the masters (INFO commandstats)."""
        calls = usec = 0
        for p in self.ports:
            for line in redis_cli(p, "info", "commandstats").splitlines():
                if line.startswith("cmdstat_fcall:"):
                    kv = dict(x.split("=") for x in line.split(":", 1)[1].split(","))
                    calls += int(kv["calls"])
                    usec += int(kv["usec"])
        return usec / calls if calls else 0.0

    def stop(self):
        subprocess.run(["bash", os.path.join(ROOT, "cmake", "redis-cluster.sh"), "stop",
                        self.dir], capture_output=True)


def daemon_argv(args, store, cluster, prefix, extra=(), workers=1):
    argv = [os.path.join(args.build, "daemon", "redpacketd"), "--port", "0", "--admin-port", "0", "--compat-mode", "true",
            "--workers", str(workers), "--rate-limit", "1000000000", "--max-shares", "4000",
            "--max-connections", "19500"]
    if store == "redis":
        argv += ["--store", "redis-cluster", "--redis-nodes", cluster.seeds, "--redis-prefix",
                 prefix]
    return argv + list(extra)


def load_cmd(args, port, plan, name, extra=()):
    return [os.path.join(args.build, "bench", "load", "redpacket-load"), "--port", str(port),
            "--quiet", "--json", os.path.join(args.out, f"{name}.json"), "--plan", plan,
            "--max-seconds", "600"] + list(extra)


def store_counters(admin_port):
    return get_json(admin_port, "/stats")["store"]


def one_store_run(args, cluster, store, workload, name, batch=None):
    """Part A: one daemon, one closed-loop workload ("claim" spread over a packet per
    connection, "claim-hot" all on one packet, "shake"), with the Redis store's claim batches
    of at most `batch` (None: the default); returns a row of measurements."""
    claims = workload.startswith("claim")
    conns = {"memory": 4000, "redis": 1000}[store] if claims else 1000
    extra = ["--shake-enabled", "true", "--shake-rate", "2000"] if workload == "shake" else []
    if batch is not None:
        extra += ["--redis-max-claim-batch", str(batch)]
    load_extra = ["--claim-packets", "1"] if workload == "claim-hot" else []
    d = Server(daemon_argv(args, store, cluster, f"{name}-{os.getpid()}", extra), None,
               os.path.join(args.out, f"{name}-daemon.log"))
    try:
        connect_rate = 400 if (store == "redis" and claims) else 4000
        seconds = 3 if (store == "memory" and claims) else args.seconds
        plan = f"connect {conns} @ {connect_rate}/s; hold 1s; qps 1 for {seconds}s"
        before_store = store_counters(d.admin_port) if store == "redis" else None
        loader = subprocess.Popen(load_cmd(args, d.port, plan, name,
                                           ["--mode", "closed", "--inflight", "4", "--request",
                                            "claim" if claims else workload, "--server-pid",
                                            str(d.pid)] + load_extra),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Redis counters over the measured phase only: wait for the connect phase to end.
        time.sleep(conns / connect_rate + 1.2)
        cluster.reset_stats()
        c0 = cluster.cpu()
        s0 = store_counters(d.admin_port) if store == "redis" else before_store
        loader.wait(timeout=600)
        c1 = cluster.cpu()
        time.sleep(0.3)  # the workers publish their counters every 100 ms
        s1 = store_counters(d.admin_port) if store == "redis" else None
        fcall = cluster.fcall_usec()
    finally:
        d.stop()
    with open(os.path.join(args.out, f"{name}.json")) as f:
        p = json.load(f)["phases"][-1]
    n = max(1, p["responses"])
    row = {"store": store, "workload": workload, "batch": batch,
           "rps": p["responses"] * 1000 / p["duration_ms"],
           "got": p["got"], "none": p["none"], "errors": p["errors"] + p["overloaded"],
           "daemon_us": p.get("server_cpu_us_per_response", 0.0),
           "p50_ms": p["latency_us"]["p50"] / 1000, "p99_ms": p["latency_us"]["p99"] / 1000}
    if store == "redis":
        row["master_us"] = (c1["master"] - c0["master"]) * 1e6 / n
        row["replica_us"] = (c1["replica"] - c0["replica"]) * 1e6 / n
        row["fcall_us"] = fcall
        row["round_trips"] = (s1["round_trips"] - s0["round_trips"]) / n
        row["known_empty"] = (s1["shakes_known_empty"] - s0["shakes_known_empty"]) / n
        row["refusals"] = s1["refusals"] - s0["refusals"]
    return row


def kernel_bytes():
    """Slab (socket, inode, TCP control blocks) plus TCP buffer pages, system-wide."""
    slab = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                slab = int(line.split()[1]) * 1024
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return slab + int(parts[parts.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE")
    return slab


def many_connections(args, cluster, store, daemons, total, qps, name):
    """Part C: `daemons` daemons, one load each, `total` connections paced at `qps` together."""
    per = total // daemons
    procs, loads = [], []
    try:
        for i in range(daemons):
            procs.append(Server(daemon_argv(args, store, cluster, f"{name}-{os.getpid()}",
                                            ["--shake-enabled", "true", "--shake-rate", "200"]),
                                None,
                                os.path.join(args.out, f"{name}-daemon{i}.log")))
        rss0 = sum(rss_kb(d.pid) for d in procs)
        kernel0 = kernel_bytes()
        connect_rate = max(200, 4000 // daemons)
        plan = (f"connect {per} @ {connect_rate}/s; hold 5s; "
                f"qps {qps // daemons} for {args.hold_seconds}s")
        for i, d in enumerate(procs):
            # Each load its own users (and its own daemon port: no 4-tuple is shared).
            loads.append(subprocess.Popen(
                load_cmd(args, d.port, plan, f"{name}-load{i}",
                         ["--mode", "smooth", "--sources", "8", "--user-base", str(1 + i * per),
                          "--server-pid", str(d.pid)]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(per / connect_rate + 2.5)  # inside the hold: everyone connected
        rss1 = sum(rss_kb(d.pid) for d in procs)
        kernel1 = kernel_bytes()
        c0 = cluster.cpu() if store == "redis" else None
        for ld in loads:
            ld.wait(timeout=900)
        c1 = cluster.cpu() if store == "redis" else None
    finally:
        for ld in loads:
            if ld.poll() is None:
                ld.kill()
        for d in procs:
            d.stop()
    phases = []
    for i in range(daemons):
        with open(os.path.join(args.out, f"{name}-load{i}.json")) as f:
            phases.append(json.load(f))
    q = [j["phases"][-1] for j in phases]
    logged_in = sum(j["logged_in"] for j in phases)
    responses = sum(p["responses"] for p in q)
    row = {"store": store, "daemons": daemons, "connections": logged_in,
           "target_qps": qps, "qps": responses * 1000 / max(1, q[0]["duration_ms"]),
           "on_target": min(p["seconds_on_target"] for p in q),
           "full_seconds": min(p["full_seconds"] for p in q),
           "daemon_rss_per_conn": (rss1 - rss0) * 1024 / max(1, logged_in),
           "kernel_per_end": (kernel1 - kernel0) / max(1, 2 * logged_in),
           "daemon_us": sum(p["server_cpu_ms"] for p in q) * 1000 / max(1, responses),
           "load_us": sum(p["load_cpu_ms"] for p in q) * 1000 / max(1, responses),
           "p99_ms": max(p["latency_us"]["p99"] for p in q) / 1000,
           "errors": sum(p["errors"] + p["overloaded"] for p in q)}
    if c0 is not None:
        row["redis_us"] = ((c1["master"] - c0["master"]) + (c1["replica"] - c0["replica"])) \
            * 1e6 / max(1, responses)
    return row


def report(args, rows, big, started):
    out = [f"# redpacketd on Redis Cluster beside the memory store ({started} UTC)", "",
           f"`python3 bench/experiments/redis_cluster.py{' --quick' if args.quick else ''}` "
           f"on {os.cpu_count()} cores; a 3+{3 * int(os.environ.get('REDPACKET_REDIS_REPLICAS', '2'))} cluster, daemons, loads and Redis all on this "
           "machine.", "",
           "## A. One daemon (1 worker), closed loop of 4 requests in flight per connection", "",
           "| store | request | claim batch | req/s | daemon CPU µs/req | p50 ms | p99 ms | "
           "master CPU µs/req | replica CPU µs/req | FCALL µs (Redis) | round trips/req | errors |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        batch = "" if r["store"] == "memory" else (r["batch"] or 256)
        out.append(f"| {r['store']} | {r['workload']} | {batch} | {r['rps']:,.0f} | "
                   f"{r['daemon_us']:.1f} | "
                   f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r.get('master_us', 0):.1f} | "
                   f"{r.get('replica_us', 0):.1f} | {r.get('fcall_us', 0):.1f} | "
                   f"{r.get('round_trips', 0):.2f} | {r['errors']} |")
    claim = next((r for r in rows if r["store"] == "redis" and r["workload"] == "claim"
                  and r["batch"] is None), None)
    mem = next((r for r in rows if r["store"] == "memory" and r["workload"] == "claim"), None)
    if claim and mem:
        out += ["", f"Claim throughput, Redis store / memory store: "
                f"{claim['rps'] / mem['rps']:.2f}. Daemon CPU per claim: "
                f"{claim['daemon_us']:.1f} µs vs {mem['daemon_us']:.1f} µs."]
    for workload in ("claim", "claim-hot"):
        # Each round runs one call per claim, then batched: pair them in run order.
        ones = [r for r in rows if r["store"] == "redis" and r["workload"] == workload
                and r["batch"] == 1]
        batched = [r for r in rows if r["store"] == "redis" and r["workload"] == workload
                   and r["batch"] is None]
        if not ones or len(ones) != len(batched):
            continue

        def median(rs, key):
            v = sorted(r[key] for r in rs)
            return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

        out += ["", f"**{workload}**, one call per claim → batched, medians of {len(ones)} "
                f"interleaved rounds: daemon CPU {median(ones, 'daemon_us'):.1f} → "
                f"{median(batched, 'daemon_us'):.1f} µs/claim, masters "
                f"{median(ones, 'master_us'):.1f} → {median(batched, 'master_us'):.1f} µs/claim, "
                f"replicas {median(ones, 'replica_us'):.1f} → "
                f"{median(batched, 'replica_us'):.1f} µs/claim, "
                f"{median(ones, 'rps'):,.0f} → {median(batched, 'rps'):,.0f} claims/s"
                + (f" ({median(ones, 'rps') / mem['rps']:.2f}× → "
                   f"{median(batched, 'rps') / mem['rps']:.2f}× the memory store's spread claims)"
                   if mem else "") + "."]
    if claim:
        per = claim["master_us"]
        out += ["", "## B. Masters needed (one core each, kept at 70%)", "",
                f"From the measured master CPU per claim ({per:.1f} µs, WAIT and replication "
                "included):", "", "| claims/s | masters |", "|---|---|"]
        for rate in (60_000, 600_000, 6_000_000):
            out.append(f"| {rate:,} | {max(1, -(-rate * per // (0.7 * 1e6))):.0f} |")
    if big:
        out += ["", "## C. Connections past one process", "",
                "| store | daemons | connections | target QPS | QPS | seconds on target (min "
                "over loads) | daemon RSS B/conn | kernel B/socket (slab + TCP) | daemon CPU µs/req | "
                "load CPU µs/req | Redis CPU µs/req | p99 ms (worst load) | errors |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in big:
            out.append(f"| {r['store']} | {r['daemons']} | {r['connections']:,} | "
                       f"{r['target_qps']:,} | {r['qps']:,.0f} | {r['on_target']}/"
                       f"{r['full_seconds']} | {r['daemon_rss_per_conn']:.0f} | "
                       f"{r['kernel_per_end']:.0f} | {r['daemon_us']:.1f} | "
                       f"{r['load_us']:.1f} | {r.get('redis_us', 0):.1f} | {r['p99_ms']:.1f} | "
                       f"{r['errors']} |")
    text = "\n".join(out) + "\n"
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--port", type=int, default=7300, help="the cluster's first port")
    ap.add_argument("--seconds", type=int, default=8, help="each part A run")
    ap.add_argument("--hold-seconds", type=int, default=30, help="part C's paced phase")
    ap.add_argument("--daemons", type=int, default=6)
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--qps", type=int, default=30_000)
    ap.add_argument("--rounds", type=int, default=1, help="part A: rounds of the Redis claim runs")
    ap.add_argument("--quick", action="store_true", help="part A only, shorter")
    ap.add_argument("--parts", default="A,C", help="A (one daemon per store), C (many connections)")
    args = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    stamp = started.replace(" ", "-").replace(":", "")
    args.out = args.out or os.path.join(args.build, "experiments", f"redis-cluster-{stamp}")
    os.makedirs(args.out, exist_ok=True)
    if args.quick:
        args.seconds = 4
    cluster = Cluster(os.path.join(args.out, "cluster"), args.port)
    rows, big = [], []
    try:
        if "A" in args.parts:
            # The Redis store's claims one call each (batch 1, as before batching) and batched
            # (the default), interleaved, on a spread and a hot workload.
            runs = [("memory", "claim", None), ("memory", "shake", None)]
            for _ in range(args.rounds):
                runs += [("redis", w, b) for w in ("claim", "claim-hot") for b in (1, None)]
            runs += [("redis", "shake", None)]
            for i, (store, workload, batch) in enumerate(runs):
                log(f"part A: {store} store, {workload}, claim batch {batch or 'default'}")
                rows.append(one_store_run(args, cluster, store, workload,
                                          f"a{i}-{store}-{workload}-{batch or 'd'}", batch))
        if not args.quick and "C" in args.parts:
            log("part C: one memory-store daemon, 19,000 connections")
            big.append(many_connections(args, cluster, "memory", 1, 19_000, args.qps, "c-memory"))
            log(f"part C: {args.daemons} daemons on the cluster, {args.connections:,} connections")
            big.append(many_connections(args, cluster, "redis", args.daemons, args.connections,
                                        args.qps, "c-redis"))
    finally:
        cluster.stop()
    report(args, rows, big, started)


if __name__ == "__main__":
    main()
