"""The monitoring view's callbacks over HTTP, next to the time of their queries alone.

    python bench/monitoring.py [--events 1000000,10000000] [--runs 20] [--keep DIR]

For each size, generates a demo warehouse of about that many events (90 days; scale chosen from the
demo's ~20k events/day at scale 1) in a temporary directory (or DIR, reused when present), starts
`python app.py` on it (live stream off), and for several filter settings sends the exact requests a
browser sends to `/_dash-update-component`:
- page: the Dash Pages callback that renders the monitoring view for a URL (first load, filter change);
- refresh: the auto-refresh callback that recomputes the view in place;
- kpis: `GET /api/v1/kpis`, the JSON twin of the tiles.
Beside them, in a separate process on the same file after the server stops: "queries", the query
functions the refresh runs (KPIs with comparison, time series of both periods, channel and campaign
tables, annotations, freshness) called directly, no HTTP and no figures: the floor the view pays for SQL.
Medians and p95 of --runs runs each; prints a Markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
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
EVENTS_PER_DAY_AT_SCALE_1 = 20_300


def post(url: str, payload: dict) -> float:
    request = urllib.request.Request(url + "/_dash-update-component", data=json.dumps(payload).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    elapsed = time.perf_counter() - started
    if b'"response"' not in body:
        raise RuntimeError(body[:300])
    return elapsed


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


def refresh_payload(query: str) -> dict:
    return {"output": "..monitoring-body.children...rendered-at.data..",
            "outputs": [{"id": "monitoring-body", "property": "children"}, {"id": "rendered-at", "property": "data"}],
            "inputs": [{"id": "refresh-timer", "property": "n_intervals", "value": 1}],
            "changedPropIds": ["refresh-timer.n_intervals"],
            "state": [{"id": "url", "property": "search", "value": "?" + query}]}


def dash_outputs(url: str) -> dict:
    """The output ids the server's callback map uses, so the payloads above match this Dash version."""
    with urllib.request.urlopen(url + "/_dash-dependencies", timeout=30) as response:
        return {d["output"]: d for d in json.loads(response.read())}


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_http(server: PulseProcess, runs: int) -> dict:
    outputs = dash_outputs(server.url)
    dependency = next(d for k, d in outputs.items() if "_pages_content" in k)
    results = {}
    for label, query in SETTINGS:
        page = page_payload(dependency, query)
        timings = {"page": [], "refresh": [], "kpis": []}
        for _ in range(runs):
            timings["page"].append(post(server.url, page))
            timings["refresh"].append(post(server.url, refresh_payload(query)))
            timings["kpis"].append(get(server.url + "/api/v1/kpis?" + query))
        results[label] = timings
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
wh = Warehouse("duckdb:///" + sys.argv[2])
out = {}
for label, query in json.loads(sys.argv[3]):
    times = []
    for _ in range(int(sys.argv[4])):
        started = time.perf_counter()
        filters = Filters.from_query(query)
        now = datetime.now(timezone.utc)
        start, end = filters.resolve(now)
        kpis_with_comparison(wh, filters, now=now)
        timeseries(wh, filters, start, end)
        timeseries(wh, filters, *filters.comparison(now))
        channel_list(wh); channel_performance(wh, filters, start, end); campaign_performance(wh, filters, start, end)
        annotations_between(wh, start, end); newest_event(wh)
        times.append(time.perf_counter() - started)
    out[label] = times
print("RESULT " + json.dumps(out), flush=True)
'''


def measure_queries(db: Path, runs: int) -> dict:
    result = subprocess.run([sys.executable, "-c", QUERIES_ONLY, str(ROOT), str(db), json.dumps(SETTINGS), str(runs)],
                            capture_output=True, text=True, check=True)
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


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
    print("| events | filters | page render p50 / p95 ms | refresh p50 / p95 ms | /api/v1/kpis p50 / p95 ms "
          "| queries only p50 / p95 ms | refresh / queries |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for target in (int(n) for n in args.events.split(",")):
        directory = base / f"events-{target}"
        directory.mkdir(parents=True, exist_ok=True)
        count = ensure_warehouse(directory, target)
        server = PulseProcess(directory).start(timeout=300)
        try:
            http = measure_http(server, args.runs)
        finally:
            server.stop()
        floor = measure_queries(directory / "pulse.duckdb", args.runs)
        for label, _ in SETTINGS:
            t = http[label]
            cells = [f"{statistics.median(v) * 1000:,.0f} / {percentile(v, .95) * 1000:,.0f}"
                     for v in (t["page"], t["refresh"], t["kpis"], floor[label])]
            ratio = statistics.median(t["refresh"]) / statistics.median(floor[label])
            print(f"| {count:,} | {label} | " + " | ".join(cells) + f" | {ratio:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
