"""The monitoring view's callbacks over HTTP, quiet and under live ingest, next to their queries' floor.

    python bench/monitoring.py [--events 1000000,10000000] [--runs 20] [--keep DIR]

For each size, generates a demo warehouse of about that many events (90 days; scale chosen from the
demo's ~20k events/day at scale 1) in a temporary directory (or DIR, reused when present), starts
`python app.py` on it (demo stream off), and for several filter settings sends the exact requests a
browser sends to `/_dash-update-component`:
- page: the Dash Pages callback that renders the view's frame for a URL (first load, filter change);
- a refresh tick every 5 s (`refresh=5`), as the browser's timer fires: the tick's callback answers the
  instant to show (that of the frame the server prefetched for it, pages/_prefetch.py, if one is ready),
  then tiles, trends and tables are sent at once with that instant ("whole refresh": from the timer
  firing until the last has answered; "age": how old the shown instant is once on screen);
- on demand: the three parts at a new instant nothing was prefetched for (a first load, a filter change);
- kpis: `GET /api/v1/kpis`, the JSON twin of the tiles.
Twice: "quiet" (nothing arriving: after the first run the result cache serves every closed bucket and
the open one) and "live" (20 events/s posted through the ingest API meanwhile, as the demo stream: each
refresh recomputes the bucket holding now, the cache serves the rest).
Beside them, in a separate process on the same file after the server stops, the floor: the same query
functions with no cache (one query each over the tables), no HTTP, no figures.
Medians and p95 of --runs runs each; prints Markdown tables for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.load.server import PulseProcess  # noqa: E402

SETTINGS = [
    ("last 24 h", "from=now-24h&to=now"),
    ("last 24 h, 2 channels", "from=now-24h&to=now&channel=paid_search,email"),
    ("last 30 d", "from=now-30d&to=now"),
    ("last 30 d, 2 channels", "from=now-30d&to=now&channel=paid_search,email"),
    ("last 90 d", "from=now-90d&to=now"),
]
TICK_SECONDS = 5   # the view's shortest refresh interval (`refresh=5`): the browser's timer fires this often
EVENTS_PER_DAY_AT_SCALE_1 = 20_300


def post(url: str, payload: dict) -> float:
    return post_json(url, payload)[0]


def post_json(url: str, payload: dict) -> tuple[float, dict]:
    """Seconds to answer a Dash callback request, and the answer."""
    request = urllib.request.Request(url + "/_dash-update-component", data=json.dumps(payload).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    elapsed = time.perf_counter() - started
    if b'"response"' not in body:
        raise RuntimeError(body[:300])
    return elapsed, json.loads(body)


def get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
    return time.perf_counter() - started


def page_payload(dependency: dict, query: str) -> dict:
    """Dash Pages' own callback (from the server's dependency list): pathname and search of its location
    in, the page content out, as the renderer sends it on navigation."""
    values = {"pathname": "/", "search": "?" + query}
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in dependency["output"].strip(".").split("...")]
    return {"output": dependency["output"], "outputs": outputs,
            "inputs": [{**i, "value": values.get(i["property"])} for i in dependency["inputs"]],
            "changedPropIds": ["_pages_location.search"],
            "state": [{**st, "value": None} for st in dependency.get("state", [])]}


CALLBACKS = {  # the view's callbacks, each recomputing its part for the view's instant (`as-of`)
    "tiles": "kpi-row.children",
    "trends": "chart-revenue.figure",
    "tables": "campaign-grid.rowData",
}


def callback_payload(dependency: dict, query: str, as_of: int) -> dict:
    """What the renderer sends when `as-of` changes (a refresh tick): the new instant in, the URL as state."""
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in dependency["output"].strip(".").split("...")]
    return {"output": dependency["output"], "outputs": outputs,
            "inputs": [{"id": "as-of", "property": "data", "value": as_of}],
            "changedPropIds": ["as-of.data"],
            "state": [{"id": "url", "property": "search", "value": "?" + query}]}


class LiveStream:
    """Posts 20 events a second (5 every 250 ms) stamped now, as the demo stream does: every commit
    changes the bucket holding "now", so the cache can serve only the closed buckets."""

    def __init__(self, server: PulseProcess):
        self.server, self.stop_flag, self.sent = server, threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop_flag.set()
        self.thread.join()

    def _run(self):
        rng = random.Random(1)
        while not self.stop_flag.wait(0.25):
            now = datetime.now(timezone.utc)
            rows = [{"event_id": f"bench-live-{self.sent + i}", "ts": now.isoformat(), "type": "page_view",
                     "user_id": f"bench-u{rng.randrange(5000)}", "session_id": f"bench-s{rng.randrange(2000)}",
                     "channel": rng.choice(["email", "paid_search", "direct"]), "device": "mobile",
                     "region": "US", "page": "/"} for i in range(5)]
            status, _ = self.server.post("/api/v1/events", rows)
            if status == 200:
                self.sent += len(rows)


def dash_outputs(url: str) -> dict:
    """The output ids the server's callback map uses, so the payloads above match this Dash version."""
    with urllib.request.urlopen(url + "/_dash-dependencies", timeout=30) as response:
        return {d["output"]: d for d in json.loads(response.read())}


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def tick_payload(dependency: dict, query: str, n: int) -> dict:
    """What the renderer sends when the refresh timer fires: its count in, the URL as state; the answer
    is the view's new instant (`as-of`)."""
    return {"output": dependency["output"], "outputs": {"id": "as-of", "property": "data"},
            "inputs": [{"id": "refresh-timer", "property": "n_intervals", "value": n}],
            "changedPropIds": ["refresh-timer.n_intervals"],
            "state": [{"id": "url", "property": "search", "value": "?" + query}]}


