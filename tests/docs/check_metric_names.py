#!/usr/bin/env python3
"""Every metric the alert rules and the Grafana dashboard query exists in the daemon's /metrics.

    python3 tests/docs/check_metric_names.py --metrics FILE \\
        --rules docs/alerts.yml --dashboard docs/grafana-dashboard.json

FILE is a /metrics scrape of a live daemon (Prometheus text format). Each PromQL expression in
the rules (every `expr`) and in the dashboard (every target's `expr`, every variable's query) is
reduced to the metric names it selects; each must be

  * a family in FILE, or a histogram family's _bucket / _sum / _count series,
  * one of the Redis store's metrics (redpacketd_store_<key>_total for the keys a daemon with
    store "redis" exports, redpacketd_store_lease_held and
    redpacketd_redis_masters_short_of_replicas), which a memory-store daemon lacks,
  * or `up` (Prometheus' own).

It also checks label names: a matcher `metric{label=...}` must name a label that metric has in
FILE (or a target label: instance, job), a `=` matcher on such a label must name a value FILE
shows, and every label in by / without / on / ignoring / group_left / group_right must be a
label of some metric in the same expression (or instance / job / le).

Exit status: 0 all known; 1 an unknown metric or label (each printed); 2 bad input.
Python 3 standard library only; uses PyYAML for the rules if it is installed, else reads the
`expr:` lines (plain, quoted, or | / > block scalars).
"""
import argparse
import json
import re
import sys

# What a daemon with a Redis store adds (daemon/server_stats.cpp store_stats, exported by
# daemon/server_metrics.cpp as redpacketd_store_<key>_total).
STORE_KEYS = ["round_trips", "commands", "moved", "ask", "retries", "failures", "timeouts",
              "refusals", "short_waits", "shakes_known_empty", "notices_received", "connects"]
STORE_METRICS = {f"redpacketd_store_{k}_total": set() for k in STORE_KEYS}
STORE_METRICS["redpacketd_store_lease_held"] = set()
STORE_METRICS["redpacketd_redis_masters_short_of_replicas"] = set()
PROMETHEUS_METRICS = {"up": set()}
TARGET_LABELS = {"instance", "job"}

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                   "unless", "bool", "offset", "atan2", "inf", "nan"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
IDENT = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)")
SAMPLE = re.compile(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+\S+")
LABEL_PAIR = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def parse_metrics(path):
    """{series name: {label: {values}}} for every sample, plus histogram suffixes."""
    series, histograms = {}, set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) >= 4:
                    series.setdefault(parts[2], {})
                    if parts[3] in ("histogram", "summary"):
                        histograms.add(parts[2])
                continue
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                continue
            labels = series.setdefault(m.group(1), {})
            for name, _, value in LABEL_PAIR.findall(m.group(2) or ""):
                labels.setdefault(name, set()).add(value)
    for h in histograms:
        base = series.get(h, {})
        for suffix in ("_bucket", "_sum", "_count"):
            series.setdefault(h + suffix, {k: set(v) for k, v in base.items() if k != "le"})
    return series


def rule_exprs(path):
    """[(where, expr)] of every rule in a Prometheus rule file."""
    text = open(path, encoding="utf-8").read()
    try:
        import yaml  # noqa: PLC0415 (optional)
    except ImportError:
        return rule_exprs_by_regex(text)
    doc = yaml.safe_load(text) or {}
    out = []
    for group in doc.get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record") or "?"
            out.append((f"rule {name}", str(rule.get("expr", ""))))
    return out


def rule_exprs_by_regex(text):
    """The same without PyYAML: `expr:` lines, plain, quoted or block scalars."""
    out, lines, name = [], text.splitlines(), "?"
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*-?\s*(alert|record):\s*(\S+)", line)
        if m:
            name = m.group(2).strip("'\"")
        m = re.match(r"^(\s*)-?\s*expr:\s*(.*)$", line)
        if not m:
            i += 1
            continue
        indent, value = len(m.group(1)), m.group(2).strip()
        if value[:1] in ("|", ">"):
            body = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i].strip())
                i += 1
            value = " ".join(body)
        else:
            if value[:1] in ("'", '"'):
                value = value[1:-1]
            i += 1
        out.append((f"rule {name}", value))
    return out


