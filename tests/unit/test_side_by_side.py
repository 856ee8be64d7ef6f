"""Queries side by side (queries/side_by_side.py): the KPIs of two periods, computed on the long-lived pools,
equal pandas' over the raw events, and repeated calls start no new threads (each call used to start its own,
and under load requests queued for seconds on the lock held while a thread starts)."""
import sys
import threading
import time
from contextlib import contextmanager

import pytest

from data.warehouse import Warehouse
from queries import side_by_side
from queries.filters import Filters
from queries.kpis import kpis_with_comparison
from tests import reference
from tests.conftest import END


@contextmanager
def threads_started():
    """The idents of the threads started in the block (each runs the profile hook once, then drops it)."""
    started: set[int] = set()

    def first_call(*_):
        started.add(threading.get_ident())
        sys.setprofile(None)
    threading.setprofile(first_call)
    try:
        yield started
    finally:
        threading.setprofile(None)


def test_repeated_comparisons_reuse_the_pools_threads_and_stay_exact(warehouse_path, raw):
    wh = Warehouse(f"duckdb:///{warehouse_path}")
    wh.cache_results()  # the cached path: users beside buckets, missing pieces side by side
    try:
        filters = Filters(start="now-3d", end="now", compare="previous", channel=("email", "paid_search"))
        lo, hi = filters.resolve(END)
        current = reference.kpis(raw["events"], raw["ad_spend"], lo, hi, channel=("email", "paid_search"))
        previous = reference.kpis(raw["events"], raw["ad_spend"], lo - (hi - lo), lo, channel=("email", "paid_search"))
        for minutes in range(3):  # the pools start the threads they need
            kpis_with_comparison(wh, filters, now=END.replace(minute=minutes))
        with threads_started() as started:
            for minutes in range(3, 9):  # new instants: the moving pieces are computed again each time
                kpis_with_comparison(wh, filters, now=END.replace(minute=minutes))
        # Each call used to start 3 threads or more (18 here); a pool may still add one when a task arrives
        # before a worker is idle again.
        assert len(started) <= 2
        table = kpis_with_comparison(wh, filters, now=END).set_index("kpi")
        for kpi in ("sessions", "users", "orders", "revenue", "conversion_rate"):
            assert table.loc[kpi, "current"] == pytest.approx(current[kpi]), kpi
            assert table.loc[kpi, "previous"] == pytest.approx(previous[kpi]), kpi
    finally:
        wh.dispose()


def test_an_unknown_level_is_named():
    with pytest.raises(ValueError, match="level='frames'"):
        side_by_side.pool("frames")


def test_a_pool_whose_worker_died_is_replaced():
    """A worker killed (as dash.testing kills every thread a test server started: SystemExit, which a
    worker waiting for work meets when work arrives) must not leave a pool that queues tasks for it: once
    it is gone, the next call gets a pool whose workers run them."""
    import ctypes

    level = side_by_side.pool("users")
    worker = next(t for t in threading.enumerate() if t.name.startswith("pulse-users"))
    assert ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(SystemExit)) == 1
    for _ in range(side_by_side.WORKERS):  # wake every worker; the killed one dies (and loses the task it took)
        level.submit(time.sleep, 0.01)
    worker.join(timeout=5)
    assert not worker.is_alive()
    answers = [side_by_side.pool("users").submit(lambda i=i: i * i) for i in range(3 * side_by_side.WORKERS)]
    assert [a.result(timeout=5) for a in answers] == [i * i for i in range(3 * side_by_side.WORKERS)]
    assert side_by_side.pool("users") is not level
