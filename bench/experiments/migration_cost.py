#!/usr/bin/env python3
"""What migrating a connection to its SET's worker costs, seen from the client: the round trip
of connect + login, then of one shake on the logged-in connection, with 1 worker (never
migrates) and with 2 workers (about half the logins migrate: the kernel picks the accepting
worker, the user's SET picks the owner).

    python3 bench/experiments/migration_cost.py build/release/daemon/redpacketd [N=2000]
"""
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request


def run(binary, workers, n):
    d = subprocess.Popen([binary, "--port", "0", "--admin-port", "0", "--compat-mode", "true", "--workers", str(workers),
                          "--sets", "256"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    try:
        line = d.stdout.readline()
        port = int(re.search(r" port=(\d+)", line).group(1))
        admin = int(re.search(r"admin_port=(\d+)", line).group(1))
        login_ns, shake_ns = [], []
        for i in range(n):
            t0 = time.perf_counter_ns()
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(struct.pack(">HHQI", 16, 0, 0, i))
            assert len(s.recv(20)) == 20
            t1 = time.perf_counter_ns()
            s.sendall(struct.pack(">HHQI", 16, 2, 0, i))
            assert len(s.recv(28)) == 28
            t2 = time.perf_counter_ns()
            login_ns.append(t1 - t0)
            shake_ns.append(t2 - t1)
            s.close()
        stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats"))
        return sorted(login_ns), sorted(shake_ns), stats["totals"]["migrations"]
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=10)


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    for workers in (1, 2):
        login, shake, migrated = run(binary, workers, n)
        med = lambda xs: xs[len(xs) // 2] / 1000
        p99 = lambda xs: xs[len(xs) * 99 // 100] / 1000
        print(f"workers {workers}: {migrated} of {n} logins migrated; connect+login median "
              f"{med(login):.1f} us p99 {p99(login):.1f} us; shake after login median "
              f"{med(shake):.1f} us p99 {p99(shake):.1f} us")


if __name__ == "__main__":
    main()
