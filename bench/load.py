"""50 viewers refreshing the monitoring page every 5 s while 2,000 events/s arrive through the ingest API.

    python bench/load.py --data-dir DIR [--viewers 50] [--rate 2000] [--minutes 5] [--port 8064]
    python bench/load.py --url http://127.0.0.1:8050 --ingest-key KEY --pid PID [...]

With --data-dir, starts `python app.py` on DIR (demo stream off; the ingest key is the test key of
tests/load/server.py); with --url, loads a Pulse already running (--pid: its process, for the memory).
First a baseline: one viewer alone, nothing arriving, for --baseline-seconds. Then for --minutes:
- viewers: each opens the page (Dash Pages' render callback) and then, every 5 s, runs the browser's
  refresh cycle (bench/monitoring.py's `tick_refresh`: the tick's callback answers the instant to show,
  then tiles, trends and tables are sent at once with it). They start spread over the first 5 s, as
  people do not open a page in the same instant, and are spread over bench/monitoring.py's filter settings
  (last 24 h, 30 d, 90 d, with and without two channels), round robin;
- ingest: batches of --batch events (bench/ingest.py's `batches`: stamped now, realistic types, a
  purchase in 40) posted to /api/v1/events on a fixed schedule making --rate events/s, by a pool of
  senders (a slow answer does not lower the offered rate until the pool is exhausted);
- freshness: every 2 s a probe posts one event of a region of its own and polls /api/v1/kpis until it is
  counted (from the 200 to visible), and reads the newest event's age from /api/v1/health;
- memory: the server's resident set (itself and its children, /proc) every 5 s.
Prints Markdown tables: callbacks (p50 / p95 / max, errors: any answer but 200, or none), ingest (offered
and achieved rate, batch answer time, errors), freshness, and the server's RSS over time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import batches  # noqa: E402
from bench.monitoring import (CALLBACKS, SETTINGS, TICK_SECONDS, dash_outputs, page_payload, percentile,  # noqa: E402
                              post, tick_refresh)
from bench.run import machine  # noqa: E402
from tests.load.server import KEY, PulseProcess  # noqa: E402

REQUESTS = ("page", "tick", *CALLBACKS, "refresh")


class Viewers:
    """Simulated browsers on the monitoring page; times per request and errors by kind."""

    def __init__(self, url: str, count: int, stop: threading.Event):
        self.url, self.count, self.stop = url, count, stop
        self.timings = {name: [] for name in (*REQUESTS, "parts", "age")}
        self.errors: Counter = Counter()
        self.lock = threading.Lock()
        outputs = dash_outputs(url)
        self.page = next(d for k, d in outputs.items() if "_pages_content" in k)
        self.tick = next(d for d in outputs.values() if any(i["id"] == "refresh-timer" for i in d["inputs"]))
        self.parts = {name: next(d for k, d in outputs.items() if marker in k) for name, marker in CALLBACKS.items()}

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._viewer, args=(i,), daemon=True) for i in range(self.count)]
        for thread in threads:
            thread.start()
        return threads

    def _viewer(self, i: int) -> None:
        query = SETTINGS[i % len(SETTINGS)][1] + f"&refresh={TICK_SECONDS}"
        self.stop.wait(TICK_SECONDS * i / self.count)   # people open the page at different moments
        own = {name: [] for name in self.timings}
        if not self._attempt(lambda: own["page"].append(post(self.url, page_payload(self.page, query)))):
            return
        next_tick, n = time.monotonic() + TICK_SECONDS, 1
        while not self.stop.wait(max(0.0, next_tick - time.monotonic())):
            next_tick += TICK_SECONDS   # the browser's timer keeps its pace whatever the answers take
            self._attempt(lambda: tick_refresh(self.url, self.tick, self.parts, query, n, own))
            n += 1
        with self.lock:
            for name, values in own.items():
                self.timings[name].extend(values)

    def _attempt(self, action) -> bool:
        try:
            action()
            return True
        except urllib.error.HTTPError as error:
            kind = f"HTTP {error.code}"
        except Exception as error:  # noqa: BLE001  (a timeout, a refused connection, an empty answer: all errors)
            kind = type(error).__name__
        with self.lock:
            self.errors[kind] += 1
        return False


class Ingest:
    """Batches posted on a fixed schedule making `rate` events/s."""

    def __init__(self, url: str, key: str, rate: int, size: int, stop: threading.Event, senders: int = 16):
        self.url, self.key, self.rate, self.size, self.stop = url, key, rate, size, stop
        self.pool = ThreadPoolExecutor(senders)
        self.latencies, self.accepted, self.errors = [], 0, Counter()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._schedule, daemon=True)

    def start(self) -> "Ingest":
        self.started = time.perf_counter()
        self.thread.start()
        return self

    def finish(self) -> float:
        self.thread.join()
        self.pool.shutdown(wait=True)
        return time.perf_counter() - self.started

    def _schedule(self) -> None:
        interval, due, n = self.size / self.rate, time.monotonic(), 0
        while not self.stop.wait(max(0.0, due - time.monotonic())):
            self.pool.submit(self._send, f"load-{os.getpid()}-{n}")
            due, n = due + interval, n + 1

    def _send(self, prefix: str) -> None:
        body = json.dumps(batches(prefix, 1, self.size)[0]).encode()
        request = urllib.request.Request(self.url + "/api/v1/events", data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {self.key}"})
        sent = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
            with self.lock:
                self.latencies.append(time.perf_counter() - sent)
                self.accepted += answer["inserted"] + answer.get("duplicates", 0)
        except urllib.error.HTTPError as error:
            with self.lock:
                self.errors[f"HTTP {error.code}"] += 1
        except Exception as error:  # noqa: BLE001
            with self.lock:
                self.errors[type(error).__name__] += 1


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def probe(url: str, key: str, stop: threading.Event, visible: list, newest_age: list) -> None:
    """Every 2 s: one event of a region of its own, then /api/v1/kpis polled until it counts it (seconds
    from the 200 to visible); and the newest event's age as /api/v1/health reports it."""
    n = 0
    while not stop.is_set():
        region = f"probe-{os.getpid()}-{n}"
        row = {"event_id": region, "ts": datetime.now(timezone.utc).isoformat(), "type": "page_view",
               "user_id": "probe", "session_id": region, "channel": "direct", "region": region}
        started = time.perf_counter()
        try:
            request = urllib.request.Request(url + "/api/v1/events", data=json.dumps([row]).encode(), method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {key}"})
            urllib.request.urlopen(request, timeout=60).read()
            accepted = time.perf_counter()
            kpis = f"{url}/api/v1/kpis?from=now-5m&to=now%2B1m&compare=none&region={region}"
            while get_json(kpis)["kpis"]["sessions"]["value"] < 1 and not stop.is_set():
                time.sleep(0.02)
            visible.append(time.perf_counter() - accepted)
            newest = get_json(url + "/api/v1/health")["newest_event"]
            if newest:
                shown = datetime.fromisoformat(newest.replace("Z", "+00:00"))
                newest_age.append((datetime.now(timezone.utc) - shown).total_seconds())
        except Exception:  # noqa: BLE001  (counted by the viewers and the ingest; the probe just tries again)
            pass
        n += 1
        stop.wait(max(0.0, 2.0 - (time.perf_counter() - started)))


def rss_mb(pid: int) -> float:
    """Resident set of `pid` and its descendants, MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        todo += children.get(current, [])
    return total / 1024


def sample_rss(pid: int | None, stop: threading.Event, samples: list, started: float) -> None:
    while pid and not stop.is_set():
        samples.append((time.perf_counter() - started, rss_mb(pid)))
        stop.wait(5)


def baseline(url: str, seconds: float) -> dict:
    """One viewer alone, nothing arriving."""
    stop = threading.Event()
    viewers = Viewers(url, 1, stop)
    threads = viewers.run()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return viewers.timings


def run_load(url: str, key: str, pid: int | None, args) -> dict:
    stop = threading.Event()
    rss, visible, newest_age = [], [], []
    started = time.perf_counter()
    helpers = [threading.Thread(target=sample_rss, args=(pid, stop, rss, started), daemon=True),
               threading.Thread(target=probe, args=(url, key, stop, visible, newest_age), daemon=True)]
    for thread in helpers:
        thread.start()
    ingest = Ingest(url, key, args.rate, args.batch, stop).start()
    viewers = Viewers(url, args.viewers, stop)
    threads = viewers.run()
    time.sleep(args.minutes * 60)
    stop.set()
    for thread in threads + helpers:
        thread.join()
    elapsed = ingest.finish()
    return {"viewers": viewers, "ingest": ingest, "elapsed": elapsed, "rss": rss, "visible": visible,
            "newest_age": newest_age}


def stats(values: list[float], scale: float = 1000) -> str:
    if not values:
        return "– | – | –"
    return " | ".join(f"{v * scale:,.0f}" if scale == 1000 else f"{v * scale:,.2f}"
                      for v in (statistics.median(values), percentile(values, .95), max(values)))


def tables(result: dict, alone: dict, args) -> list[str]:
    viewers, ingest = result["viewers"], result["ingest"]
    errors = sum(viewers.errors.values())
    kinds = ", ".join(f"{n}× {k}" for k, n in viewers.errors.items())
    lines = [f"Callbacks, {args.viewers} viewers refreshing every {TICK_SECONDS} s with {args.rate:,} events/s "
             f"arriving, ms (baseline: one viewer alone, nothing arriving, {args.baseline_seconds:.0f} s before); "
             f"errors (any answer but 200, or none): {errors}{f' ({kinds})' if kinds else ''}:", "",
             "| request | count | p50 | p95 | max | baseline p50 / p95 | p95 / baseline p95 | target (p95) | result |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for name in REQUESTS:
        values, base = viewers.timings[name], alone[name]
        p95 = percentile(values, .95) * 1000 if values else None
        base_p95 = percentile(base, .95) * 1000 if base else None
        goal = 300 if name in ("tick", *CALLBACKS) else None
        result_text = "" if goal is None or p95 is None else ("met" if p95 <= goal else f"**miss**: +{p95 - goal:,.0f} ms")
        lines.append(f"| {name} | {len(values)} | {stats(values)} | "
                     f"{f'{statistics.median(base) * 1000:,.0f} / {base_p95:,.0f}' if base else '–'} | "
                     f"{f'{p95 / base_p95:.2f}' if p95 and base_p95 else '–'} | {'≤300 ms' if goal else ''} | {result_text} |")
    age = viewers.timings["age"]
    lines += ["", f"Age of the data on screen after a refresh (s): p50 {statistics.median(age):.2f}, "
                  f"p95 {percentile(age, .95):.2f}, max {max(age):.2f}." if age else ""]
    achieved = ingest.accepted / result["elapsed"]
    batch_errors = sum(ingest.errors.values())
    lines += ["", "Ingest and freshness:", "", "| measure | value | p50 | p95 | max | target | result |",
              "|---|---:|---:|---:|---:|---|---|",
              f"| offered, events/s | {args.rate:,} | | | | | |",
              f"| achieved (events acknowledged / s) | {achieved:,.0f} | | | | ≥ offered | "
              f"{'met' if achieved >= 0.98 * args.rate else f'**miss**: {achieved / args.rate:.0%} of offered'} |",
              f"| batches of {args.batch}: sent, errors | {len(ingest.latencies) + batch_errors:,}, {batch_errors} | | | | 0 errors | "
              f"{'met' if not batch_errors else '**miss**: ' + ', '.join(f'{n}× {k}' for k, n in ingest.errors.items())} |",
              f"| batch: send to 200, ms | | {stats(ingest.latencies)} | | |",
              f"| freshness: 200 to visible in /api/v1/kpis, ms | {len(result['visible'])} probes | "
              f"{stats(result['visible'])} | ≤2 s p95 | "
              f"{'met' if result['visible'] and percentile(result['visible'], .95) <= 2 else '**miss**'} |",
              f"| newest event's age in /api/v1/health, s | | {stats(result['newest_age'], 1)} | | |"]
    rss = result["rss"]
    if rss:
        peak = max(mb for _, mb in rss)
        lines += ["", f"Server RSS (itself and its children), MB, every 30 s (sampled every 5 s; peak {peak:,.0f} MB, "
                      f"target ≤4,096 MB: {'met' if peak <= 4096 else '**miss**'}):", "",
                  "| time, s | RSS, MB |", "|---:|---:|"]
        shown = -30.0
        for at, mb in rss:
            if at - shown >= 30 or (at, mb) == rss[-1]:
                lines.append(f"| {at:,.0f} | {mb:,.0f} |")
                shown = at
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", help="a warehouse directory, served on --port")
    where.add_argument("--url", help="a running Pulse (needs --ingest-key; --pid for its memory)")
    parser.add_argument("--ingest-key", help="with --url: an ingest API key (python app.py keys / data.keys)")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, for RSS")
    parser.add_argument("--port", type=int, default=8064)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--rate", type=int, default=2000, help="events per second ingested")
    parser.add_argument("--batch", type=int, default=200, help="events per ingest request")
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--baseline-seconds", type=float, default=60)
    args = parser.parse_args(argv)
    if args.url and not args.ingest_key:
        parser.error("--url needs --ingest-key")
    server = None if args.url else PulseProcess(Path(args.data_dir), args.port).start(timeout=900)
    url, key = (args.url.rstrip("/"), args.ingest_key) if args.url else (server.url, KEY)
    pid = args.pid if args.url else server.process.pid
    started = datetime.now(timezone.utc)
    try:
        alone = baseline(url, args.baseline_seconds)
        result = run_load(url, key, pid, args)
        events = get_json(url + "/api/v1/health")["row_counts"]["events"]
    finally:
        if server:
            server.stop()
    command = "python bench/load.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"`{command}`, {started:%Y-%m-%d %H:%M}–{datetime.now(timezone.utc):%H:%M} UTC, {events:,} events at the "
          f"end; {machine()}.\n")
    print("\n".join(tables(result, alone, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
