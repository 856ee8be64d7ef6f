"""bench/make_warehouse.py: a warehouse made in chunks holds about the events asked for, ends now, has every
table, and its derived tables equal a recomputation from its raw events (pandas here, not the rollups' SQL).

A small warehouse simulated two days at a time, so events, users, sessions and orders cross chunk
boundaries as they do at 100M events."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from make_warehouse import make_warehouse  # noqa: E402

EVENTS, DAYS = 60_000, 10
COUNTS = ("events", "page_views", "product_views", "add_to_carts", "checkouts", "purchases", "signups",
          "orders", "revenue")
TYPES = {"page_view": "page_views", "product_view": "product_views", "add_to_cart": "add_to_carts",
         "checkout": "checkouts", "purchase": "purchases", "signup": "signups"}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    directory = tmp_path_factory.mktemp("made")
    result = make_warehouse(EVENTS, directory, days=DAYS, seed=3, chunk_events=12_000, memory_limit="1GB")
    return result, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@pytest.fixture(scope="module")
def db(made):
    conn = duckdb.connect(made[0]["path"], read_only=True)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def events(db):
    return db.execute("SELECT * FROM events").df()


def test_it_was_made_in_several_chunks(made):
    assert made[0]["chunks"] >= 5 and made[0]["chunk_days"] == 2


def test_about_the_events_asked_for(events):
    # Within 5 %: the pilot run calibrates the whole days, and the day ending now adds its hours so far, whose
    # share of a day's traffic follows the hour (at 60,000 events, 2.0 % off at 20:10 UTC).
    assert abs(len(events) - EVENTS) < 0.05 * EVENTS


def test_the_newest_data_is_now(made, db):
    newest, spend_hour = db.execute("SELECT (SELECT max(ts) FROM events), (SELECT max(ts) FROM ad_spend)").fetchall()[0]
    finished = made[1]
    assert finished - dt.timedelta(minutes=3) < newest <= finished
    assert spend_hour == finished.replace(minute=0, second=0, microsecond=0)


def test_history_spans_the_days_asked_for(events, made):
    first = events.ts.min()
    assert first.date() == (made[1] - dt.timedelta(days=DAYS)).date()


def test_event_ids_count_in_time_order_across_chunks(events):
    generated = events[events.event_id.str.startswith("e")].sort_values("event_id")
    assert generated.event_id.is_unique
    assert generated.event_id.iloc[0] == "e000000001"
    assert (np.diff(generated.ts.to_numpy()) >= np.timedelta64(0)).all()
    numbers = generated.event_id.str[1:].astype(int).to_numpy()
    assert (numbers == np.arange(1, len(generated) + 1)).all()


def test_a_session_keeps_its_attributes_and_user_across_chunks(events):
    per_session = events.groupby("session_id")[["user_id", "channel", "campaign", "device", "region"]].nunique()
    assert (per_session == 1).all().all()


def test_new_users_are_new_across_chunks(events):
    """A signup happens in a user's first session: a user number reused by a later chunk would sign up
    in a session that is not their first."""
    sessions = events.groupby("session_id").agg(user_id=("user_id", "first"), start=("ts", "min"),
                                                signup=("type", lambda t: (t == "signup").any()))
    sessions = sessions.sort_values("start")
    first = ~sessions.duplicated("user_id")
    assert sessions.signup.sum() > 50
    assert first[sessions.signup].all()
    returning = sessions[~first]
    assert len(returning) > 0.1 * len(sessions)


def test_order_ids_are_unique_and_one_per_purchase(events):
    purchases = events[events.type == "purchase"]
    assert purchases.order_id.notna().all() and purchases.order_id.is_unique
    assert events[events.type != "purchase"].order_id.isna().all()
    assert (purchases.revenue > 0).all()


def test_sessions_equal_a_recomputation_from_events(db, events):
    e = events.sort_values(["ts", "event_id"])
    first = e.groupby("session_id").first()
    expected = pd.DataFrame({
        "user_id": first.user_id, "first_ts": e.groupby("session_id").ts.min(), "first_event_id": first.event_id,
        "last_ts": e.groupby("session_id").ts.max(), "channel": first.channel, "campaign": first.campaign,
        "device": first.device, "region": first.region, "landing_page": first.page})
    counts = pd.crosstab(e.session_id, e.type).reindex(columns=list(TYPES), fill_value=0).rename(columns=TYPES)
    expected = expected.join(counts)
    expected["events"] = e.groupby("session_id").size()
    expected["orders"] = expected.purchases
    expected["revenue"] = e[e.type == "purchase"].groupby("session_id").revenue.sum().reindex(expected.index,
                                                                                            fill_value=0.0)
    stored = db.execute("SELECT * FROM sessions").df().set_index("session_id").sort_index()
    expected = expected.sort_index()
    assert list(stored.index) == list(expected.index)
    for column in ("user_id", "first_ts", "first_event_id", "last_ts", "channel", "campaign", "device", "region",
                   "landing_page", *COUNTS[:-1]):
        assert (stored[column].to_numpy() == expected[column].to_numpy()).all(), column
    assert np.allclose(stored.revenue, expected.revenue)


def test_orders_and_customers_equal_a_recomputation_from_events(db, events):
    purchases = events[events.type == "purchase"].set_index("order_id").sort_index()
    orders = db.execute("SELECT * FROM orders").df().set_index("order_id").sort_index()
    assert list(orders.index) == list(purchases.index)
    for column in ("ts", "event_id", "session_id", "user_id", "revenue"):
        assert (orders[column].to_numpy() == purchases[column].to_numpy()).all(), column
    customers = db.execute("SELECT * FROM customers").df().set_index("user_id").sort_index()
    by_user = purchases.groupby("user_id")
    assert list(customers.index) == sorted(by_user.groups)
    assert (customers.first_order_ts.to_numpy() == by_user.ts.min().to_numpy()).all()
    assert (customers.orders.to_numpy() == by_user.size().to_numpy()).all()
    assert np.allclose(customers.revenue.to_numpy(), by_user.revenue.sum().to_numpy())


def test_hourly_rollup_equals_a_recomputation_from_events(db, events):
    e = events.sort_values(["ts", "event_id"])
    attributes = e.groupby("session_id")[["channel", "campaign", "device", "region"]].first()
    e = e.drop(columns=["channel", "campaign", "device", "region"]).join(attributes, on="session_id")
    e["hour"] = e.ts.dt.floor("h")
    keys = ["hour", "channel", "campaign", "device", "region"]
    for kind, column in TYPES.items():
        e[column] = (e.type == kind).astype(int)
    e["events"] = 1
    e["orders"] = e.purchases
    e["revenue"] = e.revenue.where(e.type == "purchase", 0.0)
    expected = e.groupby(keys)[list(COUNTS)].sum().sort_index()
    stored = db.execute("SELECT * FROM rollup_hourly").df().set_index(keys).sort_index()
    assert list(stored.index) == list(expected.index)
    for column in COUNTS[:-1]:
        assert (stored[column].to_numpy() == expected[column].to_numpy()).all(), column
    assert np.allclose(stored.revenue, expected.revenue)


def test_derived_tables_of_the_history_are_stored_in_time_order(db):
    """As `rebuild` writes them (the top-up's few rows, written by the ingest path, come after)."""
    for table, column, key, prefix in (("sessions", "first_ts", "session_id", "s"), ("orders", "ts", "order_id", "o")):
        times = db.execute(f"SELECT {column} FROM {table} WHERE {key} LIKE ? || '%' ORDER BY rowid",
                           [prefix]).df()[column]
        assert len(times) > 100, table
        assert times.is_monotonic_increasing, table


def test_spend_and_the_other_tables_are_there(db):
    paid = {name for (name,) in db.execute("SELECT name FROM channels WHERE paid AND name != 'unassigned'").fetchall()}
    spent = db.execute("SELECT channel, sum(cost) AS cost, count(DISTINCT ts) AS hours FROM ad_spend GROUP BY 1").df()
    assert set(spent.channel) == paid
    assert (spent.cost > 0).all() and (spent.hours >= DAYS * 24).all()
    budget_months = db.execute("SELECT count(DISTINCT month) FROM budgets").fetchall()[0][0]
    assert budget_months >= 2
    for table in ("targets", "experiments", "experiment_variants", "annotations", "campaigns"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] > 0, table
    topics = {t for (t,) in db.execute("SELECT topic FROM ground_truth").fetchall()}
    assert {"generator", "experiments", "response_curves", "funnel", "incidents"} <= topics


def test_experiment_truth_counts_the_exposed_users_of_every_chunk(db):
    truth = json.loads(db.execute("SELECT body FROM ground_truth WHERE topic = 'experiments'").fetchall()[0][0])
    observed = db.execute("""
        SELECT count(*) FILTER (WHERE k = 1), count(*) FILTER (WHERE k > 1) FROM (
            SELECT user_id, count(DISTINCT variant) AS k FROM events
            WHERE experiment = 'checkout_redesign' AND event_id LIKE 'e%' GROUP BY user_id)""").fetchall()[0]
    t = truth["checkout_redesign"]
    assert (t["exposed_users_single_variant"], t["exposed_users_multi_variant"]) == observed


def test_the_command_refuses_an_existing_warehouse(made):
    directory = str(Path(made[0]["path"]).parent)
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "make_warehouse.py"), "--events", "5000",
                          "--data-dir", directory], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "--data-dir" in run.stderr and "--replace" in run.stderr


