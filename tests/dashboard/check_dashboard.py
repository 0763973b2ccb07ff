#!/usr/bin/env python3
"""The dashboard page, in a real browser, shows what /stats says.

    python3 check_dashboard.py --daemon PATH --load PATH [--screenshot OUT.png] [--page FILE]

Starts redpacketd (loopback, ports picked by the kernel, an admin token, finite shake and send
campaigns), drives it for a few seconds with redpacket-load, waits until its counters stop
moving, then loads /dashboard#token=... in headless Chromium and checks the DOM it dumps:
every [data-stat] element equals the value /stats gives for its path, the page polled at least
twice, the invariant marker is not red, and Chromium logged no console message (the page writes
none, so any is an uncaught error). A second load without the token must show the "token
needed" notice. --page FILE serves FILE as /dashboard through a local proxy instead of the
page compiled into the daemon (to try a page before building it in).

Exit status: 0 pass, 1 fail, 77 skip (no Chromium). Bounded to about 90 s; loopback only; it
stops only the processes it started.
"""
import argparse
import html.parser
import http.server
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SKIP = 77
BUDGET_S = 85  # the whole run, start-up to clean-up
LOAD_PLAN = "connect 200 @ 1000/s; qps 2000 for 4s"
DAEMON_FLAGS = ["--port", "0", "--admin-port", "0", "--compat-mode", "true", "--workers", "1",
                "--shake-enabled", "true", "--shake-rate", "200", "--shake-total", "400",
                "--send-enabled", "true", "--send-rate", "50", "--send-total", "60"]
# Paths the page must show (the brief of the dashboard); it may show more.
REQUIRED_STATS = ["connections", "logged_in", "packets_open", "invariant_violations",
                  "totals.shake_requests", "totals.grabs", "totals.grab_hits",
                  "totals.shake_hits", "totals.claims", "money.group_created",
                  "money.group_claimed", "money.group_refunded", "money.group_outstanding",
                  "money.shake_issued", "latency_last_second_us.p99", "limits.max_connections",
                  "build.version", "build.commit"]
# What must be still before the page is loaded: what it shows, minus what ticks when idle.
SETTLED_KEYS = ["totals", "money", "latency_ns", "latency_last_second_us", "connections",
                "logged_in", "packets_open",
                "shake_queued", "invariant_violations"]
# Chromium's --enable-logging=stderr line for every console message and uncaught error, e.g.
#   [123:123:1205/203333.549488:INFO:CONSOLE:4] "an error line", source: http://... (4)
# (older builds: "INFO:CONSOLE(4)]"). Every level is logged as INFO, so any such line counts.
CONSOLE_LINE = re.compile(r":CONSOLE[:(]")
DAEMON_LOG = "redpacketd.log"  # its stderr, in the scratch directory


class Failure(Exception):
    pass


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self, cap):
        """The time a step may take: at most cap, never past the overall budget."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise Failure(f"out of time: the whole check is limited to {BUDGET_S} s")
        return min(cap, remaining)


def log(message):
    print(f"check_dashboard: {message}", flush=True)


def print_tail(path, chars=3000):
    if os.path.isfile(path):
        with open(path, errors="replace") as f:
            log(f"the end of {os.path.basename(path)}:\n{f.read()[-chars:]}")


def stop(process, grace_s=5):
    """Ends a process this script started: SIGTERM, then SIGKILL after grace_s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---- the daemon ---------------------------------------------------------------------------

def start_daemon(path, token_file, log_file, deadline):
    """Starts redpacketd; returns (process, port, admin_port) once it printed its ready line."""
    process = subprocess.Popen([path, *DAEMON_FLAGS, "--admin-token-file", token_file],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=log_file, text=True)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    end = time.monotonic() + deadline.left(10)
    while time.monotonic() < end:
        if not selector.select(end - time.monotonic()):
            break
        line = process.stdout.readline()
        if not line:
            break
        found = re.search(r"redpacketd ready port=(\d+) admin_port=(\d+)", line)
        if found:
            return process, int(found.group(1)), int(found.group(2))
    stop(process)
    raise Failure("redpacketd did not print 'redpacketd ready ...' within 10 s")


def get_stats(admin_port, token):
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/stats",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def run_load(path, port, deadline):
    command = [path, "--port", str(port), "--plan", LOAD_PLAN, "--quiet", "--max-seconds", "20"]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=deadline.left(30))
    except subprocess.TimeoutExpired:
        raise Failure("redpacket-load did not finish in time")
    if result.returncode != 0:
        raise Failure(f"redpacket-load exited {result.returncode}:\n{result.stderr[-2000:]}")


