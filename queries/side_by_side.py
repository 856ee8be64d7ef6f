"""Queries run side by side on long-lived thread pools, one pool per level of nesting.

DuckDB runs statements on every core while Python formats, so a few calls run their independent queries
in parallel: a monitoring frame (its periods, series and tables), the KPIs of two periods, a range's users
beside its buckets, a range's missing pieces. Each call used to make a ThreadPoolExecutor of its own and
start threads for it. Under load (50 viewers, bench/load.py) requests stalled for seconds: a new thread is
started while concurrent.futures' process-wide lock is held, and 15 to 20 threads at a time queued on that
lock (py-spy dumps). Pools kept for the life of the process start their threads once.

A task may wait only on tasks of a deeper level than its own: with bounded pools, tasks waiting on their own
level's queue could fill every worker and wait forever. Levels, outermost first:
    frame   the parts of a monitoring frame           (pages/monitoring.py)
    period  the comparison period's KPIs              (queries/kpis.py, kpis_with_comparison)
    users   a range's distinct users                  (queries/kpis.py, kpis)
    pieces  a range's missing pieces                  (queries/pieces.py; they wait on nothing)
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

LEVELS = ("frame", "period", "users", "pieces")
WORKERS = 8  # per level: more threads than this only queue for the 2 cores' worth of work

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def pool(level: str) -> ThreadPoolExecutor:
    """The pool of `level` (one of LEVELS), started on first use."""
    if level not in LEVELS:
        raise ValueError(f"level={level!r}: must be one of {', '.join(LEVELS)}")
    with _lock:
        if level not in _pools or not _healthy(_pools[level]):
            _pools[level] = _started(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix=f"pulse-{level}"))
        return _pools[level]


def start() -> None:
    """Start every level's workers now, rather than as the first work arrives."""
    for level in LEVELS:
        pool(level)


def _started(executor: ThreadPoolExecutor) -> ThreadPoolExecutor:
    """The executor with all its workers running (it would otherwise start one per task while none is
    idle): they start once, up front, not in the middle of a refresh."""
    everyone = threading.Barrier(WORKERS)
    for ready in [executor.submit(everyone.wait) for _ in range(WORKERS)]:
        ready.result()
    return executor


def _healthy(executor: ThreadPoolExecutor) -> bool:
    """False once one of its workers has died: an executor counts dead workers among its own and never
    replaces them, so tasks would queue for workers that are gone. (dash.testing's test server, stopping,
    raises SystemExit in every thread started since it began, pool workers included.)"""
    return all(thread.is_alive() for thread in getattr(executor, "_threads", ()))