def parts(url: str, dependencies: dict, query: str, as_of: int, timings: dict, total: str) -> None:
    """The three parts' requests at once with the same instant, as the renderer sends them when `as-of`
    changes; each part's time, and in `total` the time until the last has answered."""
    with ThreadPoolExecutor(len(dependencies)) as pool:
        started = time.perf_counter()
        futures = {name: pool.submit(post, url, callback_payload(d, query, as_of)) for name, d in dependencies.items()}
        for name, future in futures.items():
            timings[name].append(future.result())
        timings[total].append(time.perf_counter() - started)


def tick_refresh(url: str, tick: dict, dependencies: dict, query: str, n: int, timings: dict) -> None:
    """One refresh tick as the browser runs it: the timer's callback answers the instant to show, then the
    three parts compute (or, prefetched, format) the view at that instant. `refresh`: from the timer
    firing to the last part's answer; `age`: how old the shown instant is when it is on screen."""
    started = time.perf_counter()
    elapsed, answer = post_json(url, tick_payload(tick, query, n))
    timings["tick"].append(elapsed)
    as_of = answer["response"]["as-of"]["data"]
    parts(url, dependencies, query, as_of, timings, "parts")
    timings["refresh"].append(time.perf_counter() - started)
    timings["age"].append(time.time() - as_of / 1000)


def measure_http(server: PulseProcess, runs: int) -> dict:
    outputs = dash_outputs(server.url)
    page_dependency = next(d for k, d in outputs.items() if "_pages_content" in k)
    tick = next(d for d in outputs.values() if any(i["id"] == "refresh-timer" for i in d["inputs"]))
    dependencies = {name: next(d for k, d in outputs.items() if marker in k) for name, marker in CALLBACKS.items()}
    results = {}
    for mode in ("quiet", "live"):
        stream = LiveStream(server) if mode == "live" else contextlib.nullcontext()
        with stream:
            for label, query in SETTINGS:
                query += f"&refresh={TICK_SECONDS}"
                timings = {name: [] for name in ("page", "demand", *CALLBACKS, "tick", "parts", "refresh", "age",
                                                 "kpis")}
                ignored = {name: [] for name in timings}
                post(server.url, page_payload(page_dependency, query))
                tick_refresh(server.url, tick, dependencies, query, 1, ignored)  # the first tick: nothing ahead
                next_tick = time.monotonic() + TICK_SECONDS
                for n in range(2, runs + 2):
                    timings["page"].append(post(server.url, page_payload(page_dependency, query)))
                    # A filter change or first load: the parts at a new instant, nothing prefetched for it.
                    parts(server.url, dependencies, query, int(time.time() * 1000), ignored, "demand")
                    timings["demand"].append(ignored["demand"][-1])
                    timings["kpis"].append(get(server.url + "/api/v1/kpis?" + query))
                    time.sleep(max(0.0, next_tick - time.monotonic()))
                    next_tick += TICK_SECONDS
                    tick_refresh(server.url, tick, dependencies, query, n, timings)
                results[(mode, label)] = timings
    return results


