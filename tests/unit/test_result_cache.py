"""The result cache (data/results.py, queries/pieces.py): cached pieces must add up to exactly what one
query over the tables gives, before and after commits that reach back into cached time."""
from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from data.changes import ChangeLog
from data.results import ResultCache
from data.warehouse import Warehouse
from data.writer import make_writer
from queries.filters import Filters
from queries.kpis import kpis
from queries.timeseries import timeseries
from tests.conftest import END

CASES = [  # (start, end, filters, time zone): day, hour and 5-minute buckets, partial ends, dimensions
    (END - timedelta(days=9, minutes=17), END, Filters(), "UTC"),
    (END - timedelta(days=9, minutes=17), END, Filters(channel=("email", "paid_search")), "Europe/Berlin"),
    (END - timedelta(hours=30), END - timedelta(minutes=3), Filters(device=("mobile",)), "America/New_York"),
    (END - timedelta(hours=5, minutes=2), END, Filters(), "UTC"),
    (datetime(2026, 11, 10), datetime(2026, 11, 17), Filters(region=("DE", "US")), "UTC"),
]


@pytest.fixture
def cached(warehouse_path, tmp_path):
    path = tmp_path / "pulse.duckdb"
    shutil.copy(warehouse_path, path)
    wh = Warehouse(f"duckdb:///{path}")
    writer = make_writer(wh)  # the process that owns the writer caches results
    assert wh.results is not None
    yield wh, writer
    writer.stop()
    wh.dispose()


def one_query(wh: Warehouse, fn):
    """`fn()` with the cache off: every number read from the tables in one query."""
    saved, wh.results = wh.results, None
    try:
        return fn()
    finally:
        wh.results = saved


def check_case(wh, start, end, filters, tz):
    got_kpis = kpis(wh, filters, start, end, tz)
    want_kpis = one_query(wh, lambda: kpis(wh, filters, start, end, tz))
    pd.testing.assert_frame_equal(got_kpis, want_kpis, rtol=1e-9)
    got_series = timeseries(wh, filters, start, end, tz=tz)
    want_series = one_query(wh, lambda: timeseries(wh, filters, start, end, tz=tz))
    pd.testing.assert_frame_equal(got_series, want_series, rtol=1e-9)
    return want_kpis.iloc[0]


@pytest.mark.parametrize("start,end,filters,tz", CASES)
def test_cached_pieces_add_up_to_one_query(cached, start, end, filters, tz):
    wh, _ = cached
    first = check_case(wh, start, end, filters, tz)
    hits = wh.results.hits
    again = check_case(wh, start, end, filters, tz)  # now from the cache
    assert wh.results.hits > hits
    assert first["sessions"] > 0
    pd.testing.assert_series_equal(again, first, rtol=1e-9)  # DuckDB may sum floats in another order


@pytest.mark.parametrize("case", [0, 1])
def test_a_moving_range_s_partial_days_add_up_at_every_instant(cached, case):
    """A view refreshed as time passes: the middle days come from the cache, the partial first and last
    days from their whole hours (cached) and the rest (read each time). At each instant, and after a late
    purchase lands in the cached hours of the last day, the same numbers as one query over the tables."""
    wh, writer = cached
    start, end, filters, tz = CASES[case]
    span = end - start
    for minutes in (-190, -130, -70, -9, 0):  # the instant moves on; the first day's start moves with it
        at = end + timedelta(minutes=minutes)
        check_case(wh, at - span, at, filters, tz)
    before = check_case(wh, start, end, filters, tz)
    day = pd.Timestamp(end).floor("D").to_pydatetime()
    session = a_session_without_purchase(wh, day + timedelta(hours=2), end - timedelta(hours=3))
    template = wh.read("SELECT * FROM events WHERE session_id = :s ORDER BY ts LIMIT 1", {"s": session.session_id})
    writer.write("events", template.assign(event_id="late-purchase-2", ts=session.last_ts + timedelta(seconds=5),
                                           type="purchase", revenue=50.0, order_id="late-order-2",
                                           page="/checkout/complete"))
    after = check_case(wh, start, end + timedelta(seconds=1), filters, tz)
    matches = not filters.channel or session.channel in filters.channel
    assert after["orders"] == before["orders"] + (1 if matches else 0)


def a_session_without_purchase(wh: Warehouse, start: datetime, end: datetime) -> pd.Series:
    return wh.read("SELECT * FROM sessions WHERE first_ts >= :a AND last_ts < :b AND purchases = 0 "
                   "ORDER BY session_id LIMIT 1", {"a": start, "b": end}).iloc[0]


def test_a_late_purchase_and_restated_spend_reach_into_cached_buckets(cached):
    wh, writer = cached
    start, end, filters, tz = CASES[0]
    before = check_case(wh, start, end, filters, tz)
    session = a_session_without_purchase(wh, start + timedelta(days=2), start + timedelta(days=3))
    template = wh.read("SELECT * FROM events WHERE session_id = :s ORDER BY ts LIMIT 1", {"s": session.session_id})
    late = template.assign(event_id="late-purchase-1", ts=session.last_ts + timedelta(seconds=30), type="purchase",
                           revenue=123.45, order_id="late-order-1", page="/checkout/complete")
    writer.write("events", late)
    hour = pd.Timestamp(start + timedelta(days=4)).floor("h")
    spend = wh.read("SELECT * FROM ad_spend WHERE ts = :h ORDER BY channel, campaign LIMIT 1", {"h": hour})
    writer.write("spend", spend.assign(cost=spend.cost + 1000.0))
    after = check_case(wh, start, end, filters, tz)
    assert after["orders"] == before["orders"] + 1
    assert after["revenue"] == pytest.approx(before["revenue"] + 123.45)
    assert after["conversion_rate"] > before["conversion_rate"]
    assert after["spend"] == pytest.approx(before["spend"] + 1000.0)