def test_the_tables_filled_without_keys_have_their_primary_keys_back(db):
    """Built after the bulk load (data/schema.add_key), as the schema declares them: the ingest path's
    ON CONFLICT needs them."""
    keys = dict(db.execute("SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                           "WHERE constraint_type = 'PRIMARY KEY'").fetchall())
    assert keys["events"] == ["event_id"] and keys["sessions"] == ["session_id"]
    assert keys["orders"] == ["order_id"] and keys["customers"] == ["user_id"]
    assert keys["rollup_hourly"] == ["hour", "channel", "campaign", "device", "region"]


def test_top_up_fills_the_gap_to_now_at_the_history_rate(tmp_path):
    """A history ending 3 hours ago, topped up later (`--top-up`): events and spend for every hour of the
    gap, at about the rate of the same hours a day earlier, and the newest event is now."""
    from make_warehouse import top_up_existing

    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    end = now.replace(second=0, microsecond=0) - dt.timedelta(hours=3)
    made = make_warehouse(40_000, tmp_path, days=4, seed=4, end=end, chunk_events=40_000, fill_to_now=False)
    with duckdb.connect(made["path"], read_only=True) as conn:
        before = conn.execute("SELECT count(*) FROM events").fetchall()[0][0]
    written = top_up_existing(tmp_path)
    conn = duckdb.connect(made["path"], read_only=True)
    try:
        total, gap, day_before, newest = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE ts >= ?), count(*) FILTER (WHERE ts >= ? AND ts < ?), max(ts) "
            "FROM events", [end, end - dt.timedelta(days=1), now - dt.timedelta(days=1)]).fetchall()[0]
        spend_hours = conn.execute("SELECT count(DISTINCT ts) FROM ad_spend WHERE ts >= ?",
                                   [end.replace(minute=0)]).fetchall()[0][0]
    finally:
        conn.close()
    assert written == total - before > 0  # (the top-up starts at the history's newest event, just before `end`)
    assert 0.6 < gap / day_before < 1.6
    assert newest > dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=2)
    assert spend_hours >= 3
