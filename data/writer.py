"""The one writer of the warehouse in a process.

Every write (HTTP ingest, the live demo stream, imports through the server) is a job on one queue. One
thread drains it: it takes whatever jobs are waiting, up to `max_rows`, and commits them together in one
transaction, so many concurrent clients never contend for the DuckDB file and each commit amortizes its
cost over many requests. A job's future resolves only after its rows are committed, so a client is
acknowledged only for data that is durable. Re-sent events (same `event_id`) are stored once and
counted as duplicates; re-sent spend for the same hour, channel and campaign replaces the earlier figures
(ad platforms restate spend).

Hooks (`on_events`) run inside the same transaction with the rows actually inserted: that is where
rollups are kept current, so a reader never sees events without their rollups.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

import pandas as pd

from data.changes import EVERYTHING
from data.validation import EVENT_COLUMNS, SPEND_COLUMNS
from data.warehouse import Warehouse

log = logging.getLogger("pulse.writer")

# (driver connection, name of a registered frame of new events) -> the oldest instant it changed, or None
EventsHook = Callable[[object, str], datetime | None]


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int = 0   # events already stored (same event_id), including repeats within the batch
    updated: int = 0      # spend hours whose figures were replaced


@dataclass
class _Job:
    kind: str             # "events", "spend" or "call"
    frame: pd.DataFrame | None = None
    call: Callable | None = None
    future: Future = field(default_factory=Future)

    @property
    def rows(self) -> int:
        return len(self.frame) if self.frame is not None else 1


class WriterStopped(RuntimeError):
    pass


class Writer:
    def __init__(self, warehouse: Warehouse, max_rows: int = 50_000, gather: float = 0.025):
        self.warehouse = warehouse
        self.max_rows = max_rows
        self.gather = gather
        self.on_events: list[EventsHook] = []
        # Called after each commit with the oldest instant it touched in events or spend (None: neither):
        # the change log that keeps cached results exact subscribes here (data/changes.py).
        self.on_commit: list[Callable[[datetime | None], None]] = []
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._recent = deque()  # (monotonic time, events inserted) of commits in the last minute
        self._recent_lock = threading.Lock()
        self.last_commit: float | None = None  # time.time() of the newest commit

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "Writer":
        """Start the writer thread (submit does it on first use)."""
        with self._recent_lock:
            if self._thread is not None:
                return self
            self._thread = threading.Thread(target=self._run, name="pulse-writer", daemon=True)
            self._thread.start()
            return self

    def stop(self, timeout: float = 30) -> None:
        """Commit what is queued, then stop."""
        if self._thread is None:
            return
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    # -- writing ---------------------------------------------------------------------------------
    def submit(self, kind: str, frame: pd.DataFrame) -> Future:
        if kind not in ("events", "spend"):
            raise ValueError(f"unknown kind {kind!r}")
        if self._stopping.is_set():
            raise WriterStopped("the writer is stopping")
        self.start()
        job = _Job(kind, frame)
        self._queue.put(job)
        return job.future

    def write(self, kind: str, frame: pd.DataFrame, timeout: float = 60) -> WriteResult:
        """Submit and wait until committed."""
        return self.submit(kind, frame).result(timeout)

    def call(self, fn: Callable, timeout: float = 60):
        """Run `fn(conn)` on the writer's thread inside its transaction (with whatever else is queued) and
        return its result once committed: for writes other than events and spend (imports of other
        tables, settings, annotations). `fn` must only write through `conn`."""
        if self._stopping.is_set():
            raise WriterStopped("the writer is stopping")
        self.start()
        job = _Job("call", call=fn)
        self._queue.put(job)
        return job.future.result(timeout)

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for the writer."""
        return self._queue.qsize()

    def events_per_second(self, window: float = 60.0) -> float:
        cutoff = time.monotonic() - window
        with self._recent_lock:
            while self._recent and self._recent[0][0] < cutoff:
                self._recent.popleft()
            return sum(n for _, n in self._recent) / window

    # -- the writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            jobs = self._take()
            if jobs:
                self._commit(jobs)
            if self._stopping.is_set() and self._queue.empty():
                return

    def _take(self) -> list[_Job]:
        """The jobs of the next commit: the first one waiting, then whatever arrives within `gather`
        seconds (group commit), up to `max_rows`. A commit's cost hardly depends on its size, so under
        load a short wait lets clients answered by the last commit join the next one instead of leaving
        a lone job to pay for a whole commit."""
        first = self._queue.get()
        if first is None:
            return []
        jobs, rows = [first], first.rows
        deadline = time.monotonic() + self.gather
        while rows < self.max_rows:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:  # stopping: commit what we have
                self._queue.put(None)
                break
            jobs.append(job)
            rows += job.rows
        return jobs

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with self.warehouse.driver_connection() as conn:
                results, oldest = self._apply(conn, jobs)
        except Exception as error:  # noqa: BLE001 - the failure goes to the waiting clients
            if len(jobs) > 1:  # isolate the job that failed; the others commit on their own
                for job in jobs:
                    self._commit([job])
                return
            log.exception("write failed")
            jobs[0].future.set_exception(error)
            return
        self.last_commit = time.time()
        inserted_events = sum(r.inserted for job, r in zip(jobs, results) if job.kind == "events")
        with self._recent_lock:
            self._recent.append((time.monotonic(), inserted_events))
        for job, result in zip(jobs, results):
            job.future.set_result(result)
        for callback in self.on_commit:
            callback(oldest)

    def _apply(self, conn, jobs: list[_Job]) -> tuple[list, datetime | None]:
        """Every job's result, and the oldest instant the commit touches in events or spend."""
        results: dict[int, WriteResult] = {}
        touched: list[datetime] = []
        event_jobs = [(i, j) for i, j in enumerate(jobs) if j.kind == "events"]
        if event_jobs:
            results.update(self._insert_events(conn, event_jobs, touched))
        for i, job in enumerate(jobs):
            if job.kind == "spend":
                results[i] = self._upsert_spend(conn, job.frame)
                if len(job.frame):
                    touched.append(pd.Timestamp(job.frame["ts"].min()).to_pydatetime())
            elif job.kind == "call":  # annotations, rules, imports of tables outside the result cache
                results[i] = job.call(conn)
        return [results[i] for i in range(len(jobs))], min(touched, default=None)

    def _insert_events(self, conn, jobs: list[tuple[int, _Job]], touched: list) -> dict[int, WriteResult]:
        combined = pd.concat([j.frame.assign(_job=i) for i, j in jobs], ignore_index=True)
        first_seen = ~combined.duplicated("event_id")
        candidates = combined[first_seen]
        conn.register("incoming_events", candidates[list(EVENT_COLUMNS)])
        try:
            inserted_ids = conn.execute(
                "INSERT INTO events SELECT * FROM incoming_events ON CONFLICT DO NOTHING RETURNING event_id"
            ).fetchall()
        finally:
            conn.unregister("incoming_events")
        inserted = candidates[candidates.event_id.isin({row[0] for row in inserted_ids})]
        if len(inserted):
            conn.register("new_events", inserted[list(EVENT_COLUMNS)])
            try:
                reported = [hook(conn, "new_events") for hook in self.on_events]
            finally:
                conn.unregister("new_events")
            # The rollups know how far back the sessions of these events reach; without them, anything may have changed.
            touched.append(min((r for r in reported if r is not None), default=EVERYTHING))
        per_job = inserted.groupby("_job").size()
        return {i: WriteResult(inserted=int(per_job.get(i, 0)), duplicates=len(j.frame) - int(per_job.get(i, 0)))
                for i, j in jobs}

    def _upsert_spend(self, conn, frame: pd.DataFrame) -> WriteResult:
        conn.register("incoming_spend", frame[list(SPEND_COLUMNS)])
        try:
            existing = conn.execute(
                "SELECT count(*) FROM incoming_spend i JOIN ad_spend s "
                "ON s.ts = i.ts AND s.channel = i.channel AND s.campaign = i.campaign").fetchone()[0]
            conn.execute(
                "INSERT INTO ad_spend SELECT * FROM incoming_spend ON CONFLICT (ts, channel, campaign) DO UPDATE "
                "SET impressions = excluded.impressions, clicks = excluded.clicks, cost = excluded.cost")
        finally:
            conn.unregister("incoming_spend")
        return WriteResult(inserted=len(frame) - existing, updated=existing)


def make_writer(warehouse: Warehouse) -> Writer:
    """The writer every door uses (server, importer, demo stream), with the hooks that keep derived tables
    current inside each commit and the change log that keeps the warehouse's cached results exact."""
    from data import rollups

    writer = Writer(warehouse)
    writer.on_events.append(rollups.apply)
    writer.on_commit.append(warehouse.cache_results().record)
    return writer
