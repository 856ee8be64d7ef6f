"""The server's memory on a big warehouse: at rest, after loading the monitoring view, and while ingesting.

    python bench/server_memory.py --data-dir /tmp/w100m [--port 8062] [--loads 3] [--ingest-seconds 60]
        [--clients 16] [--batch 1000]

Starts `python app.py --data-dir DIR` with its live demo stream on (as a shop's screen would run it) and
samples the server process's resident memory (RSS, from /proc) every half second:
1. at rest: from start until the first health answer, then 30 s idle;
2. the monitoring view loaded --loads times for each filter setting of bench/monitoring.py (last 24 h to
   last 90 d, with and without a channel filter): the page's frame, a refresh tick and its three parts,
   exactly the requests a browser sends (bench/monitoring.py's payloads);
3. ingest: --clients threads posting batches of --batch new events for --ingest-seconds, as
   bench/ingest.py does (every commit keeps the rollups current; each new event_id is checked against the
   `events` primary key), with the live stream still running. Reports events/s.
Prints a Markdown table of RSS after each step and the peak.

Step 3 writes events into the warehouse (and the live stream does too), so by default the server runs on
a copy of it, made beside it and removed afterwards; --in-place uses the warehouse itself.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import batches, percentile  # noqa: E402
from monitoring import (CALLBACKS, SETTINGS, dash_outputs, page_payload, post, tick_refresh)  # noqa: E402

KEY = "bench-memory-key-0123456789"


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """RSS of one process every half second; `mark` notes the current value under a name."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples, self.marks, self.stopped = pid, [], {}, threading.Event()

    def run(self):
        while not self.stopped.wait(0.5):
            try:
                self.samples.append((time.monotonic(), rss_mib(self.pid)))
            except OSError:
                return

    def mark(self, name: str) -> None:
        self.marks[name] = (rss_mib(self.pid), max((s for _, s in self.samples), default=0.0))


def start_server(data_dir: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "PULSE_INGEST_KEYS": KEY}
    env.pop("WAREHOUSE_URL", None)
    log = open(Path(data_dir) / "server-memory.log", "ab")
    return subprocess.Popen([sys.executable, "app.py", "--data-dir", data_dir, "--port", str(port), "--no-demo"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 900) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError("the server exited; see server-memory.log in the data directory")
        try:
            get_json(url + "/api/v1/health")
            return time.monotonic() - started
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("the server did not answer /api/v1/health")


def load_monitoring(url: str, loads: int) -> list[float]:
    """Each filter setting `loads` times: the page's frame, then a refresh tick with its three parts."""
    outputs = dash_outputs(url)
    page = next(d for k, d in outputs.items() if "_pages_content" in k)
    tick = next(d for d in outputs.values() if any(i["id"] == "refresh-timer" for i in d["inputs"]))
    parts = {name: next(d for k, d in outputs.items() if marker in k) for name, marker in CALLBACKS.items()}
    seconds = []
    for _, query in SETTINGS:
        for n in range(loads):
            timings = {name: [] for name in ("tick", *CALLBACKS, "parts", "refresh", "age")}
            started = time.perf_counter()
            post(url, page_payload(page, query))
            tick_refresh(url, tick, parts, query, n + 1, timings)
            seconds.append(time.perf_counter() - started)
    return seconds


def ingest(url: str, seconds: float, clients: int, size: int) -> dict:
    payloads = iter([json.dumps(rows).encode() for rows in batches(f"mem{int(time.time())}", int(seconds * 30_000 / size) + 50, size)])
    lock, accepted, latencies, stop = threading.Lock(), [0], [], threading.Event()

    def client():
        while not stop.is_set():
            with lock:
                body = next(payloads, None)
            if body is None:
                return
            request = urllib.request.Request(url + "/api/v1/events", data=body, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {KEY}"})
            sent = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as response:
                inserted = json.loads(response.read())["inserted"]
            with lock:
                accepted[0] += inserted
                latencies.append(time.perf_counter() - sent)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"events_per_second": accepted[0] / elapsed, "events": accepted[0], "latencies": latencies}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, default=8062)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--ingest-seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--in-place", action="store_true", help="run on the warehouse itself, not a copy")
    args = parser.parse_args(argv)
    if args.in_place:
        return measure(args, args.data_dir)
    source = Path(args.data_dir).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="memory-bench-", dir=source.parent))
    try:
        shutil.copy(source / "pulse.duckdb", scratch / "pulse.duckdb")
        return measure(args, str(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(args, data_dir: str) -> int:
    url = f"http://127.0.0.1:{args.port}"
    server = start_server(data_dir, args.port)
    sampler = Sampler(server.pid)
    sampler.start()
    try:
        startup = wait_healthy(url, server)
        sampler.mark("started (first health answer)")
        time.sleep(30)
        health = get_json(url + "/api/v1/health")
        sampler.mark("at rest, 30 s later (live stream on)")
        page_seconds = load_monitoring(url, args.loads)
        sampler.mark(f"after the monitoring view, {len(page_seconds)} loads")
        result = ingest(url, args.ingest_seconds, args.clients, args.batch)
        sampler.mark(f"after ingesting for {args.ingest_seconds:.0f} s")
        after = get_json(url + "/api/v1/health")
    finally:
        sampler.stopped.set()
        server.terminate()
        server.wait(60)
    print(f"Server memory on {args.data_dir}{'' if args.in_place else ' (a copy)'}; {platform.node()} ({platform.machine()}, {os.cpu_count()} cores), "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; command: python bench/server_memory.py "
          f"{' '.join(sys.argv[1:])}\n")
    for label, h in (("at rest", health), ("after ingest", after)):
        print(f"Health {label}: newest event {h['newest_event']}, {h['events_per_second_last_minute']:,.1f} "
              f"events/s over the last minute, {h['row_counts']['events']:,} events")
    print(f"Start to first health answer {startup:.1f} s\n")
    print("| step | RSS, MiB | peak so far, MiB |\n|---|---:|---:|")
    for name, (now, peak) in sampler.marks.items():
        print(f"| {name} | {now:,.0f} | {peak:,.0f} |")
    print(f"\nMonitoring view load (frame + tick + three parts), s: median {statistics.median(page_seconds):.2f}, "
          f"p95 {percentile(page_seconds, .95):.2f}, max {max(page_seconds):.2f} over {len(page_seconds)} loads")
    lat = result["latencies"]
    print(f"Ingest: {result['events']:,} events in {args.ingest_seconds:.0f} s by {args.clients} clients, "
          f"{result['events_per_second']:,.0f} events/s; batch of {args.batch} send to 200: median "
          f"{statistics.median(lat) * 1000:,.0f} ms, p95 {percentile(lat, .95) * 1000:,.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
