"""Make a warehouse of N events at the demo's realism, fast and in bounded memory.

    python bench/make_warehouse.py --events 100000000 --data-dir /tmp/w100m [--days 365] [--seed 7]
        [--chunk-events 3000000] [--memory-limit 8GB] [--replace]
    python bench/make_warehouse.py --top-up --data-dir /tmp/w100m    # later: fill from the newest event to now

The demo's own model and code paths (data/generate.py, data/demo_model.py), only run a stretch of days at a
time: each chunk is simulated in numpy while DuckDB appends the previous one through the demo loader's
statement, so one core simulates while the other writes. Then the other tables (spend, budgets,
experiments, annotations, ground truth), the derived tables by `data.rollups.rebuild` (DuckDB spills to
disk past --memory-limit), the targets, and a top-up from the end of the history to the present through
the live stream's model and the ingest writer, so the newest data is "now" when Pulse opens it.

The traffic scale is calibrated by a small pilot run over the same range and seed, so the warehouse holds
about N events (within a percent). Prints the wall time of every phase and the generator's peak memory.
"""
from __future__ import annotations

import argparse
import datetime as dt
import platform
import queue
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

from data import generate, rollups, schema  # noqa: E402
from data.warehouse import DUCKDB_FILE, Warehouse  # noqa: E402

PILOT_EVENTS = 300_000            # the pilot run's size: enough for the scale to land within a percent
EVENTS_PER_DAY_AT_SCALE_1 = 20_300  # a first guess for the pilot's scale only
# Filled without their primary keys, which are built once at the end: appending 10M events to an indexed
# table took 82 s against 8 s for building the index over them afterwards (docs/benchmarks.md).
KEYED_LATER = ("events", "orders", "customers", "sessions", "rollup_hourly")


