"""Every view's callbacks and every JSON read endpoint over HTTP, next to their raw-SQL floor and a naive baseline.

    python bench/run.py --data-dir DIR [--runs 20] [--write]
    python bench/run.py --url http://127.0.0.1:8050 --floor-db COPY.duckdb [--runs 20] [--write]

With --data-dir, first runs the floor and the naive baseline (bench/direct.py, and the monitoring parts'
floor, bench/monitoring.py's QUERIES_ONLY) directly on DIR/pulse.duckdb, then starts `python app.py` on
it (demo stream off; DuckDB lets one process open the file, so the two never overlap). With --url, a
Pulse already running is measured and the floor runs on --floor-db, a copy of its warehouse.

For each view (monitoring, funnel, experiments, budget, wall, alerts) and filter setting (last 24 h, 30 d,
90 d; each with and without a channel filter), the callback requests headless Chromium sends when it opens
the view are recorded from its DevTools performance log (bench/record.py), then replayed --runs times
each over HTTP. A callback fed by the view's instant (`as-of`: the monitoring parts, the wall) gets a new
instant on every run, as a first load or filter change does: nothing prefetched for it ("on demand"; the
monitoring parts are sent at once, as the renderer sends them, by bench/monitoring.py's `parts`). Then a
refresh as the timer fires it (bench/monitoring.py's `tick_refresh`: the tick, then the parts at the
tick's instant), ticks back to back (bench/monitoring.py measures the 5 s cycle with its prefetch). And
every `/api/v1` read endpoint with the setting's query string (those without filters once).

Prints a Markdown table (ms, p50 / p95) with each row's floor, naive baseline and the issue's targets
(issue 10); --write also appends it to docs/benchmarks.md with the machine, date and command.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import record  # noqa: E402
from bench.monitoring import (CALLBACKS, QUERIES_ONLY, dash_outputs, parts, percentile, tick_payload,  # noqa: E402
                              tick_refresh)
from tests.load.server import PulseProcess  # noqa: E402

SETTINGS = [
    ("last 24 h", "from=now-24h&to=now"),
    ("last 24 h, 2 channels", "from=now-24h&to=now&channel=paid_search,email"),
    ("last 30 d", "from=now-30d&to=now"),
    ("last 30 d, 2 channels", "from=now-30d&to=now&channel=paid_search,email"),
    ("last 90 d", "from=now-90d&to=now"),
    ("last 90 d, 2 channels", "from=now-90d&to=now&channel=paid_search,email"),
]
VIEWS = {"monitoring": "/", "funnel": "/funnel", "experiments": "/experiments", "budget": "/budget",
         "wall": "/wall", "alerts": "/alerts"}
INSTANTS = ("as-of", "wall-as-of")   # stores holding a view's instant: a new one on every run
ENDPOINTS = ["kpis", "timeseries", "funnel", "experiment", "budget/channels", "budget/optimize"]
UNFILTERED = ["experiments", "budget/pacing", "alerts/rules", "alerts/active", "alerts/history", "health", "ping",
              "targets"]
NO_FILTER = "(no filters)"
# Where each row's floor and naive baseline come from (bench/direct.py names; "part:" the monitoring parts)
FLOORS = {("api", "kpis"): "api kpis", ("api", "timeseries"): "api timeseries", ("api", "funnel"): "api funnel",
          ("api", "experiment"): "api experiment", ("api", "budget/channels"): "api budget/channels",
          ("api", "budget/optimize"): "api budget/optimize", ("funnel", "page"): "api funnel",
          ("experiments", "page"): "api experiment", ("budget", "page"): "budget page",
          ("wall", "wall-numbers ← wall-as-of (on demand)"): "wall frame", ("alerts", "page"): "alerts page",
          ("monitoring", "tiles (on demand)"): "part:tiles", ("monitoring", "trends (on demand)"): "part:trends",
          ("monitoring", "tables (on demand)"): "part:tables", ("monitoring", "tiles"): "part:tiles",
          ("monitoring", "trends"): "part:trends", ("monitoring", "tables"): "part:tables"}
NAIVES = {("monitoring", "three parts at once (on demand)"): "monitoring naive",
          ("wall", "wall-numbers ← wall-as-of (on demand)"): "wall frame"} | {
    k: v for k, v in FLOORS.items() if not v.startswith("part:") and v != "alerts page"}
MONITORING_ROWS = ("tick", "tiles", "trends", "tables", "refresh", "tiles (on demand)", "trends (on demand)",
                   "tables (on demand)", "three parts at once (on demand)")


# -- HTTP -----------------------------------------------------------------------------------------------

def send(url: str, path: str, body=None, method: str | None = None) -> tuple[float, int, bytes]:
    """Seconds to answer, status and body of one request (any status: the table counts the errors)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            content, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        content, status = error.read(), error.code
    return time.perf_counter() - started, status, content