def test_a_late_first_event_moves_a_cached_session(cached):
    """A late event before a session's start re-keys it (new channel, earlier bucket)."""
    wh, writer = cached
    start, end, filters, tz = CASES[1]
    check_case(wh, start, end, filters, tz)
    session = a_session_without_purchase(wh, start + timedelta(days=4), start + timedelta(days=5))
    template = wh.read("SELECT * FROM events WHERE session_id = :s ORDER BY ts LIMIT 1", {"s": session.session_id})
    channel = "email" if session.channel != "email" else "paid_search"
    writer.write("events", template.assign(event_id="late-first-1", ts=session.first_ts - timedelta(hours=20),
                                           channel=channel))
    check_case(wh, start, end, filters, tz)
    check_case(wh, *CASES[0][:2], Filters(channel=(channel,)), "UTC")


def test_change_log_agrees_with_a_scan_of_every_commit():
    rng = random.Random(7)
    for keep in (5, 1000):
        log, commits = ChangeLog(keep=keep), []
        for _ in range(400):
            oldest = datetime(2026, 1, 1) + timedelta(minutes=rng.randint(0, 500))
            log.record(oldest)
            commits.append(oldest)
            seq = rng.randint(0, len(commits))
            until = datetime(2026, 1, 1) + timedelta(minutes=rng.randint(0, 500))
            truth = all(o >= until for o in commits[seq:])
            answer = log.unchanged_since(seq, until)
            # A short log may forget old commits; it must then answer "changed", never a wrong "unchanged".
            assert answer == truth or (keep == 5 and not answer)
        log.record(None)  # a commit that touched no events or spend
        assert log.seq == len(commits)


def test_parts_asking_for_the_same_piece_at_once_compute_it_once():
    import threading
    import time

    from data.results import ResultCache

    cache, calls = ResultCache(ChangeLog()), []

    def compute():
        calls.append(1)
        time.sleep(0.2)
        return len(calls)

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(cache.shared("piece", compute))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and answers == [1, 1, 1, 1]
    assert cache.shared("piece", compute) == 2  # once done, the next request computes afresh


def test_grouped_entries_go_with_their_least_recently_used_group():
    """A funnel setting's days are one group: only the settings used last keep theirs, whatever the count of
    entries (they are large)."""
    cache = ResultCache(ChangeLog(), groups=2)
    for group in ("a", "b"):
        for day in range(3):
            cache.put(f"{group}{day}", day, cache.changes.seq, group=group)
    cache.touch("a")                                     # "a" in use again: "b" is now the oldest
    cache.put("c0", 0, cache.changes.seq, group="c")
    until = datetime(2026, 1, 1)
    assert [cache.get(f"a{d}", until) for d in range(3)] == [0, 1, 2]
    assert [cache.get(f"b{d}", until) for d in range(3)] == [None, None, None]
    assert cache.get("c0", until) == 0
    cache.put("plain", "kept", cache.changes.seq)        # no group: only the entry count limits it
    cache.put("d0", 0, cache.changes.seq, group="d")
    assert cache.get("plain", until) == "kept" and cache.get("a0", until) is None


def test_grouped_entries_are_kept_within_the_byte_budget_but_the_group_in_use_stays():
    """At 100M events one funnel setting's days hold gigabytes: the groups used least recently go as soon
    as the groups together weigh more than the budget, however few they are."""
    cache = ResultCache(ChangeLog(), groups=6, group_bytes=3_000_000)
    day = np.zeros(125_000)                              # 1,000,000 bytes
    until = datetime(2026, 1, 1)
    cache.put("a0", day, cache.changes.seq, group="a")
    cache.put("b0", day, cache.changes.seq, group="b")
    cache.put("b1", day, cache.changes.seq, group="b")
    assert cache.grouped_bytes() == 3_000_000 and cache.get("a0", until) is not None
    cache.put("c0", day, cache.changes.seq, group="c")  # 4 MB > 3 MB: "a", used least recently, goes
    assert cache.get("a0", until) is None and cache.get("b1", until) is not None
    assert cache.grouped_bytes() == 3_000_000
    cache.drop("b1")                                     # a replaced middle part frees its bytes
    assert cache.grouped_bytes() == 2_000_000
    for n in range(5):                                   # one setting alone over the budget keeps its days
        cache.put(f"d{n}", day, cache.changes.seq, group="d")
    assert [cache.get(f"d{n}", until) is not None for n in range(5)] == [True] * 5
    assert cache.get("b0", until) is None and cache.get("c0", until) is None
    assert cache.grouped_bytes() == 5_000_000


def test_the_budget_comes_from_the_environment_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("PULSE_CACHE_MB", "2.5")
    assert ResultCache(ChangeLog())._max_group_bytes == int(2.5 * 2 ** 20)
    monkeypatch.setenv("PULSE_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="PULSE_CACHE_MB='lots'"):
        ResultCache(ChangeLog())