class Phases:
    """Wall time of each named phase, in order."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def timed(self, name: str):
        phases = self

        class _Timer:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                phases.add(name, time.perf_counter() - self.t0)

        return _Timer()


class TimedConnection:
    """A DuckDB connection that adds each statement's time to a phase named by its first words, so the
    report shows where `rollups.rebuild` spends its time without a copy of its SQL here."""

    def __init__(self, conn, phases: Phases, prefix: str):
        self.conn, self.phases, self.prefix = conn, phases, prefix

    def execute(self, sql: str, *args):
        words = " ".join(sql.split()[:4])
        t0 = time.perf_counter()
        result = self.conn.execute(sql, *args)
        self.phases.add(f"{self.prefix}: {words[:48]}", time.perf_counter() - t0)
        return result

    def __getattr__(self, name):
        return getattr(self.conn, name)


# ------------------------------------------------------------------------------------------- steps

def calibrate(events: int, days: int, seed: int, end: dt.datetime) -> float:
    """The scale giving about `events` events: a pilot run of the same range and seed at a small scale,
    scaled up (every volume of the model scales linearly with `scale`)."""
    guess = PILOT_EVENTS / (EVENTS_PER_DAY_AT_SCALE_1 * (days + 1))
    pilot = generate.plan(days, guess, seed, end)
    counted = sum(chunk.events.num_rows for chunk in generate.simulate_in_chunks(pilot))
    if counted == 0:
        raise ValueError(f"--events: {events} is too few to calibrate the scale over {days} days")
    return guess * events / counted


def chunks_in_background(plan: generate.Plan, chunk_days: int, phases: Phases):
    """Yield the plan's chunks, simulating the next one in a thread while the caller writes this one
    (numpy and DuckDB release the GIL for most of their work). At most two chunks wait in memory."""
    ready: queue.Queue = queue.Queue(maxsize=1)

    def produce():
        try:
            chunks = generate.simulate_in_chunks(plan, chunk_days)
            while True:
                t0 = time.perf_counter()
                chunk = next(chunks, None)
                phases.add("events: simulate (in a thread)", time.perf_counter() - t0)
                ready.put(chunk)
                if chunk is None:
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            ready.put(error)

    thread = threading.Thread(target=produce, name="simulate", daemon=True)
    thread.start()
    while True:
        item = ready.get()
        if isinstance(item, BaseException):
            raise item
        if item is None:
            break
        yield item
    thread.join()


def write_history(path: Path, plan: generate.Plan, chunk_days: int, memory_limit: str, phases: Phases) -> dict:
    """Events chunk by chunk, then the other tables, the derived tables, the primary keys and targets."""
    conn = duckdb.connect(str(path), config={"memory_limit": memory_limit,
                                             "temp_directory": str(path) + ".tmp"})
    try:
        for table in KEYED_LATER:
            schema.create_without_key(conn, table)
        paid, exposed, chunks = [], [], 0
        with phases.timed("events: simulate and append (wall)"):
            for chunk in chunks_in_background(plan, chunk_days, phases):
                with phases.timed("events: append to DuckDB"):
                    generate.insert_tables(conn, {"events": chunk.events})
                paid.append(chunk.paid_by_hour)
                exposed.append(chunk.exposed)
                chunks += 1
                del chunk
        with phases.timed("spend, budgets, experiments, annotations, ground truth"):
            tables = generate.other_tables(plan, pd.concat(paid, ignore_index=True),
                                           pd.concat(exposed, ignore_index=True))
            generate.insert_tables(conn, tables)
        with phases.timed("derived tables (rollups.rebuild), total"):
            rollups.rebuild(TimedConnection(conn, phases, "rebuild"))
        for table in KEYED_LATER:
            with phases.timed(f"primary key of {table}"):
                schema.add_key(conn, table)
        with phases.timed("targets"):
            generate.seed_targets(conn)
        with phases.timed("checkpoint"):
            conn.execute("CHECKPOINT")
        return {"chunks": chunks}
    finally:
        conn.close()


def top_up(warehouse: Warehouse, start: dt.datetime | None = None, until: dt.datetime | None = None) -> int:
    """Events and spend from `start` (default: the history's end) to `until` (default: now), simulated by
    the live stream's model at the history's own rate and written through the ingest writer (rollups kept
    by `apply`), an hour at a time, as the live stream would have sent them. Returns the events written."""
    from data.live import LiveDemo, history_state
    from data.load import warehouse_context
    from data.validation import validate_events, validate_spend
    from data.writer import make_writer

    history, users = history_state(warehouse)
    cursor = start or dt.datetime.fromisoformat(history["end"].rstrip("Z"))
    demo = LiveDemo(history, users, rate=None, start=cursor)
    writer = make_writer(warehouse)
    written = 0
    try:
        while True:
            now = until or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            cursor = min(cursor + dt.timedelta(hours=1), now)
            context = warehouse_context(warehouse)
            rows = demo.due_events(cursor)
            if rows:
                written += writer.write("events", validate_events(rows, context), timeout=600).inserted
            spend = demo.spend_rows(cursor)   # the hour before and this hour, restated as they fill
            if spend:
                writer.write("spend", validate_spend(spend, context), timeout=600)
            if cursor == now and (until or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - now
                                  < dt.timedelta(seconds=5)):
                return written
    finally:
        writer.stop()


def top_up_existing(data_dir: Path) -> int:
    """`--top-up`: fill an existing warehouse from its newest event to now (before benchmarking it later)."""
    path = Path(data_dir).expanduser().resolve() / DUCKDB_FILE
    if not path.exists():
        raise FileNotFoundError(f"--data-dir: no warehouse at {path}")
    warehouse = Warehouse(f"duckdb:///{path}")
    try:
        newest = warehouse.scalar("SELECT max(ts) FROM events")
        if newest is None:
            raise ValueError(f"--data-dir: the warehouse at {path} has no events")
        return top_up(warehouse, start=newest)
    finally:
        warehouse.dispose()


def make_warehouse(events: int, data_dir: Path, days: int = 365, seed: int = 7, end: dt.datetime | None = None,
                   chunk_events: int = 3_000_000, memory_limit: str = "8GB", replace: bool = False,
                   fill_to_now: bool = True) -> dict:
    """Build the warehouse and return what it holds and how long each phase took."""
    if events < 1000:
        raise ValueError(f"--events: expected at least 1000, got {events}")
    if days < 1:
        raise ValueError(f"--days: expected at least 1, got {days}")
    path = Path(data_dir).expanduser().resolve() / DUCKDB_FILE
    if path.exists() and not replace:
        raise FileExistsError(f"--data-dir: {path} already exists; pass --replace to make it again")
    for stale in (path, Path(str(path) + ".wal")):
        stale.unlink(missing_ok=True)
    phases = Phases()
    started = time.perf_counter()
    end = generate.default_end() if end is None else generate.naive_utc(end)
    with phases.timed("calibrate the scale (pilot run)"):
        scale = calibrate(events, days, seed, end)
    plan = generate.plan(days, scale, seed, end)
    chunk_days = max(1, int(chunk_events / (events / (days + 1))))
    warehouse = Warehouse(f"duckdb:///{path}")
    warehouse.engine  # noqa: B018 - creates the file and the schema (data/schema.py)
    warehouse.dispose()
    written = write_history(path, plan, chunk_days, memory_limit, phases)
    topped = 0
    if fill_to_now:
        with phases.timed("top-up from the history's end to now (live model, ingest writer)"):
            warehouse = Warehouse(f"duckdb:///{path}")
            try:
                topped = top_up(warehouse)
            finally:
                warehouse.dispose()
    return {"path": str(path), "scale": scale, "chunk_days": chunk_days, **written, "topped_up": topped,
            "phases": phases.seconds, "seconds": time.perf_counter() - started, "cpu_seconds": cpu_seconds(),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "file_gib": path.stat().st_size / 2**30}


def cpu_seconds() -> float:
    """User and system CPU time of this process, all threads: what the build costs on an idle machine
    (the wall time also counts waiting for cores other processes hold)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def describe(path: str) -> dict:
    conn = duckdb.connect(path, read_only=True)
    try:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]  # names from this list only
                  for t in ("events", "sessions", "orders", "customers", "rollup_hourly", "ad_spend", "budgets",
                            "targets", "experiments", "annotations", "ground_truth")}
        first, last = conn.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
        return {"rows": counts, "first": first, "last": last}
    finally:
        conn.close()