class Timings:
    """Times and statuses per (view, request, setting)."""

    def __init__(self):
        self.times, self.statuses = {}, {}

    def add(self, key: tuple, seconds: float, status: int = 200) -> None:
        self.times.setdefault(key, []).append(seconds)
        self.statuses.setdefault(key, Counter())[status] += 1


CHROME = ("access-bar", "alert-banner", "url", "permalink")   # callbacks of the page's frame, no view query
CHROME_ROW = "other callbacks (access bar, alert banner, URL sync, permalink), pooled"


def callback_name(output: str, body: dict) -> str:
    """A readable name: the first output's id and the first input's id; the frame's own callbacks (no
    query of the view) pooled under one name."""
    first = output.strip(".").split("...")[0].rsplit(".", 1)[0].split("@")[0]
    inputs = [i if isinstance(i, dict) else (i[0] if i else {}) for i in body.get("inputs", [])]
    source = next((i.get("id") for i in inputs if i.get("id")), "")
    if first == "_pages_content":
        return "page"
    if first in CHROME:
        return CHROME_ROW
    return f"{first} ← {source if isinstance(source, str) else source.get('type', json.dumps(source))}"


def with_instant(body: dict, instant: int) -> dict:
    body = copy.deepcopy(body)
    for item in body.get("inputs", []):
        if isinstance(item, dict) and item.get("id") in INSTANTS:
            item["value"] = instant
    return body


def takes_instant(body: dict) -> bool:
    return any(isinstance(i, dict) and i.get("id") in INSTANTS for i in body.get("inputs", []))


def record_views(url: str, views: list[str], settings: list, quiet: float) -> dict:
    """(view, setting) -> the callback requests Chromium sent opening it, one per callback (in order)."""
    driver = record.browser()
    recorded = {}
    try:
        for label, query in settings:
            for view in views:
                requests, seen = [], set()
                for item in record.record(driver, f"{url}{VIEWS[view]}?{query}", quiet=quiet):
                    if item["output"] not in seen:
                        seen.add(item["output"])
                        requests.append(item)
                recorded[(view, label)] = requests
                print(f"recorded {view} {label}: {len(requests)} callbacks", file=sys.stderr, flush=True)
    finally:
        driver.quit()
    return recorded


def measure_view(url: str, view: str, label: str, query: str, requests: list, outputs: dict, runs: int,
                 timings: Timings) -> None:
    monitoring = {name: next(d for k, d in outputs.items() if marker in k) for name, marker in CALLBACKS.items()}
    tick = next(d for d in outputs.values() if any(i["id"] == "refresh-timer" for i in d["inputs"]))
    wall_tick = next(d for d in outputs.values() if any(i["id"] == "wall-timer" for i in d["inputs"]))
    part_outputs = {d["output"] for d in monitoring.values()}
    for n in range(runs):
        instant = int(time.time() * 1000)
        for item in requests:
            if view == "monitoring" and item["output"] in part_outputs:
                continue   # sent together below, as the renderer sends them
            body = with_instant(item["body"], instant) if takes_instant(item["body"]) else item["body"]
            name = callback_name(item["output"], item["body"]) + (" (on demand)" if takes_instant(item["body"]) else "")
            seconds, status, _ = send(url, "/_dash-update-component", body)
            timings.add((view, name, label), seconds, status)
        if view == "monitoring":
            parts_timings = {name: [] for name in (*CALLBACKS, "demand", "tick", "parts", "refresh", "age")}
            parts(url, monitoring, query, instant, parts_timings, "demand")
            tick_refresh(url, tick, monitoring, query + "&refresh=5", n + 1, parts_timings)
            for name in CALLBACKS:   # first the on-demand part, then the refreshed one
                timings.add((view, f"{name} (on demand)", label), parts_timings[name][0])
                timings.add((view, name, label), parts_timings[name][1])
            timings.add((view, "three parts at once (on demand)", label), parts_timings["demand"][0])
            timings.add((view, "tick", label), parts_timings["tick"][0])
            timings.add((view, "refresh", label), parts_timings["refresh"][0])
        elif view == "wall":
            wall_refresh(url, wall_tick, requests, query, n + 1, label, timings)


