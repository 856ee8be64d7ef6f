"""The funnel walked by cached pieces of time (queries/funnel.py `_walk_pieces`, analytics.funnel.merge): with
the warehouse's result cache on, every table must equal the one-read engine's (cache off) and the brute-force
reference of tests/reference.py, cold, warm, and after a late event reaches back into a cached piece."""
from __future__ import annotations

import random
from datetime import timedelta

import pandas as pd
import pytest

from data.writer import make_writer
from queries import funnel as funnel_queries
from queries.filters import Filters
from queries.funnel import PURCHASE_FUNNEL, FunnelOptions, funnel_report, funnel_steps
from tests import reference
from tests.unit.test_funnel import (STEP_CHOICES, THREE, TYPES, WINDOWS, T, build_warehouse, check_steps,
                                    check_times, event, random_case)

ORDERS = [(count, order) for count in ("users", "sessions") for order in ("indirect", "strict")]


def uncached(wh, fn):
    """`fn()` with the result cache off: one read of the whole range."""
    saved, wh.results = wh.results, None
    try:
        return fn()
    finally:
        wh.results = saved


def assert_same_report(got, want, label):
    for name in ("steps", "breakdown", "trend", "times", "time_histogram"):
        a, b = getattr(got, name), getattr(want, name)
        if b is None:
            assert a is None, (label, name)
        else:
            pd.testing.assert_frame_equal(a, b, obj=f"{label} {name}")


def days_rows(rng: random.Random, days: int = 5) -> list[dict]:
    """Users coming back over several days (so that a user's attempts fall in several pieces), sessions
    that run past midnight, ties, and times on a coarse grid."""
    rows = []
    for u in range(rng.randint(6, 12)):
        for s in range(rng.randint(1, 4)):
            ts = T + timedelta(minutes=20 * rng.randint(0, 3 * 24 * days))
            channel = rng.choice(["email", "direct", "paid_search"])
            pages = rng.choice([["/", "/sale"], ["/shoes"], [None]])
            for _ in range(rng.randint(1, 8)):
                rows.append({**event(len(rows), ts, rng.choices(TYPES, weights=[5, 4, 3, 2, 2, 1])[0],
                                     f"u{u}", f"s{u}-{s}", channel, rng.choice(pages)),
                             "device": rng.choice(["mobile", "desktop"])})
                ts += timedelta(seconds=rng.choice([0, 0, 60, 600, 3600, 4 * 3600, 20 * 3600]))
    return rows


def check_against_reference(wh, rows, filters, dims, start, end, now, options, label):
    events = pd.DataFrame(rows).astype({"ts": "datetime64[us]"})
    window = options.window_length
    expected = reference.funnel_entities(events, start, end, options.steps, options.count, window,
                                         options.order, now, **dims)
    check_steps(funnel_steps(wh, filters, start, end, options, now), expected, len(options.steps), label)
    report = funnel_report(wh, filters, start, end, options, now)
    check_times(report.times, expected, len(options.steps), label)
    if options.breakdown:
        for value in {e[options.breakdown] for e in expected.values()}:
            part = {k: e for k, e in expected.items() if e[options.breakdown] == value}
            got = report.breakdown[report.breakdown[options.breakdown] == value]
            assert got[["step", "reached", "dropped", "in_progress"]].to_dict("records") == \
                reference.funnel_counts(part, len(options.steps)), (label, value)
    # The trend is bucketed by the counted attempt's entry: it tells which attempt counted.
    for bucket, rows_of_bucket in report.trend.groupby("bucket"):
        part = {k: e for k, e in expected.items()
                if pd.Timestamp(e["entry"]).floor("h" if options.interval == "hour" else "D") == bucket}
        assert rows_of_bucket[["step", "reached", "dropped", "in_progress"]].to_dict("records") == \
            reference.funnel_counts(part, len(options.steps)), (label, bucket)
    return expected


