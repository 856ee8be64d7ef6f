"""Attribution models (analytics/attribution.py, queries/attribution.py) against hand-worked journeys."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics import attribution as attribution_models
from analytics.attribution import MODELS, journey_weights
from data.validation import EVENT_COLUMNS
from queries.attribution import AttributionOptions, attribution_report, credit_by_model, journeys
from queries.channels import channel_performance
from queries.filters import FilterError, Filters
from tests.unit.test_funnel import build_warehouse

# ---- the weights of one journey, worked by hand ----------------------------------------------------

DAYS = np.array([20.0, 10.0, 0.0])   # touches 20 and 10 days before the order, and the order's session


@pytest.mark.parametrize("model, expected", [
    ("last_click", [0, 0, 1]),
    ("first_click", [1, 0, 0]),
    ("linear", [1 / 3, 1 / 3, 1 / 3]),
    ("position_based", [0.4, 0.2, 0.4]),
    # half-life 7 days: 2^(-20/7), 2^(-10/7), 1 = 0.13801, 0.37150, 1; sum 1.50951
    ("time_decay", [0.13801 / 1.50951, 0.37150 / 1.50951, 1 / 1.50951]),
])
def test_three_touch_journey(model, expected):
    assert journey_weights(model, -DAYS, 0.0) == pytest.approx(expected, abs=2e-5)


@pytest.mark.parametrize("n, expected", [
    (1, [1.0]),
    (2, [0.5, 0.5]),                            # no middle: the two ends split everything
    (4, [0.4, 0.1, 0.1, 0.4]),                  # the middle's 20% over two touches
    (6, [0.4, 0.05, 0.05, 0.05, 0.05, 0.4]),
])
def test_position_based_by_length(n, expected):
    assert journey_weights("position_based", np.arange(n, dtype=float), n) == pytest.approx(expected)


def test_time_decay_halves_every_seven_days_and_ties_share():
    # two touches 7 days apart: 1/3 and 2/3; a second touch at the same instant shares the same weight
    assert journey_weights("time_decay", [-7.0, 0.0], 0.0) == pytest.approx([1 / 3, 2 / 3])
    assert journey_weights("time_decay", [-7.0, -7.0, 0.0], 0.0) == pytest.approx([0.25, 0.25, 0.5])
    times = np.array(["2026-11-01T10:00", "2026-11-08T10:00"], dtype="datetime64[s]")
    assert journey_weights("time_decay", times, np.datetime64("2026-11-08T10:00")) == pytest.approx([1 / 3, 2 / 3])


def test_every_model_gives_each_journey_a_total_of_one():
    for model in MODELS:
        for n in range(1, 8):
            assert journey_weights(model, np.arange(n, dtype=float), n + 0.5).sum() == pytest.approx(1.0)


# ---- journeys read from a warehouse ----------------------------------------------------------------

ORDER_DAY = datetime(2026, 11, 10, 12, 0)
RANGE = (datetime(2026, 11, 9), datetime(2026, 11, 11))


def touch(n: int, user: str, session: str, channel: str, days_before: float, *, revenue: float | None = None):
    ts = ORDER_DAY - timedelta(days=days_before)
    row = {"event_id": f"e{n:04d}", "ts": ts, "type": "page_view", "user_id": user, "session_id": session,
           "channel": channel, "campaign": "(none)", "device": "desktop", "region": "US", "page": "/",
           "revenue": None, "order_id": None}
    if revenue is None:
        return [row]
    # the order comes a minute after the landing page view, in the same session
    purchase = {**row, "event_id": f"e{n:04d}p", "ts": ts + timedelta(minutes=1), "type": "purchase",
                "revenue": revenue, "order_id": f"o{n}"}
    return [row, purchase]


HAND = [
    # u1 (order 100, a new customer): paid_social 40 days before (outside the 30-day lookback), search
    # 20 days before, email 10, direct on the day (the order's session).
    *touch(1, "u1", "u1a", "paid_social", 40), *touch(2, "u1", "u1b", "paid_search", 20),
    *touch(3, "u1", "u1c", "email", 10), *touch(4, "u1", "u1d", "direct", 0, revenue=100.0),
    # u2 (order 50): one referral session; a display session starting after it (before the order) is
    # not part of the journey: the order's own session is always the last touch.
    *touch(5, "u2", "u2a", "referral", 0, revenue=50.0),
    {**touch(6, "u2", "u2b", "display", 0)[0], "ts": ORDER_DAY + timedelta(seconds=30)},
    # u3 (order 80, a returning customer: they ordered 60 days before, outside the range): search 2 days
    # before, then email (the order's session)
    *touch(7, "u3", "u3a", "paid_search", 60, revenue=30.0),
    *touch(8, "u3", "u3b", "paid_search", 2), *touch(9, "u3", "u3c", "email", 0, revenue=80.0),
    # u4 (order 200): display, video, display, then paid search (the order's session)
    *touch(10, "u4", "u4a", "display", 6), *touch(11, "u4", "u4b", "video", 4),
    *touch(12, "u4", "u4c", "display", 2), *touch(13, "u4", "u4d", "paid_search", 0, revenue=200.0),
]

def decay(days_before: list[float]) -> np.ndarray:
    age = np.array(days_before) + 1 / 1440               # the order is a minute after its session starts
    raw = 0.5 ** (age / 7)
    return raw / raw.sum()


# Revenue per channel and model, worked by hand from the journeys above.
U1 = decay([20, 10, 0])          # search, email, direct
U3 = decay([2, 0])               # search, email
U4 = decay([6, 4, 2, 0])         # display, video, display, search
EXPECTED = {
    "last_click": {"direct": 100, "referral": 50, "email": 80, "paid_search": 200},
    "first_click": {"paid_search": 100 + 80, "referral": 50, "display": 200},
    "linear": {"paid_search": 100 / 3 + 40 + 50, "email": 100 / 3 + 40, "direct": 100 / 3, "referral": 50,
               "display": 100, "video": 50},
    "position_based": {"paid_search": 40 + 40 + 80, "email": 20 + 40, "direct": 40, "referral": 50,
                       "display": 80 + 20, "video": 20},
    "time_decay": {"paid_search": 100 * U1[0] + 80 * U3[0] + 200 * U4[3], "email": 100 * U1[1] + 80 * U3[1],
                   "direct": 100 * U1[2], "referral": 50, "display": 200 * (U4[0] + U4[2]), "video": 200 * U4[1]},
}


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    wh = build_warehouse(tmp_path_factory.mktemp("attribution") / "w.duckdb", HAND)
    yield wh
    wh.dispose()


@pytest.mark.parametrize("model", MODELS)
def test_hand_worked_revenue_per_channel(hand, model):
    report = attribution_report(hand, Filters(), *RANGE, AttributionOptions(model, 30))
    got = report.channels.set_index("channel")["revenue"]
    for channel, revenue in EXPECTED[model].items():
        assert got[channel] == pytest.approx(revenue), channel
    assert got.sum() == pytest.approx(430.0)          # every model hands out each order exactly once
    assert set(got[got > 1e-9].index) == set(EXPECTED[model])


def test_hand_worked_orders_and_new_customers(hand):
    table = attribution_report(hand, Filters(), *RANGE, AttributionOptions("linear", 30)).channels.set_index("channel")
    # orders: u1 1/3 each to search, email, direct; u2 1 referral; u3 1/2 search, 1/2 email; u4 1/2 display,
    # 1/4 video, 1/4 search. New customers: u1, u2, u4 (u3 had ordered before).
    assert table.loc["paid_search", "orders"] == pytest.approx(1 / 3 + 1 / 2 + 1 / 4)
    assert table.loc["email", "orders"] == pytest.approx(1 / 3 + 1 / 2)
    assert table.loc["paid_search", "new_customers"] == pytest.approx(1 / 3 + 1 / 4)
    assert table.loc["email", "new_customers"] == pytest.approx(1 / 3)
    assert table["share_of_revenue"].sum() == pytest.approx(1.0)


def test_lookback_window_takes_older_touches_in(hand):
    # with 45 days u1's paid social touch (40 days before) joins: first click moves u1's 100 to it
    report = attribution_report(hand, Filters(), *RANGE, AttributionOptions("first_click", 45))
    got = report.channels.set_index("channel")["revenue"]
    assert got["paid_social"] == pytest.approx(100) and got["paid_search"] == pytest.approx(80)
    # a 5-day lookback leaves u1 with its direct session only, and u4 without its first display touch
    short = attribution_report(hand, Filters(), *RANGE, AttributionOptions("first_click", 5)).channels
    got = short.set_index("channel")["revenue"]
    assert got["direct"] == pytest.approx(100) and got["video"] == pytest.approx(200)


def test_ranking_follows_the_models(hand):
    report = attribution_report(hand, Filters(), *RANGE, AttributionOptions("first_click", 30))
    ranks = report.ranks.set_index("channel")
    # last click: search 200 > direct 100 > email 80 > referral 50; first click: display 200 first
    assert ranks.loc["paid_search", "last_click"] == 1 and ranks.loc["direct", "last_click"] == 2
    assert ranks.loc["display", "first_click"] == 1 and ranks.loc["paid_search", "first_click"] == 2
    display = report.channels.set_index("channel").loc["display"]
    assert display["rank"] == 1 and display["rank_change"] == display["last_click_rank"] - 1 > 0


def test_journeys_end_with_the_orders_session(hand):
    touches = journeys(hand, Filters(), *RANGE, 30)
    last = touches.groupby("journey").tail(1).set_index("order_id")["channel"].to_dict()
    assert last == {"o4": "direct", "o5": "referral", "o9": "email", "o13": "paid_search"}


def test_last_click_is_the_channel_table_on_a_generated_warehouse(warehouse):
    start, end = datetime(2026, 11, 12), datetime(2026, 11, 19)
    report = attribution_report(warehouse, Filters(), start, end, AttributionOptions("last_click"))
    mine = report.channels.set_index("channel")
    theirs = channel_performance(warehouse, Filters(), start, end).set_index("channel")
    for channel in theirs.index[theirs.revenue > 0]:
        assert mine.loc[channel, "revenue"] == pytest.approx(theirs.loc[channel, "revenue"])
        assert mine.loc[channel, "spend"] == pytest.approx(theirs.loc[channel, "spend"])
    for model in MODELS:
        assert report.models[model].sum() == pytest.approx(theirs.revenue.sum())


@pytest.mark.parametrize("query, field", [("attribution=u_shaped", "attribution"), ("lookback=0", "lookback"),
                                          ("lookback=91", "lookback"), ("lookback=week", "lookback")])
def test_bad_options_name_the_field(query, field):
    with pytest.raises(FilterError) as error:
        AttributionOptions.from_query(query)
    assert error.value.field == field


def test_cached_days_give_the_credit_of_one_read_and_a_late_order_is_counted(writable):
    """With the server's result cache, each day's credit is kept; a range assembled from kept days equals
    one read of all its journeys, before and after a late order lands in a kept day."""
    wh, client = writable
    start, end = datetime(2026, 11, 17, 6), datetime(2026, 11, 20, 12)

    def one_read():
        touches = journeys(wh, Filters(), start, end, 30)
        return {m: attribution_models.attribute(touches, m) for m in attribution_models.MODELS}

    def check(got, expected):
        for model in attribution_models.MODELS:
            pd.testing.assert_frame_equal(got[model].sort_index(), expected[model].sort_index(), check_exact=False,
                                          rtol=1e-9, check_names=False)

    check(credit_by_model(wh, Filters(), start, end, 30), one_read())
    misses = wh.results.misses
    check(credit_by_model(wh, Filters(), start, end, 30), one_read())
    assert wh.results.misses == misses                      # every day from the cache

    orders = wh.read("SELECT * FROM events WHERE type = 'purchase' AND ts < '2026-11-18' ORDER BY ts")
    late = orders.iloc[[-1]].assign(event_id="late-order-event", order_id="late-order", revenue=1000.0,
                                    ts=orders.ts.iloc[-1] + pd.Timedelta(seconds=1))
    before = one_read()
    client.application.extensions["pulse.writer"].write("events", late[list(EVENT_COLUMNS)].reset_index(drop=True))
    after = one_read()
    assert after["last_click"].revenue.sum() == pytest.approx(before["last_click"].revenue.sum() + 1000.0)
    check(credit_by_model(wh, Filters(), start, end, 30), after)