def wall_refresh(url, tick: dict, requests: list, query: str, n: int, label: str, timings: Timings) -> None:
    """The wall's timer firing: its tick (monitoring's tick with the wall's ids), then the numbers at the
    tick's instant."""
    payload = tick_payload(tick, query + "&refresh=5", n)
    payload["outputs"]["id"], payload["inputs"][0]["id"] = "wall-as-of", "wall-timer"
    started = time.perf_counter()
    seconds, status, content = send(url, "/_dash-update-component", payload)
    timings.add(("wall", "tick", label), seconds, status)
    instant = json.loads(content)["response"]["wall-as-of"]["data"] if status == 200 else int(time.time() * 1000)
    show = next(item for item in requests if takes_instant(item["body"]))
    seconds, status, _ = send(url, "/_dash-update-component", with_instant(show["body"], instant))
    timings.add(("wall", "wall-numbers ← wall-as-of (refresh)", label), seconds, status)
    timings.add(("wall", "refresh", label), time.perf_counter() - started)


def measure_endpoints(url: str, experiment: str | None, runs: int, settings: list, timings: Timings) -> None:
    for label, query in settings:
        for name in ENDPOINTS:
            if name == "experiment" and not experiment:
                continue
            path = f"/api/v1/experiments/{experiment}" if name == "experiment" else f"/api/v1/{name}"
            body = {} if name == "budget/optimize" else None
            for _ in range(runs):
                seconds, status, _ = send(url, f"{path}?{query}", body)
                timings.add(("api", name, label), seconds, status)
    for name in UNFILTERED:
        for _ in range(runs):
            seconds, status, _ = send(url, f"/api/v1/{name}")
            timings.add(("api", name, NO_FILTER), seconds, status)


# -- floor and naive, directly in DuckDB ----------------------------------------------------------------

def measure_direct(db: Path, runs: int, settings: list) -> dict:
    """bench/direct.py's floors and naive baselines, and the monitoring parts' floor, in processes of their
    own on `db` (which no server holds)."""
    def result_of(args):
        done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            raise RuntimeError(done.stderr[-3000:])
        return json.loads(lines[0].removeprefix("RESULT "))

    listed = json.dumps(settings)
    direct = result_of([str(ROOT / "bench" / "direct.py"), str(db), listed, str(runs)])
    monitoring = result_of(["-c", QUERIES_ONLY, str(ROOT), str(db), listed, str(runs)])
    for label, times in direct["times"].items():
        for part, values in monitoring[label].items():
            times[f"part:{part}"] = {"floor": values, "naive": None}
    return direct


# -- the table --------------------------------------------------------------------------------------------

def target(view: str, name: str, label: str) -> tuple[float | None, float | None, str]:
    """(p95 limit in ms, limit as a multiple of the floor's p95, what it is) of issue 10, or Nones."""
    if (view == "monitoring" and name in MONITORING_ROWS) or (view, name) == ("api", "kpis"):
        return 150, 1.5, "≤150 ms, ≤1.5× floor"
    if (view, name) in {("funnel", "page"), ("api", "funnel")} and "30 d" in label:
        return 1000, None, "≤1 s"
    if (view, name) == ("api", "budget/channels"):
        return 300, None, "≤300 ms"
    if (view, name) == ("api", "budget/optimize"):
        return 2000, None, "≤2 s"
    return None, None, ""


def ms(values) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values) * 1000:,.0f} / {percentile(values, .95) * 1000:,.0f}"


def verdict(p95: float, floor_p95: float | None, limit: float | None, ratio: float | None) -> str:
    if limit is None:
        return ""
    misses = []
    if p95 > limit:
        misses.append(f"+{p95 - limit:,.0f} ms")
    if ratio and floor_p95 and p95 > ratio * floor_p95:
        misses.append(f"{p95 / floor_p95:.1f}× floor")
    return "**miss**: " + ", ".join(misses) if misses else "met"