@pytest.mark.parametrize("seed", range(12))
def test_random_streams_by_cached_pieces_match_the_one_read_engine_and_the_reference(tmp_path, monkeypatch, seed):
    """The test module's random streams (hours long) cut in pieces of 1 to 5 hours, so that ranges span many
    pieces, open and closed."""
    rng, rows, start, end, now, steps, dims = random_case(seed)
    monkeypatch.setattr(funnel_queries, "PIECE", timedelta(hours=1 + seed % 5))
    wh = build_warehouse(tmp_path / "w.duckdb", rows, seed)
    wh.cache_results()
    filters = Filters(**dims)
    for count, order in ORDERS:
        options = FunnelOptions(steps=steps, count=count, window=rng.choice(list(WINDOWS)), order=order,
                                breakdown=rng.choice([None, "channel", "landing_page"]), interval="hour")
        label = f"seed={seed} {options} {dims} now={now}"
        want = uncached(wh, lambda: funnel_report(wh, filters, start, end, options, now))
        cold = funnel_report(wh, filters, start, end, options, now)
        hits, misses = wh.results.hits, wh.results.misses
        warm = funnel_report(wh, filters, start, end, options, now)
        spans = funnel_queries.piece_spans(start, end)
        closed = [hi for _, hi in spans if hi + options.window_length <= now]
        # No closed piece walked again, but a partial first piece (not kept: ranges ending now move)
        partial_first = bool(closed) and spans[0][0] != funnel_queries._piece_start(spans[0][0])
        assert wh.results.misses == misses + partial_first, label
        assert wh.results.hits - hits >= bool(closed) + bool(options.breakdown), label  # pieces, labels
        assert_same_report(cold, want, label)
        assert_same_report(warm, want, label)
        check_against_reference(wh, rows, filters, dims, start, end, now, options, label)
        # A refresh 10 minutes later: the range moves, the first piece is new, the closed ones are kept.
        later = timedelta(minutes=10)
        assert_same_report(funnel_report(wh, filters, start + later, end + later, options, now + later),
                           uncached(wh, lambda: funnel_report(wh, filters, start + later, end + later, options,
                                                              now + later)), label + " later")
    wh.dispose()


@pytest.mark.parametrize("seed", range(6))
def test_days_of_returning_users_by_cached_days(tmp_path, seed):
    """Day pieces (the default), over five days of users coming back: a user's furthest step and counted
    attempt come from several days."""
    rng = random.Random(100 + seed)
    rows = days_rows(rng)
    wh = build_warehouse(tmp_path / "w.duckdb", rows, seed)
    wh.cache_results()
    start, end = T + timedelta(hours=rng.choice([0, 7])), T + timedelta(days=5, hours=rng.choice([0, 5]))
    steps = rng.choice(STEP_CHOICES)
    for now in (end + timedelta(hours=2), end + timedelta(days=3)):
        for count, order in ORDERS:
            options = FunnelOptions(steps=steps, count=count, window=rng.choice(["1h", "1d"]), order=order,
                                    breakdown="channel", interval="day")
            label = f"seed={seed} {options} now={now}"
            assert_same_report(funnel_report(wh, Filters(), start, end, options, now),
                               uncached(wh, lambda: funnel_report(wh, Filters(), start, end, options, now)), label)
            check_against_reference(wh, rows, Filters(), {}, start, end, now, options, label)
            assert_same_report(funnel_report(wh, Filters(), start, end, options, now),
                               uncached(wh, lambda: funnel_report(wh, Filters(), start, end, options, now)), label)
    # The streams hold users entering on two days or more (their pieces merge).
    events = pd.DataFrame(rows).astype({"ts": "datetime64[us]"})
    entries = events[(events.type == steps[0]) & (events.ts >= start) & (events.ts < end)]
    assert (entries.assign(day=entries.ts.dt.floor("D")).groupby("user_id").day.nunique() > 1).any()
    wh.dispose()


