"""Ingest throughput and freshness.

    python bench/ingest.py [--runs 3] [--seconds 15] [--clients 16] [--batch 1000] [--scale 1.0]

Builds a demo warehouse (90 days at --scale) in a temporary directory, starts `python app.py` on it
(live stream off) and, for each run, has --clients threads post pre-encoded batches of --batch events to
/api/v1/events for --seconds, with rollups maintained as always. A probe meanwhile posts one event of a
session of its own every second and polls /api/v1/kpis until the session shows: send-to-visible time.
In the same run, two baselines on a copy of the same warehouse: the writer without HTTP (validation and
rollups, one process), and DuckDB's own INSERT of the same rows with no validation and no rollups.
Prints a Markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.load.server import KEY, PulseProcess  # noqa: E402  (a real server process, as in the tests)


def batches(prefix: str, count: int, size: int) -> list[list[dict]]:
    now = datetime.now(timezone.utc)
    channels = ["email", "direct", "organic_search", "paid_search", "paid_social"]
    out = []
    for b in range(count):
        rows = []
        for i in range(size):
            n = b * size + i
            row = {"event_id": f"{prefix}-{n}", "ts": (now - timedelta(seconds=n % 600)).isoformat(),
                   "type": "purchase" if n % 40 == 39 else "page_view" if n % 3 else "product_view",
                   "user_id": f"bu{n % 50_000}", "session_id": f"{prefix}-s{n // 6}",
                   "channel": channels[(n // 6) % 5], "device": "mobile", "region": "US", "page": "/"}
            if row["type"] == "purchase":
                row.update(order_id=f"{prefix}-o{n}", revenue=50.0)
            rows.append(row)
        out.append(rows)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def http_run(server: PulseProcess, run: int, seconds: float, clients: int, size: int, rate_guess: int) -> dict:
    payloads = [json.dumps(rows).encode() for rows in batches(f"r{run}", int(rate_guess * seconds / size) + 50, size)]
    cursor = iter(range(len(payloads)))
    lock = threading.Lock()
    latencies, accepted, stop = [], [0], threading.Event()

    def client():
        while not stop.is_set():
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            request = urllib.request.Request(server.url + "/api/v1/events", data=payloads[i], method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {KEY}"})
            sent = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as response:
                inserted = json.loads(response.read())["inserted"]
            with lock:
                latencies.append(time.perf_counter() - sent)
                accepted[0] += inserted

    freshness = []

    def probe():
        n = 0
        while not stop.is_set():
            region = f"probe-{run}-{n}"
            row = {"event_id": f"probe-{run}-{n}", "ts": datetime.now(timezone.utc).isoformat(), "type": "page_view",
                   "user_id": "probe", "session_id": region, "channel": "direct", "region": region}
            sent = time.perf_counter()
            server.post("/api/v1/events", [row])
            while server.get(f"/api/v1/kpis?from=now-5m&to=now%2B1m&compare=none&region={region}")["kpis"]["sessions"]["value"] < 1:
                time.sleep(0.02)
            freshness.append(time.perf_counter() - sent)
            n += 1
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - sent)))

    threads = [threading.Thread(target=client) for _ in range(clients)] + [threading.Thread(target=probe)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"events_per_second": accepted[0] / elapsed, "latencies": latencies, "freshness": freshness}


def writer_baselines(data_dir: Path, size: int, count: int) -> dict:
    from data.validation import Context, validate_events
    from data.warehouse import Warehouse
    from data.writer import make_writer

    rows = batches("w", count, size)
    wh = Warehouse(f"duckdb:///{data_dir / 'pulse.duckdb'}")
    channels = set(wh.read("SELECT name FROM channels").name)
    context = Context(datetime.now(timezone.utc), frozenset(channels), frozenset())
    writer = make_writer(wh)
    started = time.perf_counter()
    for batch in rows:
        writer.write("events", validate_events(batch, context))
    with_writer = size * count / (time.perf_counter() - started)
    writer.stop()
    frames = [validate_events(b, context).assign(event_id=lambda f: "raw-" + f.event_id) for b in batches("x", count, size)]
    started = time.perf_counter()
    for frame in frames:
        with wh.driver_connection() as conn:
            conn.register("incoming", frame)
            conn.execute("INSERT INTO events SELECT * FROM incoming ON CONFLICT DO NOTHING")
            conn.unregister("incoming")
    raw_insert = size * count / (time.perf_counter() - started)
    wh.dispose()
    return {"writer": with_writer, "raw_insert": raw_insert}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="pulse-bench-ingest-"))
    try:
        from data.generate import generate
        from data.warehouse import Warehouse

        wh = Warehouse(f"duckdb:///{work / 'pulse.duckdb'}")
        generate(wh, days=90, scale=args.scale, seed=7)
        events_before = wh.row_count("events")
        wh.dispose()
        copy = work / "baseline"
        copy.mkdir()
        shutil.copy(work / "pulse.duckdb", copy / "pulse.duckdb")

        server = PulseProcess(work).start()
        runs = []
        try:
            for run in range(args.runs):
                runs.append(http_run(server, run, args.seconds, args.clients, args.batch, rate_guess=60_000))
                print(f"run {run + 1}: {runs[-1]['events_per_second']:,.0f} events/s", file=sys.stderr)
        finally:
            server.stop()
        baselines = [writer_baselines(copy, args.batch, 30) for _ in range(args.runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rates = [r["events_per_second"] for r in runs]
    latencies = [x for r in runs for x in r["latencies"]]
    fresh = [x for r in runs for x in r["freshness"]]
    writer = statistics.median(b["writer"] for b in baselines)
    raw = statistics.median(b["raw_insert"] for b in baselines)
    http = statistics.median(rates)
    print(f"\nIngest, {args.runs} runs of {args.seconds:.0f} s, {args.clients} clients, batches of {args.batch}, "
          f"warehouse of {events_before:,} events (90 days at scale {args.scale}); "
          f"{platform.node()} ({platform.machine()}, {__import__('os').cpu_count()} cores), "
          f"{datetime.now(timezone.utc):%Y-%m-%d}\n")
    print("| measure | median | p95 | min | ratio to raw insert |")
    print("|---|---:|---:|---:|---:|")
    print(f"| HTTP ingest with rollups, events/s | {http:,.0f} | – | {min(rates):,.0f} | {http / raw:.2f} |")
    print(f"| writer without HTTP (validation + rollups), events/s | {writer:,.0f} | – | "
          f"{min(b['writer'] for b in baselines):,.0f} | {writer / raw:.2f} |")
    print(f"| DuckDB INSERT, no validation, no rollups (baseline), events/s | {raw:,.0f} | – | "
          f"{min(b['raw_insert'] for b in baselines):,.0f} | 1.00 |")
    print(f"| batch of {args.batch}: send to 200, ms | {statistics.median(latencies) * 1000:,.0f} | "
          f"{percentile(latencies, .95) * 1000:,.0f} | {min(latencies) * 1000:,.0f} | |")
    print(f"| freshness: send to visible in /api/v1/kpis, ms | {statistics.median(fresh) * 1000:,.0f} | "
          f"{percentile(fresh, .95) * 1000:,.0f} | {min(fresh) * 1000:,.0f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
