"""The funnel engine on a large warehouse: its query functions, next to baselines measured in the same run.

    python bench/funnel.py [--warehouse FILE] [--runs 20] [--days 30] [--no-asof] [--only TEXT]

FILE is a Pulse DuckDB warehouse (default: the 10M-event one that `bench/monitoring.py --events 10000000
--keep /tmp/benchmon` leaves); it is copied to a temporary directory first, so the original is never
opened, let alone changed. "Now" is the newest event's time, so the last `--days` days hold data.

For each setting, `--runs` rounds (after one untimed warm-up round), each timing once, in turn:
- steps, uncached: `funnel_steps`, the step table (the number the issue's target is about), with the
  warehouse's result cache off (`wh.results is None`): one read of the whole range and one walk;
- steps, cold cache: the same with an empty result cache (a server's first request, or every day of the
  range invalidated): one read and walk, split by day and merged, the closed days stored;
- steps, refresh and report, refresh: `funnel_steps` and `funnel_report` (everything `GET /api/v1/funnel`
  and the page show: steps, breakdown, trend, times) with the result cache kept across rounds, as the
  server keeps it, and "now" one minute later at every call (a view shown again or refreshed: the range
  moves, so its first, partial day is walked anew, as are the days whose windows are still open);
- read only: the engine's one SQL statement alone over the whole range (`journey_sql` through
  `Warehouse.read_columns`; it does not sort), the raw SQL time, the floor of the uncached design;
- ASOF SQL (indirect settings without a breakdown): the same furthest steps computed in SQL alone, one
  ASOF JOIN per step (for every attempt, the first event of the next step at or after the previous step),
  the design this engine replaced; its step counts are checked against the engine's.
Prints medians and p95 in milliseconds as a Markdown table for docs/benchmarks.md, with the CPU time of
"steps, refresh" (this process's, both cores), the memory the setting's cached parts hold, and the ratios of
"steps, refresh" to "steps, uncached" and to "read only". Cached and uncached step tables are checked equal.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.changes import ChangeLog  # noqa: E402
from data.results import ResultCache  # noqa: E402
from data.warehouse import Warehouse  # noqa: E402
from queries.filters import Filters  # noqa: E402
from queries.funnel import FunnelOptions, funnel_report, funnel_steps, journey_sql  # noqa: E402
from queries.scope import dimension_predicate  # noqa: E402

DEFAULT_WAREHOUSE = "/tmp/benchmon/events-10000000/pulse.duckdb"
SETTINGS = [
    ("users, indirect", {}, FunnelOptions(count="users")),
    ("sessions, indirect", {}, FunnelOptions(count="sessions")),
    ("users, strict", {}, FunnelOptions(count="users", order="strict")),
    ("sessions, strict", {}, FunnelOptions(count="sessions", order="strict")),
    ("users, indirect, 7 d window", {}, FunnelOptions(count="users", window="7d")),
    ("users, indirect, 2 channels", {"channel": ("paid_search", "email")}, FunnelOptions(count="users")),
    ("users, indirect, by channel", {}, FunnelOptions(count="users", breakdown="channel")),
    ("sessions, indirect, by landing page", {}, FunnelOptions(count="sessions", breakdown="landing_page")),
    ("users, sign-up funnel", {}, FunnelOptions(steps=("page_view", "signup", "purchase"), count="users")),
]


def asof_sql(options: FunnelOptions, filters: Filters) -> tuple[str, dict]:
    """Furthest step per entity by one ASOF JOIN per step, then how many entities reached each step."""
    entity = "e.user_id" if options.count == "users" else "e.session_id"
    dims, params = dimension_predicate(filters, "e")
    ctes = ["attempt_1 AS (SELECT " + entity + " AS entity, e.ts AS entry, e.ts AS t FROM events e "
            "WHERE e.type = :step_0 AND e.ts >= :start AND e.ts < :end AND " + dims + ")"]
    for k in range(1, len(options.steps)):
        ctes.append("step_" + str(k + 1) + " AS (SELECT " + entity + " AS entity, e.ts FROM events e "
                    "WHERE e.type = :step_" + str(k) + " AND e.ts >= :start AND e.ts < :until)")
        ctes.append("attempt_" + str(k + 1) + " AS (SELECT a.entity, a.entry, s.ts AS t FROM attempt_" + str(k)
                    + " a ASOF JOIN step_" + str(k + 1) + " s ON s.entity = a.entity AND s.ts >= a.t "
                    "WHERE s.ts < a.entry + :window)")
    reached = " UNION ALL ".join("SELECT DISTINCT " + str(k + 1) + " AS step, entity FROM attempt_" + str(k + 1)
                                 for k in range(len(options.steps)))
    sql = ("WITH " + ", ".join(ctes) + " SELECT step, count(*) AS reached FROM (" + reached + ")"
           " GROUP BY step ORDER BY step")
    params.update({"step_" + str(i): name for i, name in enumerate(options.steps)})
    params.update(window=options.window_length)
    return sql, params


def timed(functions: dict, runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """`runs` timings of each function, taken in turns (one of each per round), so that a burst of load on
    this shared machine falls on all of them alike; one untimed warm-up round first. Wall-clock seconds,
    and CPU seconds of this process (DuckDB's threads included), which other work on the machine disturbs
    far less."""
    wall, cpu = {name: [] for name in functions}, {name: [] for name in functions}
    for round_number in range(runs + 1):
        for name, function in functions.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            function()
            if round_number:
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - started_cpu)
    return wall, cpu


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def cell(times: list[float] | None) -> str:
    if not times:
        return "–"
    return f"{statistics.median(times) * 1000:,.0f} / {percentile(times, .95) * 1000:,.0f}"


def measure(wh: Warehouse, now: datetime, days: int, runs: int, asof: bool, only: str = ""):
    for label, dims, options in [s for s in SETTINGS if only in s[0]]:
        filters = Filters(start=f"now-{days}d", end="now", **dims)
        start, end = filters.resolve(now)
        sql, params = journey_sql(filters, start, end, options, options.breakdown)
        rows = len(wh.read_columns(sql, params)["event"])
        kept = ResultCache(ChangeLog())  # the server's cache, kept across rounds
        minutes = {"steps": 0, "report": 0}

        def steps_with(cache):
            wh.results = cache
            return funnel_steps(wh, filters, start, end, options, now)

        def refresh(kind):  # "now" one minute later each call, the range with it
            minutes[kind] += 1
            later = now + timedelta(minutes=minutes[kind])
            lo, hi = filters.resolve(later)
            wh.results = kept
            fn = funnel_steps if kind == "steps" else funnel_report
            return fn(wh, filters, lo, hi, options, later)

        functions = {"uncached": lambda: steps_with(None),
                     "cold": lambda: steps_with(ResultCache(ChangeLog())),
                     "steps": lambda: refresh("steps"),
                     "report": lambda: refresh("report"),
                     "read": lambda: wh.read_columns(sql, params)}
        if asof and options.order == "indirect" and not options.breakdown:
            wh.results = None
            check_asof(wh, filters, start, end, options, now)
            a_sql, a_params = asof_sql(options, filters)
            a_params.update(start=start, end=end, until=end + options.window_length)
            functions["asof"] = lambda: wh.read(a_sql, a_params)
        times, cpu = timed(functions, runs)
        check_cached(wh, kept, filters, options, now + timedelta(minutes=minutes["steps"] + 1))
        megabytes = cache_bytes(kept) / 1e6
        wh.results = None
        steps, read = times["steps"], times["read"]
        print(f"| {days} d, {label} | {rows:,} | {cell(times['uncached'])} | {cell(times['cold'])} | {cell(steps)} "
              f"| {statistics.median(cpu['steps']) * 1000:,.0f} | {cell(times['report'])} | {cell(read)} "
              f"| {cell(times.get('asof'))} | {megabytes:,.0f} "
              f"| {statistics.median(steps) / statistics.median(times['uncached']):.2f} "
              f"| {statistics.median(steps) / statistics.median(read):.2f} |", flush=True)


def check_cached(wh, cache, filters, options, now) -> None:
    """The refreshed step table (cache kept) equals the one-read engine's (cache off)."""
    lo, hi = filters.resolve(now)
    wh.results = cache
    cached = funnel_steps(wh, filters, lo, hi, options, now)
    wh.results = None
    if not cached.equals(funnel_steps(wh, filters, lo, hi, options, now)):
        raise SystemExit(f"cached and uncached step tables differ for {options}")


def cache_bytes(cache: ResultCache) -> int:
    """Bytes of the numpy arrays the cache holds (views of one array counted at their own size)."""
    total = 0
    for _, (_, value) in cache._store._cache.items():
        stack = [value]
        while stack:
            item = stack.pop()
            if hasattr(item, "nbytes"):
                total += item.nbytes
            elif isinstance(item, (tuple, list)):
                stack.extend(item)
    return total


def check_asof(wh, filters, start, end, options, now) -> None:
    sql, params = asof_sql(options, filters)
    params.update(start=start, end=end, until=end + options.window_length)
    by_sql = wh.read(sql, params).reached.tolist()
    by_engine = funnel_steps(wh, filters, start, end, options, now).reached.tolist()
    if by_sql != by_engine:
        raise SystemExit(f"ASOF SQL and the engine disagree: {by_sql} != {by_engine}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", default=DEFAULT_WAREHOUSE)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--no-asof", action="store_true", help="skip the ASOF SQL baseline (slow)")
    parser.add_argument("--only", default="", help="only the settings whose label contains TEXT")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pulse-bench-funnel-") as directory:
        copy = Path(directory) / "pulse.duckdb"
        shutil.copyfile(args.warehouse, copy)
        wh = Warehouse(f"duckdb:///{copy}")
        newest = wh.scalar("SELECT max(ts) FROM events")
        now = (newest + timedelta(minutes=1)).replace(second=0, microsecond=0)
        events = wh.row_count("events")
        print(f"Funnel engine, {args.runs} runs each (after a warm-up); {events:,} events, "
              f"now = {now:%Y-%m-%d %H:%M} UTC; {platform.node()} ({platform.machine()}, {os.cpu_count()} cores), "
              f"{datetime.now(timezone.utc):%Y-%m-%d}; 1-minute load average {os.getloadavg()[0]:.2f}\n")
        print("| setting | rows read | steps, uncached p50 / p95 ms | steps, cold cache p50 / p95 ms "
              "| steps, refresh p50 / p95 ms | steps, refresh CPU p50 ms | report, refresh p50 / p95 ms "
              "| read only p50 / p95 ms | ASOF SQL p50 / p95 ms | cache MB | refresh / uncached | refresh / read |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        measure(wh, now, args.days, args.runs, not args.no_asof, args.only)
        wh.dispose()
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.2f} (other work on this machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