def test_a_user_whose_furthest_step_is_on_a_later_day(tmp_path):
    """u1: day 1 reaches step 2, day 3 reaches step 3 (counted from day 3); u2: step 3 on day 1 and again on
    day 3 (counted from day 1, the earliest); s4 of u3 enters at 23:50 and converts after midnight."""
    day = timedelta(days=1)
    rows = [event(1, T + timedelta(hours=10), "page_view", "u1", "s1"),
            event(2, T + timedelta(hours=10, minutes=5), "product_view", "u1", "s1"),
            event(3, T + 2 * day + timedelta(hours=9), "page_view", "u1", "s2"),
            event(4, T + 2 * day + timedelta(hours=9, minutes=1), "product_view", "u1", "s2"),
            event(5, T + 2 * day + timedelta(hours=9, minutes=2), "add_to_cart", "u1", "s2"),
            event(6, T + timedelta(hours=11), "page_view", "u2", "s3"),
            event(7, T + timedelta(hours=11, minutes=1), "product_view", "u2", "s3"),
            event(8, T + timedelta(hours=11, minutes=2), "add_to_cart", "u2", "s3"),
            event(9, T + 2 * day + timedelta(hours=11), "page_view", "u2", "s5"),
            event(10, T + 2 * day + timedelta(hours=11, minutes=1), "product_view", "u2", "s5"),
            event(11, T + 2 * day + timedelta(hours=11, minutes=2), "add_to_cart", "u2", "s5"),
            event(12, T + timedelta(hours=23, minutes=50), "page_view", "u3", "s4"),
            event(13, T + day + timedelta(minutes=10), "product_view", "u3", "s4"),
            event(14, T + day + timedelta(minutes=20), "add_to_cart", "u3", "s4")]
    wh = build_warehouse(tmp_path / "w.duckdb", rows)
    wh.cache_results()
    start, end, now = T, T + 4 * day, T + 10 * day
    options = FunnelOptions(steps=THREE, count="users", window="1h", interval="day")
    for _ in range(2):  # cold, then from the cache
        report = funnel_report(wh, Filters(), start, end, options, now)
        assert report.steps.reached.tolist() == [3, 3, 3]
        trend = report.trend[report.trend.step == 3].set_index("bucket").reached
        # counted entries: u2 and u3 on day 1, u1 on day 3
        assert trend[T] == 2 and trend[T + 2 * day] == 1 and trend.sum() == 3
        # u1 from day 3: 1 minute to step 2; u2 from day 1: 1 minute; u3: 20 minutes
        times = report.times.set_index(["from_step", "to_step"])
        assert times.loc[(1, 2), "median_seconds"] == 60.0 and times.loc[(1, 2), "converted"] == 3
    sessions = funnel_steps(wh, Filters(), start, end, options.with_changes(count="sessions"), now)
    assert sessions.reached.tolist() == [5, 5, 4]  # s1 stops at step 2
    wh.dispose()


