"""The funnel engine (queries/funnel.py, analytics/funnel.py) against hand-worked cases and, on random event
streams, against the brute-force reference of tests/reference.py (written from docs/metrics.md)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from analytics import funnel as analysis
from app import create_app
from data import rollups
from data.validation import EVENT_COLUMNS
from data.warehouse import Warehouse
from queries.filters import FilterError, Filters
from queries.funnel import (PURCHASE_FUNNEL, FunnelOptions, funnel_breakdown, funnel_dropoffs, funnel_entities,
                            funnel_report, funnel_steps, funnel_time_histogram, funnel_times, funnel_trend)
from tests import reference

TYPES = ("page_view", "product_view", "add_to_cart", "checkout", "purchase", "signup")


def build_warehouse(path, rows: list[dict], seed: int = 0, late: int | None = None) -> Warehouse:
    """A warehouse holding `rows` as events, inserted in a shuffled order, with its derived tables; with
    `late`, inserted in time order but for `late` events moved to the end (as late events arrive)."""
    frame = pd.DataFrame(rows).reindex(columns=list(EVENT_COLUMNS))
    frame["ts"] = frame["ts"].astype("datetime64[us]")
    if late is None:
        frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    else:
        frame = frame.sort_values("ts", kind="stable")
        moved = frame.sample(n=min(late, len(frame)), random_state=seed)
        frame = pd.concat([frame.drop(moved.index), moved]).reset_index(drop=True)
    wh = Warehouse(f"duckdb:///{path}")
    with wh.driver_connection() as conn:
        conn.register("new_rows", frame)
        conn.execute("INSERT INTO events SELECT * FROM new_rows")
        conn.unregister("new_rows")
        rollups.rebuild(conn)
    return wh


def event(n: int, ts: datetime, kind: str, user: str, session: str, channel: str = "email", page="/"):
    purchase = kind == "purchase"
    return {"event_id": f"e{n:05d}", "ts": ts, "type": kind, "user_id": user, "session_id": session,
            "channel": channel, "campaign": "(none)", "device": "mobile", "region": "US", "page": page,
            "revenue": 10.0 if purchase else None, "order_id": f"o{n}" if purchase else None}


# ---- hand-worked cases -------------------------------------------------------------------------

T = datetime(2026, 11, 10)
RANGE = (T + timedelta(hours=9), T + timedelta(hours=12))   # [09:00, 12:00)
NOW = T + timedelta(hours=12)
THREE = ("page_view", "product_view", "add_to_cart")


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return T + timedelta(hours=int(hours), minutes=int(minutes))


HAND_ROWS = [
    # s1 (u1, email): the product view ties with the entry (in order), a sign-up comes between product
    # view and cart. Indirect: 3 steps. Strict: 2 (the cart is not the event right after the product view).
    event(1, at("10:00"), "page_view", "u1", "s1"), event(2, at("10:00"), "product_view", "u1", "s1"),
    event(3, at("10:05"), "signup", "u1", "s1"), event(4, at("10:10"), "add_to_cart", "u1", "s1"),
    # s2 (u2, email): the 10:00 attempt misses the cart by a minute (10:31 >= 10:00 + 30m); the 10:15
    # attempt reaches it: furthest 3, counted from 10:15. Strict: the 10:00 entry is followed by the 10:15
    # page view, not the product view; the 10:15 attempt is consecutive: 3.
    event(5, at("10:00"), "page_view", "u2", "s2"), event(6, at("10:20"), "product_view", "u2", "s2"),
    event(7, at("10:31"), "add_to_cart", "u2", "s2"), event(8, at("10:15"), "page_view", "u2", "s2"),
    # s3 (u3, paid_search): entered at 11:50, product view at 11:55; its window closes at 12:20, after now
    # (12:00): in progress at step 2, in both orders.
    event(9, at("11:50"), "page_view", "u3", "s3", "paid_search"),
    event(10, at("11:55"), "product_view", "u3", "s3", "paid_search"),
    # s4 (u3, paid_search): completes at 09:30, 09:40, 09:50. As a user, u3 has completed (counted from s4).
    event(11, at("09:30"), "page_view", "u3", "s4", "paid_search"),
    event(12, at("09:40"), "product_view", "u3", "s4", "paid_search"),
    event(13, at("09:50"), "add_to_cart", "u3", "s4", "paid_search"),
    # s5 (u4): its page view is before the range: it never enters. s6 (u5): no page view: never enters.
    event(14, at("08:50"), "page_view", "u4", "s5"), event(15, at("09:10"), "product_view", "u4", "s5"),
    event(16, at("10:00"), "product_view", "u5", "s6"),
]


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    wh = build_warehouse(tmp_path_factory.mktemp("hand") / "w.duckdb", HAND_ROWS)
    yield wh
    wh.dispose()


def run_steps(wh, **options):
    table = funnel_steps(wh, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", **options), now=NOW)
    return table[["reached", "dropped", "in_progress"]].values.tolist()


def test_hand_worked_sessions_indirect(hand):
    # s1: 3, s2: 3, s3: 2 (in progress), s4: 3
    assert run_steps(hand, count="sessions") == [[4, 0, 0], [4, 0, 1], [3, 0, 0]]
    table = funnel_steps(hand, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", count="sessions"),
                         now=NOW)
    assert table.event_type.tolist() == list(THREE)
    assert table.from_previous.tolist() == [1.0, 1.0, 0.75] and table.from_start.tolist() == [1.0, 1.0, 0.75]


def test_hand_worked_sessions_strict(hand):
    # s1: 2 (dropped: window closed at 10:30), s2: 3, s3: 2 (in progress), s4: 3
    assert run_steps(hand, count="sessions", order="strict") == [[4, 0, 0], [4, 1, 1], [2, 0, 0]]


def test_hand_worked_users(hand):
    # u1: 3, u2: 3, u3: 3 (through s4; its open s3 window does not matter once it has completed)
    assert run_steps(hand, count="users") == [[3, 0, 0], [3, 0, 0], [3, 0, 0]]
    # Only email sessions' entries: u1 and u2.
    only_email = funnel_steps(hand, Filters(channel=("email",)), *RANGE,
                              FunnelOptions(steps=THREE, window="30m", count="users"), now=NOW)
    assert only_email.reached.tolist() == [2, 2, 2]


def test_hand_worked_a_window_closed_later_is_dropped_not_in_progress(hand):
    later = funnel_steps(hand, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", count="sessions"),
                         now=NOW + timedelta(minutes=20))  # s3's window closes exactly now: dropped
    assert later[["dropped", "in_progress"]].values.tolist() == [[0, 0], [1, 0], [0, 0]]


def test_hand_worked_times_to_convert(hand):
    # Sessions, indirect: 1->2: s1 0 s, s2 5 min (from 10:15), s3 5 min, s4 10 min; 2->3: s1 10 min,
    # s2 11 min, s4 10 min; 1->3: s1 10 min, s2 16 min, s4 20 min. Percentiles interpolate linearly:
    # p90 of [0, 300, 300, 600] is at position 2.7: 300 + 0.7 x 300 = 510.
    times = funnel_times(hand, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", count="sessions"),
                         now=NOW).set_index(["from_step", "to_step"])
    assert times.loc[(1, 2)].tolist() == pytest.approx([4, 300.0, 510.0])
    assert times.loc[(2, 3)].tolist() == pytest.approx([3, 600.0, 648.0])
    assert times.loc[(1, 3)].tolist() == pytest.approx([3, 960.0, 1152.0])
    histogram = funnel_time_histogram(hand, Filters(), *RANGE,
                                      FunnelOptions(steps=THREE, window="30m", count="sessions"), now=NOW)
    first = histogram[(histogram.from_step == 1) & (histogram.to_step == 2)].set_index("bin_start_seconds").converted
    assert first[0.0] == 1 and first[300.0] == 2 and first[600.0] == 1 and first.sum() == 4  # bins [lo, hi)
    assert histogram.bin_end_seconds.max() == 1800.0  # the last bin ends at the window


def test_hand_worked_breakdown_and_dropoffs(hand):
    by_channel = funnel_breakdown(hand, Filters(), *RANGE, FunnelOptions(
        steps=THREE, window="30m", count="sessions", breakdown="channel"), now=NOW)
    assert by_channel.pivot(index="channel", columns="step", values="reached").values.tolist() == [
        [2, 2, 2], [2, 2, 1]]  # email: s1, s2; paid_search: s3 (at step 2), s4
    users = funnel_breakdown(hand, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", count="users",
                                                                    breakdown="channel"), now=NOW)
    assert users.groupby("channel").reached.first().to_dict() == {"email": 2, "paid_search": 1}
    dropped = funnel_dropoffs(hand, Filters(), *RANGE, FunnelOptions(
        steps=THREE, window="30m", count="sessions", order="strict"), step=2, now=NOW)
    assert dropped.session_id.tolist() == ["s1"]  # s3 stopped at step 2 too, but may still go on
    assert dropped.loc[0, "step_time"] == at("10:00") and dropped.loc[0, "channel"] == "email"


def test_hand_worked_trend_in_day_buckets_of_the_display_zone(hand):
    # 09:00-12:00 UTC is 04:00-07:00 in New York (UTC-5 in November): one day bucket, from 05:00 UTC.
    trend = funnel_trend(hand, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", count="sessions",
                                                                interval="day"), now=NOW, tz="America/New_York")
    assert trend.bucket.unique().tolist() == [T + timedelta(hours=5)]
    assert trend.reached.tolist() == [4, 4, 3]
    hourly = funnel_trend(hand, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", count="sessions"),
                          now=NOW)  # 3 hours: hourly by default; s4 entered at 09:30, s1 and s2 at 10:xx, s3 at 11:50
    assert hourly.pivot(index="bucket", columns="step", values="reached").values.tolist() == [
        [1, 1, 1], [2, 2, 2], [1, 1, 0]]
    with pytest.raises(FilterError) as error:
        funnel_trend(hand, Filters(), datetime(2020, 1, 1), NOW, FunnelOptions(interval="hour"), now=NOW)
    assert error.value.field == "interval"


def test_hand_worked_counted_attempt(hand):
    entities = funnel_entities(hand, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", count="users"),
                               now=NOW)
    u2 = entities.set_index("user_id").loc["u2"]
    assert u2.entry_time == at("10:15") and u2.step_3_time == at("10:31")  # not the 10:00 attempt
    u3 = entities.set_index("user_id").loc["u3"]
    assert u3.session_id == "s4" and u3.furthest_step == 3 and not u3.in_progress


def test_a_step_at_exactly_entry_plus_window_is_too_late(tmp_path):
    # Entries at 10:00 and 10:15 share the 10:20 product view; the 10:30 cart is exactly 30 minutes after
    # the first entry, outside its window: the 10:00 attempt reaches 2, the 10:15 one 3 and counts.
    rows = [event(1, at("10:00"), "page_view", "u1", "s1"), event(2, at("10:15"), "page_view", "u1", "s1"),
            event(3, at("10:20"), "product_view", "u1", "s1"), event(4, at("10:30"), "add_to_cart", "u1", "s1")]
    wh = build_warehouse(tmp_path / "w.duckdb", rows)
    for order in ("indirect", "strict"):
        entity = funnel_entities(wh, Filters(), *RANGE, FunnelOptions(steps=THREE, window="30m", order=order),
                                 now=NOW).iloc[0]
        assert (entity.furthest_step, entity.entry_time, entity.step_3_time) == (3, at("10:15"), at("10:30"))
    two_steps = funnel_steps(wh, Filters(), at("10:00"), at("10:01"), FunnelOptions(steps=THREE, window="30m"),
                             now=NOW)  # only the 10:00 entry is in range
    assert two_steps.reached.tolist() == [1, 1, 0]
    wh.dispose()


def test_tied_entries_in_two_sessions_take_the_first_session(tmp_path):
    # u1 enters at the same instant in s-b (email) and s-a (direct); both attempts reach the product view.
    rows = [event(1, at("10:00"), "page_view", "u1", "s-b", "email"),
            event(2, at("10:00"), "page_view", "u1", "s-a", "direct"),
            event(3, at("10:01"), "product_view", "u1", "s-b", "email")]
    wh = build_warehouse(tmp_path / "w.duckdb", rows)
    options = FunnelOptions(steps=("page_view", "product_view"), count="users", breakdown="channel")
    table = funnel_breakdown(wh, Filters(), *RANGE, options, now=NOW)
    assert table.channel.unique().tolist() == ["direct"]
    assert funnel_entities(wh, Filters(), *RANGE, options, now=NOW).session_id.tolist() == ["s-a"]
    wh.dispose()


# ---- random streams against the brute-force reference -------------------------------------------

def random_rows(rng: random.Random) -> list[dict]:
    """A few users with overlapping sessions; times on a coarse grid, so that events tie, fall exactly on a
    window's end, and straddle the range's bounds. Every event of a session carries its attributes."""
    rows = []
    for u in range(rng.randint(3, 9)):
        for s in range(rng.randint(1, 3)):
            ts = T + timedelta(minutes=10 * rng.randint(0, 6 * 26))
            channel, device = rng.choice(["email", "direct", "paid_search"]), rng.choice(["mobile", "desktop"])
            pages = rng.choice([["/", "/sale"], ["/sale", "/shoes"], [None]])  # no page at all: "(not set)"
            for _ in range(rng.randint(1, 9)):
                rows.append({**event(len(rows), ts, rng.choices(TYPES, weights=[5, 4, 3, 2, 2, 1])[0],
                                     f"u{u}", f"s{u}-{s}", channel, rng.choice(pages)), "device": device})
                ts += timedelta(seconds=rng.choice([0, 0, 1, 60, 600, 1800, 3600, 7200]))
    return rows


STEP_CHOICES = [PURCHASE_FUNNEL, THREE, ("product_view", "page_view"), ("page_view", "signup", "purchase"),
                ("add_to_cart", "product_view", "checkout", "purchase", "signup", "page_view")]
WINDOWS = {"30m": timedelta(minutes=30), "1h": timedelta(hours=1), "1d": timedelta(days=1)}


def random_case(seed: int):
    rng = random.Random(seed)
    start = T + timedelta(hours=rng.choice([2, 6]))
    end = start + timedelta(hours=rng.choice([6, 20]))
    now = rng.choice([end + timedelta(minutes=20), end + timedelta(days=3), end - timedelta(hours=1)])
    dims = rng.choice([{}, {}, {"channel": ("email", "paid_search")}, {"device": ("mobile",)}])
    return rng, random_rows(rng), start, end, now, rng.choice(STEP_CHOICES), dims


def expected_entities(events, start, end, now, steps, dims, count, window, order) -> dict:
    return reference.funnel_entities(events, start, end, steps, count, WINDOWS[window], order, now, **dims)


@pytest.mark.parametrize("seed", range(30))
def test_random_streams_match_the_brute_force_reference(tmp_path, seed):
    rng, rows, start, end, now, steps, dims = random_case(seed)
    wh = build_warehouse(tmp_path / "w.duckdb", rows, seed)
    check_every_option(wh, rng, rows, start, end, now, steps, dims, seed)
    wh.dispose()


def check_every_option(wh, rng, rows, start, end, now, steps, dims, seed):
    """Users and sessions, indirect and strict (a random window each): entities and step table against
    the reference."""
    events = pd.DataFrame(rows).astype({"ts": "datetime64[us]"})
    filters = Filters(**dims)
    for count in ("users", "sessions"):
        for order in ("indirect", "strict"):
            window = rng.choice(list(WINDOWS))
            options = FunnelOptions(steps=steps, count=count, window=window, order=order)
            expected = expected_entities(events, start, end, now, steps, dims, count, window, order)
            label = f"seed={seed} {count} {order} {window} {steps} {dims}"
            check_entities(funnel_entities(wh, filters, start, end, options, now), expected, options, label)
            check_steps(funnel_steps(wh, filters, start, end, options, now), expected, len(steps), label)


@pytest.mark.parametrize("seed", range(40, 50))
def test_random_streams_stored_in_time_order_match_the_reference(tmp_path, seed):
    """Events stored in time order but for a few late ones, as the app writes them: the engine's read comes
    nearly in time order and is sorted by its fast path (analytics.funnel.JourneyOrder), late events and
    all. Ids share a long prefix, so that only their last characters tell them apart."""
    rng, rows, start, end, now, steps, dims = random_case(seed)
    prefix = "visitor-" + "0" * 60
    rows = [{**row, "user_id": prefix + row["user_id"], "session_id": prefix + row["session_id"]} for row in rows]
    wh = build_warehouse(tmp_path / "w.duckdb", rows, seed, late=rng.randint(0, 4))
    check_every_option(wh, rng, rows, start, end, now, steps, dims, seed)
    wh.dispose()


@pytest.mark.parametrize("seed", range(20))
def test_journey_order_is_a_full_sort(seed):
    """JourneyOrder gives ORDER BY key, event, tie (rows equal in all three in the order read) whatever the
    input: nearly in time order with late rows, or shuffled; keys sharing all but their last bits (so that
    its one sort on the keys' top bits interleaves them); tie values with None (last)."""
    rng = np.random.default_rng(seed)
    shuffled = seed % 5 == 4  # with few rows, by the fast path; with many, by a full sort
    n = (400 if seed % 10 == 4 else 2500) if shuffled else int(rng.integers(200, 3000))
    keys = rng.integers(0, 2 ** 62, int(rng.integers(1, n // 2)), dtype=np.uint64) << np.uint64(2)
    if seed % 2:  # many keys differing in their lowest bits only
        keys = (keys >> np.uint64(20) << np.uint64(20)) | rng.integers(0, 8, len(keys), dtype=np.uint64)
    key = keys[rng.integers(0, len(keys), n)]
    event = np.sort(rng.integers(0, n // 4, n)) * 32 + rng.integers(0, 4, n)
    if shuffled:
        event = rng.permutation(event)
    else:
        late = rng.choice(n, int(rng.integers(0, 6)), replace=False)
        event[late] = rng.integers(0, n // 4, len(late)) * 32
    tie = np.array([rng.choice(["b", "a", None]) for _ in range(n)], dtype=object)
    tie_rank = np.array([{"a": 0, "b": 1, None: 2}[t] for t in tie])
    for given, rank in ((None, np.zeros(n)), (tie, tie_rank), (tie_rank.astype(np.uint64), tie_rank)):
        order = analysis.JourneyOrder(key, event, given)
        expected = np.lexsort((np.arange(n), rank, event, key))
        assert (order.source(np.arange(n)) == expected).all(), seed
        assert (order.key == key[expected]).all() and (order.event == event[expected]).all(), seed


def check_entities(actual: pd.DataFrame, expected: dict, options: FunnelOptions, label: str):
    key = "user_id" if options.count == "users" else "session_id"
    assert sorted(actual[key]) == sorted(expected), label
    for row in actual.itertuples(index=False):
        want = expected[getattr(row, key)]
        got_times = [getattr(row, f"step_{k + 1}_time") for k in range(len(options.steps))]
        assert [None if pd.isna(t) else t for t in got_times] == want["times"], (label, row)
        assert (row.furthest_step, row.in_progress, row.entry_time) == (
            want["furthest"], want["in_progress"], want["entry"]), (label, row)
        assert (row.session_id, row.user_id, row.channel, row.device, row.landing_page) == (
            want["session"], want["user_id"], want["channel"], want["device"], want["landing_page"]), (label, row)


def check_steps(actual: pd.DataFrame, expected: dict, steps: int, label: str):
    counts = reference.funnel_counts(expected, steps)
    assert actual[["step", "reached", "dropped", "in_progress"]].to_dict("records") == counts, label
    reached = [c["reached"] for c in counts]
    for k in range(steps):
        assert_ratio(actual.from_start[k], reached[k], reached[0], label)
        assert_ratio(actual.from_previous[k], reached[k], reached[k - 1] if k else reached[0], label)


def assert_ratio(actual, numerator, denominator, label):
    if denominator == 0:
        assert np.isnan(actual), label
    else:
        assert actual == pytest.approx(numerator / denominator), label


@pytest.mark.parametrize("seed", range(30, 40))
def test_random_streams_report_matches_the_reference(tmp_path, seed):
    """Breakdown, trend, times and drop-off export of one report, from the reference's entities."""
    rng, rows, start, end, now, steps, dims = random_case(seed)
    wh = build_warehouse(tmp_path / "w.duckdb", rows, seed)
    events = pd.DataFrame(rows).astype({"ts": "datetime64[us]"})
    count, order = rng.choice(["users", "sessions"]), rng.choice(["indirect", "strict"])
    breakdown = rng.choice(["channel", "landing_page", "device"])
    options = FunnelOptions(steps=steps, count=count, window="1h", order=order, breakdown=breakdown,
                            interval="hour")
    expected = expected_entities(events, start, end, now, steps, dims, count, "1h", order)
    report = funnel_report(wh, Filters(**dims), start, end, options, now)
    label = f"seed={seed} {options}"
    for value in {e[breakdown] for e in expected.values()}:
        part = {k: e for k, e in expected.items() if e[breakdown] == value}
        got = report.breakdown[report.breakdown[breakdown] == value]
        assert got[["step", "reached", "dropped", "in_progress"]].to_dict("records") == \
            reference.funnel_counts(part, len(steps)), (label, value)
    assert report.breakdown.reached.sum() == report.steps.reached.sum(), label
    check_trend(report.trend, expected, start, end, len(steps), label)
    check_times(report.times, expected, len(steps), label)
    for k in range(1, len(steps)):
        dropped = funnel_dropoffs(wh, Filters(**dims), start, end, options, step=k, now=now)
        key = "user_id" if count == "users" else "session_id"
        assert sorted(dropped[key]) == sorted(
            i for i, e in expected.items() if e["furthest"] == k and not e["in_progress"]), (label, k)
        assert all(dropped.step_time == [expected[i]["times"][k - 1] for i in dropped[key]]), (label, k)
    wh.dispose()


def check_trend(trend: pd.DataFrame, expected: dict, start, end, steps: int, label: str):
    hours = pd.date_range(pd.Timestamp(start).floor("h"), end, freq="h", inclusive="left")
    assert sorted(set(trend.bucket)) == list(hours), label
    for hour in hours:
        part = {k: e for k, e in expected.items() if pd.Timestamp(e["entry"]).floor("h") == hour}
        got = trend[trend.bucket == hour][["step", "reached", "dropped", "in_progress"]].to_dict("records")
        assert got == reference.funnel_counts(part, steps), (label, hour)


def check_times(times: pd.DataFrame, expected: dict, steps: int, label: str):
    pairs = [(k, k + 1) for k in range(1, steps)] + ([(1, steps)] if steps > 2 else [])
    assert list(zip(times.from_step, times.to_step)) == pairs, label
    for row, (a, b) in zip(times.itertuples(index=False), pairs):
        seconds = [(e["times"][b - 1] - e["times"][a - 1]).total_seconds()
                   for e in expected.values() if e["times"][b - 1] is not None]
        assert row.converted == len(seconds), label
        if seconds:
            assert row.median_seconds == pytest.approx(np.percentile(seconds, 50)), label
            assert row.p90_seconds == pytest.approx(np.percentile(seconds, 90)), label
        else:
            assert np.isnan(row.median_seconds), label


def test_random_streams_cover_the_hard_cases():
    """The generated streams hold what the comparisons must be tested on."""
    seen = {"tie": 0, "in_progress": 0, "repeat_attempt": 0, "window_edge": 0}
    for seed in range(30):
        _, rows, start, end, now, steps, dims = random_case(seed)
        events = pd.DataFrame(rows).astype({"ts": "datetime64[us]"})
        seen["tie"] += int(events.duplicated(["session_id", "ts"]).any())
        entries = events[(events.type == steps[0]) & (events.ts >= start) & (events.ts < end)]
        seen["repeat_attempt"] += int(entries.session_id.duplicated().any())
        expected = expected_entities(events, start, end, now, steps, dims, "sessions", "1h", "indirect")
        seen["in_progress"] += any(e["in_progress"] for e in expected.values())
        gaps = events.sort_values("ts").groupby("session_id").ts.diff().dropna()
        seen["window_edge"] += int((gaps == timedelta(hours=1)).any())
    assert all(n >= 5 for n in seen.values()), seen


# ---- options and the API ----------------------------------------------------------------------------

def test_options_round_trip_through_the_url():
    options = FunnelOptions(steps=("signup", "page_view", "purchase"), count="sessions", window="7d",
                            order="strict", breakdown="landing_page", interval="hour")
    assert FunnelOptions.from_query(options.to_query()) == options
    assert FunnelOptions.from_query("steps=signup&steps=purchase").steps == ("signup", "purchase")
    assert FunnelOptions.from_query("from=now-7d&channel=email") == FunnelOptions()
    assert FunnelOptions.from_query({"breakdown": ""}, FunnelOptions(breakdown="device")).breakdown is None


@pytest.mark.parametrize("query,field", [
    ("steps=page_view", "steps"),                                # one step
    ("steps=page_view,add_to_cart,page_view", "steps"),          # a repeated step
    ("steps=page_view,download", "steps"),                       # an unknown event type
    ("steps=" + ",".join(["page_view", "product_view", "add_to_cart", "checkout", "purchase", "signup"] * 2), "steps"),
    ("window=forever", "window"), ("window=31d", "window"), ("window=0m", "window"), ("window=30s", "window"),
    ("order=random", "order"), ("count=visits", "count"), ("breakdown=browser", "breakdown"),
    ("interval=week", "interval"),
])
def test_bad_options_name_the_field(query, field):
    with pytest.raises(FilterError) as error:
        FunnelOptions.from_query(query)
    assert error.value.field == field


def test_api_funnel_gives_the_query_functions_numbers(hand):
    client = create_app(hand).server.test_client()
    query = ("from=2026-11-10T09:00:00Z&to=2026-11-10T12:00:00Z&steps=page_view,product_view,add_to_cart"
             "&count=sessions&window=30m&order=indirect&breakdown=channel")
    response = client.get("/api/v1/funnel?" + query)
    assert response.status_code == 200
    body = response.get_json()
    options = FunnelOptions.from_query(query)
    report = funnel_report(hand, Filters(), *RANGE, options, now=datetime.now(timezone.utc).replace(tzinfo=None))
    assert body["options"] == options.as_dict()
    assert [r["reached"] for r in body["steps"]] == report.steps.reached.tolist() == [4, 4, 3]
    assert [r["event_type"] for r in body["steps"]] == list(THREE)
    assert [(r["channel"], r["reached"]) for r in body["breakdown"]] == list(
        zip(report.breakdown.channel, report.breakdown.reached))
    assert [r["median_seconds"] for r in body["times"]] == report.times.median_seconds.tolist()
    assert len(body["trend"]) == len(report.trend) == 3 * 3  # hours 09, 10, 11 x 3 steps
    assert body["trend"][0]["bucket"] == "2026-11-10T09:00:00Z"
    assert sum(r["converted"] for r in body["time_histogram"]) == report.time_histogram.converted.sum()


@pytest.mark.parametrize("parameter,field", [
    ("steps=page_view", "steps"), ("steps=page_view,page_view", "steps"), ("window=2y", "window"),
    ("order=sideways", "order"), ("count=clicks", "count"), ("breakdown=os", "breakdown"), ("from=soon", "from"),
])
def test_api_funnel_rejects_bad_values(hand, parameter, field):
    client = create_app(hand).server.test_client()
    response = client.get("/api/v1/funnel?from=now-1d&" + parameter)
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field and body["value"] == parameter.split("=", 1)[1]