def wait_until_settled(admin_port, token, deadline):
    """Polls /stats until what the page shows stayed the same for 2 s and the campaigns ended."""
    def settled_part(stats):
        return json.dumps({key: stats.get(key) for key in SETTLED_KEYS}, sort_keys=True)

    end = time.monotonic() + deadline.left(20)
    previous, same_for = None, 0
    while time.monotonic() < end:
        stats = get_stats(admin_port, token)
        campaigns = stats.get("campaigns", {})
        done = (campaigns.get("shake", {}).get("offered") == campaigns.get("shake", {}).get("total")
                and campaigns.get("send", {}).get("sent") == campaigns.get("send", {}).get("total"))
        current = settled_part(stats)
        same_for = same_for + 1 if done and current == previous else 0
        if same_for >= 2:
            return stats
        previous = current
        time.sleep(1)
    raise Failure("the daemon's counters did not settle within 20 s of the load's end")


# ---- the page proxy (--page) --------------------------------------------------------------

def start_page_proxy(page_file, admin_port):
    """Serves page_file at /dashboard; forwards every other GET to the daemon's admin port."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] == "/dashboard":
                with open(page_file, "rb") as f:
                    self.reply(200, "text/html; charset=utf-8", f.read())
                return
            headers = {}
            if self.headers.get("Authorization"):
                headers["Authorization"] = self.headers["Authorization"]
            request = urllib.request.Request(f"http://127.0.0.1:{admin_port}{self.path}",
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    self.reply(response.status, response.headers.get("Content-Type"),
                               response.read())
            except urllib.error.HTTPError as error:
                self.reply(error.code, error.headers.get("Content-Type"), error.read())

        def reply(self, status, content_type, body):
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---- Chromium -----------------------------------------------------------------------------

def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(chromium, url, work_dir, deadline, mode_flags):
    """One headless Chromium run; returns (stdout, stderr). mode_flags: --dump-dom or
    --screenshot=... Virtual time makes the page's timers run: 4 s is 3 to 4 polls."""
    profile = tempfile.mkdtemp(prefix="chromium-", dir=work_dir)
    command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={profile}", "--virtual-time-budget=4000",
               "--enable-logging=stderr", "--v=0", *mode_flags, url]
    # Its own session, so that a hung run is ended with its helpers and nothing else.
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=deadline.left(30))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise Failure(f"chromium did not finish in 30 s: {' '.join(command)}")
    if process.returncode != 0:
        raise Failure(f"chromium exited {process.returncode}:\n{err[-3000:]}")
    console = [line for line in err.splitlines() if CONSOLE_LINE.search(line)]
    if console:
        raise Failure("the page wrote to the console (uncaught error?):\n" + "\n".join(console))
    return out, err


class DomReader(html.parser.HTMLParser):
    """Collects the text of [data-stat] elements, the <body> attributes and those of #ids."""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stats = []       # [path, text, classes]
        self.body = {}
        self.by_id = {}
        self.open = []        # [(tag, stat record or None)]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs
        if tag in self.VOID:
            return
        record = None
        if "data-stat" in attrs:
            record = [attrs["data-stat"], "", (attrs.get("class") or "").split()]
            self.stats.append(record)
        self.open.append((tag, record))

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, record in self.open:
            if record is not None:
                record[1] += data


def read_dom(dom):
    reader = DomReader()
    reader.feed(dom)
    return reader


def expected_text(stats, path):
    """What the page must print for a path: String(value) in JavaScript terms."""
    value = stats
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None or isinstance(value, (dict, list)):
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JavaScript's String(3.0) is "3"
    return str(value)


# ---- the checks ---------------------------------------------------------------------------

def check_page(dom, stats):
    page = read_dom(dom)
    problems = []
    polls = page.body.get("data-polls")
    if not (polls or "").isdigit() or int(polls) < 2:
        problems.append(f"<body data-polls> is {polls!r}: the page did not poll twice")
    last_second = page.body.get("data-last-second") or ""
    # Not always equal: a second may have completed between the page's last poll and ours.
    if not last_second.isdigit() or not 0 < int(last_second) <= stats["last_complete_second"]:
        problems.append(f"<body data-last-second> is {last_second!r}, /stats says "
                        f"{stats['last_complete_second']}")
    # The charts are the daemon's own last minute, not the page's polls: a page opened after
    # the run shows its seconds (stats["history"] has a sample a second, at most 60).
    history = page.body.get("data-history-seconds") or ""
    have = len(stats["history"]["time_s"])
    polled = int(polls) if (polls or "").isdigit() else 0
    if not history.isdigit() or int(history) < min(have, 60) - 2 or int(history) <= polled:
        problems.append(f"<body data-history-seconds> is {history!r} after {polls} polls; /stats "
                        f"has {have} seconds of history: the charts are not backfilled")
    shown = {path for path, _, _ in page.stats}
    for path in REQUIRED_STATS:
        if path not in shown:
            problems.append(f'no element with data-stat="{path}"')
    for path, text, classes in page.stats:
        want = expected_text(stats, path)
        if text.strip() != want:
            problems.append(f'data-stat="{path}" shows {text.strip()!r}, /stats says {want!r}')
        if path == "invariant_violations" and "bad" in classes and stats[path] == 0:
            problems.append('data-stat="invariant_violations" is marked "bad" with 0 violations')
    if "hidden" not in page.by_id.get("invariant-banner", {"hidden": ""}):
        problems.append("the invariant banner shows with 0 violations")
    if "hidden" not in page.by_id.get("auth-needed", {"hidden": ""}):
        problems.append("the 'token needed' notice shows although the token was given")
    return problems, page