def dashboard_exprs(path):
    """[(where, expr)] of every target expr and query variable of a Grafana dashboard."""
    dash = json.load(open(path, encoding="utf-8"))
    out = []

    def panels(items):
        for p in items or []:
            yield p
            yield from panels(p.get("panels"))

    for p in panels(dash.get("panels")):
        for t in p.get("targets") or []:
            if t.get("expr"):
                out.append((f"panel {p.get('title', p.get('id'))!r} {t.get('refId', '')}", t["expr"]))
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.match(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", q)
        if m:  # label_values(selector, label): the label must be on the selector's metric
            out.append((f"variable {v.get('name')}", f"sum by ({m.group(2)}) ({m.group(1)})"))
        elif q.strip():
            out.append((f"variable {v.get('name')}", q))
    return out


def strip_grafana(expr):
    expr = re.sub(r"\$__\w+|\$\{[^}]*\}|\$\w+", "1m", expr)  # variables -> something inert
    return expr


def check_expr(where, expr, known):
    """Problems with one expression, as strings."""
    problems = []
    expr = strip_grafana(expr)
    # Selectors: name{matchers} (matchers checked against that name's labels).
    selectors = []
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}", expr):
        selectors.append((m.group(1), m.group(2)))
    grouping = [lbl.strip() for _, lst in GROUPING.findall(expr) for lbl in lst.split(",") if lbl.strip()]
    # Names: drop strings, matcher bodies, ranges, grouping lists; what is left and not a
    # function call, keyword or number is a metric name.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    bare = re.sub(r"\{[^{}]*\}", " ", bare)
    bare = re.sub(r"\[[^\[\]]*\]", " ", bare)
    bare = GROUPING.sub(" ", bare)
    names = []
    for m in IDENT.finditer(bare):
        word = m.group(1)
        rest = bare[m.end():].lstrip()
        if word.lower() in PROMQL_KEYWORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"[eE]\d*|[pP]\d*", word):  # exponent of a number literal
            continue
        names.append(word)
    used_labels = set(TARGET_LABELS)
    for name in names:
        if name not in known:
            problems.append(f"{where}: unknown metric {name}")
            continue
        used_labels |= set(known[name])
        if name.endswith("_bucket"):
            used_labels.add("le")
    for name, body in selectors:
        if name not in known:
            continue  # reported above
        labels = known[name]
        for label, op, value in LABEL_PAIR.findall(body):
            if label == "__name__":
                continue
            if label not in labels and label not in TARGET_LABELS and not (label == "le" and name.endswith("_bucket")):
                problems.append(f"{where}: {name} has no label {label!r} (has {sorted(labels) or 'none'})")
            elif op == "=" and label in labels and labels[label] and value not in labels[label]:
                problems.append(f"{where}: {name}{{{label}={value!r}}} matches nothing "
                                f"(values: {sorted(labels[label])})")
    for label in grouping:
        if label not in used_labels:
            problems.append(f"{where}: grouping label {label!r} is on none of its metrics")
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--metrics", required=True, help="a /metrics scrape of a live daemon")
    ap.add_argument("--rules", action="append", default=[], help="a Prometheus rule file")
    ap.add_argument("--dashboard", action="append", default=[], help="a Grafana dashboard JSON")
    ap.add_argument("--no-yaml", action="store_true", help="read rules without PyYAML (test the fallback)")
    args = ap.parse_args(argv)
    try:
        known = parse_metrics(args.metrics)
        if not known:
            print(f"{args.metrics}: no metrics in it", file=sys.stderr)
            return 2
        for name, labels in {**STORE_METRICS, **PROMETHEUS_METRICS}.items():
            known.setdefault(name, labels)
        exprs = []
        for path in args.rules:
            exprs += rule_exprs_by_regex(open(path, encoding="utf-8").read()) if args.no_yaml else rule_exprs(path)
        for path in args.dashboard:
            exprs += dashboard_exprs(path)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not exprs:
        print("error: no expressions found", file=sys.stderr)
        return 2
    problems = [p for where, expr in exprs for p in check_expr(where, expr, known)]
    for p in problems:
        print(p)
    print(f"{len(exprs)} expressions checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
