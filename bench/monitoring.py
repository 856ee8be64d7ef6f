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
- on demand (a first load, a filter change): the page render, which starts computing the view's frame,
  then the three parts at its instant, sent the moment it answers (a browser needs a few hundred ms to draw
  the page first: the worst case);
- on demand in headless Chromium: the view opened again and again, each part's latency as the browser saw
  it (Chrome's performance log) and the time to data, page render request to the last part's answer;
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
    """Seconds to answer a Dash callback request. The answer is checked, not parsed: parsing every part's
    figures in the client, on the server's two cores, made the client's own threads (50 viewers in
    bench/load.py) wait for its interpreter and inflated the times measured."""
    return _post(url, payload)[0]


def post_json(url: str, payload: dict) -> tuple[float, dict]:
    """Seconds to answer a Dash callback request, and the answer."""
    elapsed, body = _post(url, payload)
    return elapsed, json.loads(body)


def _post(url: str, payload: dict) -> tuple[float, bytes]:
    request = urllib.request.Request(url + "/_dash-update-component", data=json.dumps(payload).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    elapsed = time.perf_counter() - started
    if b'"response"' not in body:
        raise RuntimeError(body[:300])
    return elapsed, body


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


def page_instant(answer: dict) -> int:
    """The instant (`as-of` store) in the page render's answer: the one its parts ask for."""
    def find(node):
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == "as-of":
                return node["props"]["data"]
            children = node["props"].get("children") if "props" in node else list(node.values())
            return find(children)
        if isinstance(node, list):
            return next((found for found in map(find, node) if found is not None), None)
        return None
    instant = find(answer["response"])
    if instant is None:
        raise RuntimeError("the page render has no as-of store")
    return instant


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
    started = time.perf_counter()
    futures = {name: _SENDERS.submit(post, url, callback_payload(d, query, as_of)) for name, d in dependencies.items()}
    for name, future in futures.items():
        timings[name].append(future.result())
    timings[total].append(time.perf_counter() - started)


# The parts' senders, for every viewer: an executor per refresh started three threads each time, and a new
# thread starts under a process-wide lock of concurrent.futures (50 viewers queued on it, in the client).
_SENDERS = ThreadPoolExecutor(max_workers=200, thread_name_prefix="bench-part")


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
                    # A first load or filter change: the page renders (and starts its frame), then the parts
                    # ask for the page's instant. A browser sends them once it has drawn the page, a few
                    # hundred ms later (measure_browser); here at once, with no head start.
                    # A view nobody else shows (its own URL): the server has no frame of it to share.
                    alone = f"{query}&bench_run={n}"
                    elapsed, answer = post_json(server.url, page_payload(page_dependency, alone))
                    timings["page"].append(elapsed)
                    parts(server.url, dependencies, alone, page_instant(answer), ignored, "demand")
                    timings["demand"].append(ignored["demand"][-1])
                    timings["kpis"].append(get(server.url + "/api/v1/kpis?" + query))
                    time.sleep(max(0.0, next_tick - time.monotonic()))
                    next_tick += TICK_SECONDS
                    tick_refresh(server.url, tick, dependencies, query, n, timings)
                results[(mode, label)] = timings
    return results


def chromium():
    """Headless Chromium at 1920x1080 recording its network events (Chrome's performance log)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1920,1080"):
        options.add_argument(argument)
    options.binary_location = os.environ.get("PULSE_CHROMIUM", "/usr/bin/chromium")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options)


def browser_load(driver, url: str, timeout: float = 60) -> dict:
    """Open `url` and wait for the view's three parts: each part's seconds from its request leaving the
    browser to its answer arriving, and `to_data`, from the page render's request to the last part's answer
    (what a person waits for once the page's code is loaded)."""
    driver.get_log("performance")  # drop what earlier loads left
    driver.get(url)
    sent, done, deadline = {}, {}, time.monotonic() + timeout
    while time.monotonic() < deadline and not all(name in done for name in (*CALLBACKS, "page")):
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message["params"]
            if message["method"] == "Network.requestWillBeSent" and "/_dash-update-component" in params[
                    "request"]["url"]:
                output = json.loads(params["request"].get("postData") or "{}").get("output", "")
                name = "page" if "_pages_content" in output else next(
                    (n for n, marker in CALLBACKS.items() if marker in output), None)
                if name and name not in sent:
                    sent[name] = (params["requestId"], params["timestamp"])
            elif message["method"] == "Network.loadingFinished":
                name = next((n for n, (rid, _) in sent.items() if rid == params["requestId"]), None)
                if name and name not in done:
                    done[name] = params["timestamp"]
        time.sleep(0.05)
    if not all(name in done for name in (*CALLBACKS, "page")):
        raise RuntimeError(f"{url}: the parts did not all answer within {timeout} s ({sorted(done)})")
    times = {name: done[name] - sent[name][1] for name in CALLBACKS}
    return times | {"to_data": max(done[name] for name in CALLBACKS) - sent["page"][1]}


def measure_browser(server: PulseProcess, runs: int) -> dict:
    """On demand as a person gets it: the view opened `runs` times per setting in headless Chromium, quiet
    and live. The server starts the frame when it renders the page, so the parts find it computed or
    nearly by the time the browser has drawn the page and asks for them."""
    driver = chromium()
    results = {}
    try:
        for mode in ("quiet", "live"):
            with LiveStream(server) if mode == "live" else contextlib.nullcontext():
                for label, query in SETTINGS:
                    browser_load(driver, f"{server.url}/?{query}")  # the page's code into the cache
                    # Each load a view nobody else shows (its own URL), as a filter change is: the server
                    # shares a frame less than 1.5 s old with a render of the same view.
                    loads = [browser_load(driver, f"{server.url}/?{query}&bench_load={n}") for n in range(runs)]
                    results[(mode, label)] = {name: [load[name] for load in loads] for name in loads[0]}
    finally:
        driver.quit()
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
    http, browser, floors = {}, {}, {}
    for target in (int(n) for n in args.events.split(",")):
        directory = base / f"events-{target}"
        directory.mkdir(parents=True, exist_ok=True)
        count = ensure_warehouse(directory, target)
        server = PulseProcess(directory).start(timeout=300)
        try:
            http[count] = measure_http(server, args.runs)
            browser[count] = measure_browser(server, args.runs)
        finally:
            server.stop()
        floors[count] = measure_queries(directory / "pulse.duckdb", args.runs)
    print_tables(http, browser, floors)
    return 0


def cell(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.0f} / {percentile(values, .95) * 1000:,.0f}"


def print_tables(http: dict, browser: dict, floors: dict) -> None:
    print(f"Callbacks over HTTP, p50 / p95 ms (quiet: no ingest; live: 20 events/s arriving). A refresh tick "
          f"every {TICK_SECONDS} s as the browser's timer: tick, then tiles, trends and tables at once; whole "
          "refresh from the timer firing to the last answer; age of the data shown (s); on demand: the three "
          "parts at the instant of the page render, sent the moment it answers (no head start: a browser "
          "sends them a few hundred ms later), until the last answers:\n")
    print("| events | filters | data | page render | tick | tiles | trends | tables | whole refresh | age of data, s "
          "| on demand | /api/v1/kpis |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for count, results in http.items():
        for (mode, label), t in results.items():
            cells = [cell(t[name]) for name in ("page", "tick", *CALLBACKS, "refresh")]
            cells += [f"{statistics.median(t['age']):.2f} / {percentile(t['age'], .95):.2f}", cell(t["demand"]),
                      cell(t["kpis"])]
            print(f"| {count:,} | {label} | {mode} | " + " | ".join(cells) + " |")
    print("\nOn demand in headless Chromium (the view opened again and again: a first load; a filter change "
          "sends the same requests), p50 / p95 ms: each part from its request leaving the browser to its "
          "answer (Chrome's performance log), and the time to data, from the page render's request to the "
          "last part's answer:\n")
    print("| events | filters | data | tiles | trends | tables | time to data |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for count, results in browser.items():
        for (mode, label), t in results.items():
            print(f"| {count:,} | {label} | {mode} | "
                  + " | ".join(cell(t[name]) for name in (*CALLBACKS, "to_data")) + " |")
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