def test_a_late_event_in_a_cached_day_invalidates_it(tmp_path):
    """A step-2 event arrives late (through the writer, as the app ingests it) for an entity that stopped at
    step 1 days ago, at its entry's instant (in order in both orders): its day's cached piece must be
    recomputed, and exactly that entity moves on."""
    rng = random.Random(5)
    rows = days_rows(rng)
    wh = build_warehouse(tmp_path / "w.duckdb", rows)
    writer = make_writer(wh)  # the writer's commits reach the cache's change log
    assert wh.results is not None
    start, end = T, T + timedelta(days=5)
    now = end + timedelta(days=2)
    events = pd.DataFrame(rows).astype({"ts": "datetime64[us]"})
    try:
        for count, order in ORDERS:
            options = FunnelOptions(steps=PURCHASE_FUNNEL, count=count, window="1d", order=order,
                                    breakdown="channel", interval="day")
            before_ref = reference.funnel_entities(events, start, end, options.steps, count, timedelta(days=1),
                                                   order, now)
            before = funnel_report(wh, Filters(), start, end, options, now)
            hits = wh.results.hits
            assert_same_report(funnel_report(wh, Filters(), start, end, options, now), before, "warm")
            assert wh.results.hits > hits
            stopped = sorted(k for k, e in before_ref.items() if e["furthest"] == 1 and e["entry"] >= start
                             + timedelta(days=1))
            entity = before_ref[stopped[0]]
            template = wh.read("SELECT * FROM events WHERE session_id = :s AND ts = :t AND type = 'page_view' "
                               "ORDER BY event_id LIMIT 1", {"s": entity["session"], "t": entity["entry"]})
            late = template.assign(event_id=f"late-{count}-{order}", type="product_view")
            writer.write("events", late)
            rows = rows + [{**late.iloc[0].to_dict(), "ts": entity["entry"]}]
            events = pd.DataFrame(rows).astype({"ts": "datetime64[us]"})
            label = f"{count} {order} {stopped[0]}"
            after = funnel_report(wh, Filters(), start, end, options, now)
            assert_same_report(after, uncached(wh, lambda: funnel_report(wh, Filters(), start, end, options, now)),
                               label)
            check_against_reference(wh, rows, Filters(), {}, start, end, now, options, label)
            assert after.steps.reached[1] == before.steps.reached[1] + 1, label
            assert after.steps.reached[0] == before.steps.reached[0], label
    finally:
        writer.stop()
        wh.dispose()


def test_a_new_breakdown_value_is_labelled(tmp_path):
    """Breakdown labels are kept across requests; a value first seen after that (a new channel) is read."""
    rows = [event(1, T + timedelta(hours=10), "page_view", "u1", "s1", "email"),
            event(2, T + timedelta(hours=10, minutes=1), "product_view", "u1", "s1", "email")]
    wh = build_warehouse(tmp_path / "w.duckdb", rows)
    writer = make_writer(wh)
    start, end, now = T, T + timedelta(days=2), T + timedelta(days=2)
    options = FunnelOptions(steps=("page_view", "product_view"), count="sessions", window="1h",
                            breakdown="channel")
    try:
        first = funnel_report(wh, Filters(), start, end, options, now).breakdown
        assert first.channel.unique().tolist() == ["email"]
        late = wh.read("SELECT * FROM events WHERE event_id = 'e00001'").assign(
            event_id="new-1", session_id="s2", user_id="u2", channel="affiliate", ts=T + timedelta(days=1, hours=3))
        writer.write("events", late)
        table = funnel_report(wh, Filters(), start, end, options, now).breakdown
        assert table.groupby("channel").reached.first().to_dict() == {"affiliate": 1, "email": 1}
    finally:
        writer.stop()
        wh.dispose()


def test_a_range_moved_by_a_day_replaces_its_merged_days(tmp_path):
    """The merged part of the closed days is large: when the range moves on a day, the old one is dropped
    (a range of another length keeps its own), and the numbers stay the one-read engine's."""
    rows = days_rows(random.Random(9))
    wh = build_warehouse(tmp_path / "w.duckdb", rows)
    wh.cache_results()
    options = FunnelOptions(steps=THREE, count="users", window="1h")

    def merged_parts():
        return sorted(key for key in wh.results._store._cache if ".." in key)

    for shift, length in ((0, 3), (1, 3), (1, 2)):
        start = T + timedelta(days=shift, hours=7)
        end = start + timedelta(days=length)
        now = end + timedelta(hours=2)
        assert_same_report(funnel_report(wh, Filters(), start, end, options, now),
                           uncached(wh, lambda: funnel_report(wh, Filters(), start, end, options, now)),
                           f"shift {shift} length {length}")
    kept = merged_parts()
    assert len(kept) == 2, kept  # the 3-day range's latest (the first was dropped) and the 2-day range's
    assert all(k.split("|")[-1].startswith((T + timedelta(days=2)).isoformat()) for k in kept), kept
    wh.dispose()
