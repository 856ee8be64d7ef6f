"""The derived tables, kept incrementally by the writer, equal a recomputation from raw events, whatever
the batches: duplicates, late events (a session's first event arriving last), ties in timestamps."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from data import rollups
from data.validation import BatchRejected, EVENT_COLUMNS
from data.warehouse import Warehouse
from data.writer import make_writer
from tests import reference

KEYS = {"orders": ["order_id"], "customers": ["user_id"], "sessions": ["session_id"],
        "rollup_hourly": ["hour", "channel", "campaign", "device", "region"]}


def random_events(rng: np.random.Generator, sessions: int = 300) -> pd.DataFrame:
    rows, order = [], 0
    start = datetime(2026, 11, 1)
    for s in range(sessions):
        t0 = start + timedelta(minutes=int(rng.integers(0, 60 * 72)))
        for k in range(int(rng.integers(1, 8))):
            kind = rng.choice(["page_view", "product_view", "add_to_cart", "checkout", "purchase", "signup"],
                              p=[.4, .25, .12, .1, .08, .05])
            # seconds drawn from a small set: many events of a session share a timestamp
            ts = t0 + timedelta(seconds=int(rng.choice([0, 0, 5, 12, 40, 3600])) * k)
            order += kind == "purchase"
            rows.append({
                "event_id": f"e{s:04d}-{k}", "ts": ts, "type": kind, "user_id": f"u{rng.integers(0, 120)}",
                "session_id": f"s{s}", "channel": rng.choice(["email", "direct", "paid_search"]),
                "campaign": rng.choice(["(none)", "spring"]), "device": rng.choice(["mobile", "desktop"]),
                "region": rng.choice(["US", "CN", "DE"]), "page": f"/p{rng.integers(0, 5)}",
                "revenue": round(float(rng.uniform(5, 200)), 2) if kind == "purchase" else None,
                "order_id": f"o{order}" if kind == "purchase" else None, "experiment": None, "variant": None})
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    frame["ts"] = frame["ts"].astype("datetime64[us]")
    return frame


def stored(wh: Warehouse, table: str) -> pd.DataFrame:
    with wh.driver_connection() as conn:
        return conn.execute("SELECT * FROM " + table).df()


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, table: str):
    keys = KEYS[table]
    actual = actual.sort_values(keys).reset_index(drop=True)
    expected = expected[list(actual.columns)].sort_values(keys).reset_index(drop=True)
    assert len(actual) == len(expected), table
    for column in actual.columns:
        left, right = actual[column], expected[column]
        if pd.api.types.is_float_dtype(left) or column == "revenue":
            np.testing.assert_allclose(left.astype(float), right.astype(float), rtol=1e-9, err_msg=f"{table}.{column}")
        else:
            assert list(left.astype(str)) == list(right.astype(str)), f"{table}.{column}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_batches_equal_a_recomputation(tmp_path, seed):
    rng = np.random.default_rng(seed)
    events = random_events(rng)
    shuffled = events.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # late and out of order
    resent = shuffled.sample(frac=0.2, random_state=seed + 1)                     # duplicates
    stream = pd.concat([shuffled, resent], ignore_index=True)
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    writer = make_writer(wh)
    cuts = np.sort(rng.choice(np.arange(1, len(stream)), size=25, replace=False))
    inserted = 0
    bounds = [0, *cuts, len(stream)]
    for lo, hi in zip(bounds, bounds[1:]):
        inserted += writer.write("events", stream.iloc[lo:hi].reset_index(drop=True)).inserted
    assert inserted == len(events)
    expected = reference.derived_tables(events)
    for table in KEYS:
        assert_same(stored(wh, table), expected[table], table)
    writer.call(rollups.rebuild)
    for table in KEYS:
        assert_same(stored(wh, table), expected[table], table)
    moved = expected["sessions"].merge(events.groupby("session_id").channel.nunique().rename("n"), on="session_id")
    assert (moved.n > 1).any(), "the stream must contain sessions whose first event decides the channel"
    writer.stop()
    wh.dispose()


def test_a_reused_order_id_rejects_the_batch(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    writer = make_writer(wh)
    events = random_events(np.random.default_rng(9), sessions=40)
    purchases = events[events.type == "purchase"]
    writer.write("events", events)
    before = {t: len(stored(wh, t)) for t in ("events", *KEYS)}
    clash = purchases.iloc[[0]].assign(event_id="another-event")
    with pytest.raises(BatchRejected) as rejected:
        writer.write("events", pd.concat([events.iloc[[0]].assign(event_id="fresh"), clash]))
    assert rejected.value.problems[0].field == "order_id"
    assert rejected.value.problems[0].value == purchases.iloc[0].order_id
    assert {t: len(stored(wh, t)) for t in ("events", *KEYS)} == before
    twice = purchases.iloc[[1]].assign(order_id="new-order")             # an order no batch has sent yet,
    twice = pd.concat([twice.assign(event_id="first-of-two"), twice.assign(event_id="second-of-two")])  # twice
    with pytest.raises(BatchRejected) as rejected:
        writer.write("events", twice)
    assert {(p.field, p.value) for p in rejected.value.problems} == {("order_id", "new-order")}
    assert {t: len(stored(wh, t)) for t in ("events", *KEYS)} == before
    writer.stop()
    wh.dispose()


def test_a_rebuild_stores_sessions_customers_and_orders_in_time_order(warehouse):
    """Row order is what lets a query over a stretch of time skip the rest of a table (row groups' min/max):
    after the demo's bulk load, each table is stored sorted by its time column."""
    with warehouse.driver_connection() as conn:
        for table, column in (("sessions", "first_ts"), ("customers", "first_order_ts"), ("orders", "ts")):
            out_of_order = conn.execute(f"""
                SELECT count(*) FROM (SELECT {column} AS t, lag({column}) OVER (ORDER BY rowid) AS before
                                      FROM {table}) WHERE t < before""").fetchone()[0]
            assert out_of_order == 0, table