def print_report(result: dict, args) -> None:
    held = describe(result["path"])
    print(f"Warehouse {result['path']}: {held['rows']['events']:,} events from {held['first']:%Y-%m-%d %H:%M} "
          f"to {held['last']:%Y-%m-%d %H:%M} UTC; scale {result['scale']:.3f}, {result['chunks']} chunks of "
          f"{result['chunk_days']} days; {result['topped_up']:,} events topped up to now")
    print(f"{platform.node()} ({platform.machine()}), {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"command: python bench/make_warehouse.py {' '.join(sys.argv[1:])}\n")
    print("| phase | wall, s |\n|---|---:|")
    for name, seconds in result["phases"].items():
        print(f"| {name} | {seconds:,.1f} |")
    print(f"| **total** | **{result['seconds']:,.1f}** |")
    print(f"| CPU time of the process, all threads (user + system) | {result['cpu_seconds']:,.1f} |\n")
    print("| table | rows |\n|---|---:|")
    for table, rows in held["rows"].items():
        print(f"| {table} | {rows:,} |")
    print(f"\nFile {result['file_gib']:.2f} GiB; generator peak RSS {result['peak_rss_gib']:.2f} GiB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="about how many events to generate")
    parser.add_argument("--data-dir", required=True, help="directory of the warehouse (outside the repository)")
    parser.add_argument("--days", type=int, default=365, help="whole days of history before today (default 365)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", type=generate.parse_end, default=None,
                        help="ISO-8601 instant the history ends (default: now; then no top-up)")
    parser.add_argument("--chunk-events", type=int, default=3_000_000, help="events simulated at a time")
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB's memory limit while writing (default 8GB)")
    parser.add_argument("--replace", action="store_true", help="make the warehouse again if it exists")
    parser.add_argument("--top-up", action="store_true",
                        help="only fill an existing warehouse from its newest event to now")
    args = parser.parse_args(argv)
    if args.top_up:
        try:
            print(f"{top_up_existing(Path(args.data_dir)):,} events topped up to now")
        except (ValueError, FileNotFoundError) as error:
            print(error, file=sys.stderr)
            return 2
        return 0
    if args.events is None:
        parser.error("--events is required (unless --top-up)")
    try:
        result = make_warehouse(args.events, Path(args.data_dir), days=args.days, seed=args.seed, end=args.end,
                                chunk_events=args.chunk_events, memory_limit=args.memory_limit,
                                replace=args.replace, fill_to_now=args.end is None)
    except (ValueError, FileExistsError) as error:
        print(error, file=sys.stderr)
        return 2
    print_report(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
