#!/usr/bin/env python3
"""Daemon memory per idle connection: start redpacketd, read its RSS, open N logged-in idle
connections (spread over several 127.0.0.x source addresses), read the RSS again.

    python3 bench/experiments/idle_memory.py build/release/daemon/redpacketd [N=10000] [workers=2]

Prints RSS before and after and the bytes per connection. Loopback only; closes everything
and stops the daemon (SIGTERM) at the end."""
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    workers = sys.argv[3] if len(sys.argv) > 3 else "2"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    d = subprocess.Popen([binary, "--port", "0", "--admin-port", "0", "--compat-mode", "true", "--workers", workers,
                          "--max-connections", str(n + 100)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r"port=(\d+)", d.stdout.readline()).group(1))
        time.sleep(0.5)
        before = rss_bytes(d.pid)
        socks = []
        for i in range(n):
            s = socket.socket()
            s.bind((f"127.0.0.{2 + i % 8}", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(struct.pack(">HHQI", 16, 0, 0, 1_000_000 + i))
            socks.append(s)
        for s in socks:  # every login answered: the connection is registered in its SET
            s.settimeout(5)
            assert len(s.recv(20)) == 20
        time.sleep(1.0)
        after = rss_bytes(d.pid)
        print(f"connections {n}, workers {workers}: RSS {before / 2**20:.1f} MiB -> "
              f"{after / 2**20:.1f} MiB, {(after - before) / n:.0f} bytes per idle connection")
        for s in socks:
            s.close()
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=10)


if __name__ == "__main__":
    main()