def table(timings: Timings, direct: dict) -> list[str]:
    lines = ["| view | request | setting | HTTP p50 / p95 | floor p50 / p95 | naive p50 / p95 | p95 / floor p95 "
             "| errors | target (p95) | result |", "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for (view, name, label), values in timings.times.items():
        row = direct["times"].get(label, {})
        floor = (row.get(FLOORS.get((view, name)), {}) or {}).get("floor")
        naive = (row.get(NAIVES.get((view, name)), {}) or {}).get("naive")
        p95 = percentile(values, .95) * 1000
        floor_p95 = percentile(floor, .95) * 1000 if floor else None
        limit, ratio, what = target(view, name, label)
        errors = sum(n for status, n in timings.statuses[(view, name, label)].items() if status not in (200, 204))
        codes = ", ".join(f"{n}×{s}" for s, n in timings.statuses[(view, name, label)].items() if s not in (200, 204))
        lines.append(f"| {view} | {name} | {label} | {ms(values)} | {ms(floor)} | {ms(naive)} | "
                     f"{f'{p95 / floor_p95:.2f}' if floor_p95 else '–'} | {f'{errors} ({codes})' if errors else 0} | "
                     f"{what} | {verdict(p95, floor_p95, limit, ratio)} |")
    return lines


def machine() -> str:
    load = os.getloadavg()
    return (f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores), Python {platform.python_version()}, "
            f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) at the end")


SECTION = "## Every view over HTTP (`bench/run.py`)"


def write_docs(text: str) -> None:
    """Append under the section of docs/benchmarks.md (made at the end of the file when missing)."""
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text()
    if SECTION not in doc:
        doc = doc.rstrip("\n") + f"\n\n{SECTION}\n"
    head, _, tail = doc.partition(SECTION)
    following = tail.find("\n## ")
    body, rest = (tail, "") if following < 0 else (tail[:following], tail[following:])
    path.write_text(head + SECTION + body.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n" + rest)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", help="a warehouse directory: measured directly, then served on --port")
    where.add_argument("--url", help="a running Pulse to measure (needs --floor-db)")
    parser.add_argument("--floor-db", help="with --url: a copy of its warehouse file, for the floor")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--floor-runs", type=int, default=None,
                        help="runs of each floor and naive baseline (default --runs; at 10M events and more the "
                             "direct queries take most of the time)")
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated, of " + ", ".join(VIEWS))
    parser.add_argument("--settings", default=";".join(label for label, _ in SETTINGS),
                        help="labels separated by ';', of: " + "; ".join(label for label, _ in SETTINGS))
    parser.add_argument("--record-quiet", type=float, default=2.0,
                        help="seconds without a callback after which a view counts as loaded (recording)")
    parser.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.url and not args.floor_db:
        parser.error("--url needs --floor-db: the floor runs on a copy of the warehouse, which the server holds")
    views = args.views.split(",")
    chosen = [label.strip() for label in args.settings.split(";")]
    settings = [(label, query) for label, query in SETTINGS if label in chosen]
    unknown = set(chosen) - {label for label, _ in SETTINGS} or set(views) - set(VIEWS)
    if unknown:
        parser.error(f"unknown setting or view: {', '.join(sorted(unknown))}")
    started = datetime.now(timezone.utc)
    db = Path(args.floor_db) if args.url else Path(args.data_dir) / "pulse.duckdb"
    print(f"floor and naive baseline on {db} ...", file=sys.stderr, flush=True)
    floor_runs = args.floor_runs or args.runs
    direct = measure_direct(db, floor_runs, settings)
    server = None if args.url else PulseProcess(Path(args.data_dir), args.port).start(timeout=900)
    url = args.url.rstrip("/") if args.url else server.url
    timings = Timings()
    try:
        recorded = record_views(url, views, settings, args.record_quiet)
        outputs = dash_outputs(url)
        for label, query in settings:
            for view in views:
                measure_view(url, view, label, query, recorded[(view, label)], outputs, args.runs, timings)
                print(f"measured {view} {label}", file=sys.stderr, flush=True)
        measure_endpoints(url, direct["experiment"], args.runs, settings, timings)
        events = json.loads(send(url, "/api/v1/health")[2])["row_counts"]["events"]
    finally:
        if server:
            server.stop()
    ended = datetime.now(timezone.utc)
    command = "python bench/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    text = "\n".join([
        f"`{command}`, {started:%Y-%m-%d %H:%M}–{ended:%H:%M} UTC, {events:,} events; {machine()}. "
        f"{args.runs} runs of each request over HTTP, {floor_runs} of each floor and baseline; p50 / p95 ms. Floor: the same query functions run directly in "
        "DuckDB with no cache, no HTTP (bench/direct.py); naive: the same aggregate in one statement over raw "
        "`events`, no rollups.", "", *table(timings, direct)])
    print(text)
    if args.write:
        write_docs(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