QUERIES_ONLY = r'''
import json, sys, time
from datetime import datetime, timezone
sys.path.insert(0, sys.argv[1])
from data.warehouse import Warehouse
from queries.annotations import annotations_between
from queries.channels import campaign_performance, channel_list, channel_performance
from queries.filters import Filters
from queries.health import newest_event
from queries.kpis import kpis_with_comparison
from queries.timeseries import timeseries
wh = Warehouse("duckdb:///" + sys.argv[2])   # no writer in this process: no result cache, one query each
assert wh.results is None

def tiles(f, now, start, end):
    kpis_with_comparison(wh, f, now=now); timeseries(wh, f, start, end); newest_event(wh)

def trends(f, now, start, end):
    timeseries(wh, f, start, end); timeseries(wh, f, *f.comparison(now)); channel_list(wh)
    annotations_between(wh, start, end)

def tables(f, now, start, end):
    channel_performance(wh, f, start, end); campaign_performance(wh, f, start, end)

out = {}
for label, query in json.loads(sys.argv[3]):
    out[label] = {}
    for name, fn in (("tiles", tiles), ("trends", trends), ("tables", tables)):
        times = []
        for _ in range(int(sys.argv[4])):
            started = time.perf_counter()
            filters = Filters.from_query(query)
            now = datetime.now(timezone.utc)
            fn(filters, now, *filters.resolve(now))
            times.append(time.perf_counter() - started)
        out[label][name] = times
print("RESULT " + json.dumps(out), flush=True)
'''


def measure_queries(db: Path, runs: int) -> dict:
    for _ in range(5):  # the stopped server may hold the file's lock for a moment
        result = subprocess.run([sys.executable, "-c", QUERIES_ONLY, str(ROOT), str(db), json.dumps(SETTINGS),
                                 str(runs)], capture_output=True, text=True)
        lines = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")]
        if lines:
            return json.loads(lines[0].removeprefix("RESULT "))
        time.sleep(2)
    raise RuntimeError(result.stderr[-2000:])


def ensure_warehouse(directory: Path, events: int) -> int:
    from data.generate import generate
    from data.warehouse import Warehouse

    wh = Warehouse(f"duckdb:///{directory / 'pulse.duckdb'}")
    if wh.is_empty():
        generate(wh, days=90, scale=events / (EVENTS_PER_DAY_AT_SCALE_1 * 91), seed=7)
    count = wh.row_count("events")
    wh.dispose()
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="1000000,10000000")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", default=None, help="directory to keep (and reuse) the generated warehouses in")
    args = parser.parse_args(argv)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pulse-bench-monitoring-"))
    print(f"Monitoring callbacks, {args.runs} runs each; {platform.node()} ({platform.machine()}, "
          f"{os.cpu_count()} cores), {datetime.now(timezone.utc):%Y-%m-%d}\n")
    http, floors = {}, {}
    for target in (int(n) for n in args.events.split(",")):
        directory = base / f"events-{target}"
        directory.mkdir(parents=True, exist_ok=True)
        count = ensure_warehouse(directory, target)
        server = PulseProcess(directory).start(timeout=300)
        try:
            http[count] = measure_http(server, args.runs)
        finally:
            server.stop()
        floors[count] = measure_queries(directory / "pulse.duckdb", args.runs)
    print_tables(http, floors)
    return 0


def cell(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.0f} / {percentile(values, .95) * 1000:,.0f}"


def print_tables(http: dict, floors: dict) -> None:
    print(f"Callbacks over HTTP, p50 / p95 ms (quiet: no ingest; live: 20 events/s arriving). A refresh tick "
          f"every {TICK_SECONDS} s as the browser's timer: tick, then tiles, trends and tables at once; whole "
          "refresh from the timer firing to the last answer; age of the data shown (s); on demand: the three "
          "parts at a new instant, nothing prefetched (a first load or filter change):\n")
    print("| events | filters | data | page render | tick | tiles | trends | tables | whole refresh | age of data, s "
          "| on demand | /api/v1/kpis |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for count, results in http.items():
        for (mode, label), t in results.items():
            cells = [cell(t[name]) for name in ("page", "tick", *CALLBACKS, "refresh")]
            cells += [f"{statistics.median(t['age']):.2f} / {percentile(t['age'], .95):.2f}", cell(t["demand"]),
                      cell(t["kpis"])]
            print(f"| {count:,} | {label} | {mode} | " + " | ".join(cells) + " |")
    print("\nThe same queries run directly in one process with no cache (each one query over the tables), "
          "p50 / p95 ms, and the live on-demand refresh's median as a ratio of the slowest part's floor:\n")
    print("| events | filters | tiles | trends | tables | live on demand / floor | live whole refresh / floor |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for count, results in floors.items():
        for label, _ in SETTINGS:
            live = http[count][("live", label)]
            floor = max(statistics.median(results[label][n]) for n in CALLBACKS)
            ratios = [statistics.median(live[n]) / floor for n in ("demand", "refresh")]
            print(f"| {count:,} | {label} | " + " | ".join(cell(results[label][n]) for n in CALLBACKS) + " | "
                  + " | ".join(f"{r:.2f}" for r in ratios) + " |")


if __name__ == "__main__":
    sys.exit(main())