def check_without_token(dom):
    page = read_dom(dom)
    problems = []
    if "auth-needed" not in page.by_id or "hidden" in page.by_id["auth-needed"]:
        problems.append("without the token the page does not show the 'token needed' notice")
    if page.body.get("data-polls") not in (None, "0"):
        problems.append(f"without the token the page counted {page.body['data-polls']} polls")
    return problems


def check(args, work_dir, deadline):
    token = secrets.token_hex(16)
    token_file = os.path.join(work_dir, "admin_token")
    with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(token + "\n")
    daemon, proxy = None, None
    with open(os.path.join(work_dir, DAEMON_LOG), "w") as daemon_log:
        try:
            daemon, port, admin_port = start_daemon(args.daemon, token_file, daemon_log, deadline)
            log(f"redpacketd ready: port {port}, admin port {admin_port}")
            run_load(args.load, port, deadline)
            settled = wait_until_settled(admin_port, token, deadline)
            totals = settled["totals"]
            log(f"settled: {totals['shake_requests']} shakes, {totals['grab_hits']} grab hits, "
                f"{settled['money']['group_created']} cents created")
            if totals["shake_requests"] == 0 or totals["logins"] == 0:
                raise Failure("the load reached nothing: no shake request or login counted")

            base = f"http://127.0.0.1:{admin_port}"
            if args.page:
                proxy = start_page_proxy(args.page, admin_port)
                base = f"http://127.0.0.1:{proxy.server_address[1]}"
                log(f"serving {args.page} as /dashboard through {base}")
            url = f"{base}/dashboard#token={token}"

            dom, _ = run_chromium(args.chromium, url, work_dir, deadline, ["--dump-dom"])
            stats = get_stats(admin_port, token)
            problems, page = check_page(dom, stats)
            log(f"with the token: {len(page.stats)} data-stat elements, "
                f"{page.body.get('data-polls')} polls")

            dom, _ = run_chromium(args.chromium, f"{base}/dashboard", work_dir, deadline,
                                  ["--dump-dom"])
            problems += check_without_token(dom)
            if problems:
                raise Failure("the page disagrees with /stats:\n  " + "\n  ".join(problems))

            if args.screenshot:
                out = os.path.abspath(args.screenshot)
                run_chromium(args.chromium, url, work_dir, deadline,
                             [f"--screenshot={out}", "--window-size=1280,1000",
                              "--hide-scrollbars"])
                if not os.path.getsize(out):
                    raise Failure(f"chromium wrote no screenshot to {out}")
                log(f"screenshot: {out}")
        finally:
            if proxy:
                proxy.shutdown()
            stop(daemon)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--daemon", required=True, help="redpacketd binary")
    parser.add_argument("--load", required=True, help="redpacket-load binary")
    parser.add_argument("--screenshot", help="also write a 1280x1000 PNG of the page here")
    parser.add_argument("--page", help="serve this file as /dashboard instead of the daemon's")
    parser.add_argument("--chromium", default=find_chromium(), help="browser binary")
    args = parser.parse_args()
    if not args.chromium:
        log("SKIP: no chromium, chromium-browser or google-chrome on PATH")
        return SKIP
    for path in (args.daemon, args.load, args.page):
        if path and not os.path.isfile(path):
            log(f"FAIL: no such file: {path}")
            return 1
    deadline = Deadline(BUDGET_S)
    with tempfile.TemporaryDirectory(prefix="check_dashboard-") as work_dir:
        try:
            check(args, work_dir, deadline)
        except (Failure, OSError, urllib.error.URLError) as error:
            log(f"FAIL: {error}")
            print_tail(os.path.join(work_dir, DAEMON_LOG))
            return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
