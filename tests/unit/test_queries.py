"""Each query function against an independent pandas computation on a small generated warehouse."""
import math

import pytest

from queries.channels import campaign_performance, channel_performance
from queries.filters import Filters
from queries.funnel import PURCHASE_FUNNEL, session_funnel
from queries.kpis import kpis, kpis_with_comparison
from tests import reference
from tests.conftest import END

CASES = [
    ("now-24h", "now", {}),
    ("now-7d", "now", {"channel": ("paid_search", "email")}),
    ("now-3d", "now-1d", {"device": ("mobile",), "region": ("CN", "US")}),
    ("now-15m", "now", {}),                                    # a partial hour of spend
    ("now-2d/d", "now-1d/d", {"campaign": ("(none)",)}),
    ("now-21d", "now", {"channel": ("paid_social",), "device": ("desktop", "tablet")}),
]


def assert_close(actual, expected, label):
    if expected is None:
        assert actual is None or math.isnan(actual), label
    else:
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), label


@pytest.mark.parametrize("start,end,dims", CASES)
def test_kpis_match_pandas(warehouse, raw, start, end, dims):
    filters = Filters(start=start, end=end, **dims)
    lo, hi = filters.resolve(END)
    expected = reference.kpis(raw["events"], raw["ad_spend"], lo, hi, **dims)
    assert expected["sessions"] > 0, "the case must select some data to be a test at all"
    actual = kpis(warehouse, filters, lo, hi).iloc[0]
    for name, value in expected.items():
        assert_close(actual[name], value, name)


def test_comparison_uses_the_previous_period(warehouse, raw):
    filters = Filters(start="now-2d", end="now", compare="previous", channel=("organic_search",))
    table = kpis_with_comparison(warehouse, filters, now=END)
    lo, hi = filters.resolve(END)
    previous = reference.kpis(raw["events"], raw["ad_spend"], lo - (hi - lo), lo, channel=("organic_search",))
    current = reference.kpis(raw["events"], raw["ad_spend"], lo, hi, channel=("organic_search",))
    row = table.set_index("kpi").loc["sessions"]
    assert row.previous == previous["sessions"] and row.current == current["sessions"]
    assert row.change == pytest.approx(current["sessions"] / previous["sessions"] - 1)


@pytest.mark.parametrize("start,end,dims", CASES)
def test_session_funnel_matches_pandas(warehouse, raw, start, end, dims):
    filters = Filters(start=start, end=end, **dims)
    lo, hi = filters.resolve(END)
    expected = reference.session_funnel(raw["events"], lo, hi, PURCHASE_FUNNEL, **dims)
    table = session_funnel(warehouse, filters, lo, hi)
    assert list(table.sessions) == expected
    assert table.from_start.iloc[-1] == pytest.approx(expected[-1] / expected[0])


@pytest.mark.parametrize("start,end,dims", CASES[:3])
def test_channel_performance_matches_pandas(warehouse, raw, start, end, dims):
    filters = Filters(start=start, end=end, **dims)
    lo, hi = filters.resolve(END)
    chosen = reference.scoped(raw["events"], lo, hi, **dims)
    spend_rows = reference.spend(raw["ad_spend"], lo, hi, **dims)
    table = channel_performance(warehouse, filters, lo, hi).set_index("channel")
    sessions = reference.counted_sessions(raw["events"], lo, hi, **dims).groupby("channel").size()
    purchases = chosen[chosen.type == "purchase"]
    revenue = purchases.groupby("session_channel").revenue.sum()
    cost = (spend_rows.cost * spend_rows.share).groupby(spend_rows.channel).sum()
    assert set(table.index) == set(sessions.index) | set(cost.index)
    for channel, row in table.iterrows():
        assert row.sessions == sessions.get(channel, 0)
        assert row.revenue == pytest.approx(revenue.get(channel, 0.0))
        if not (dims.get("device") or dims.get("region")):
            assert row.spend == pytest.approx(cost.get(channel, 0.0))
            if cost.get(channel, 0) > 0:
                assert row.roas == pytest.approx(revenue.get(channel, 0.0) / cost[channel])
        else:
            assert math.isnan(row.spend)


@pytest.mark.parametrize("start,end,dims", CASES[:4])
def test_campaign_performance_matches_pandas(warehouse, raw, start, end, dims):
    filters = Filters(start=start, end=end, **dims)
    lo, hi = filters.resolve(END)
    chosen = reference.scoped(raw["events"], lo, hi, **dims)
    spend_rows = reference.spend(raw["ad_spend"], lo, hi, **dims)
    table = campaign_performance(warehouse, filters, lo, hi).set_index(["channel", "campaign"])
    keys = ["channel", "campaign"]
    sessions = reference.counted_sessions(raw["events"], lo, hi, **dims).groupby(keys).size()
    purchases = chosen[chosen.type == "purchase"]
    orders = purchases.groupby(["session_channel", "session_campaign"]).size()
    revenue = purchases.groupby(["session_channel", "session_campaign"]).revenue.sum()
    cost = (spend_rows.cost * spend_rows.share).groupby([spend_rows.channel, spend_rows.campaign]).sum()
    assert set(table.index) == set(sessions.index) | set(cost.index)
    assert list(table.revenue) == sorted(table.revenue, reverse=True)
    for key, row in table.iterrows():
        assert (row.sessions, row.orders) == (sessions.get(key, 0), orders.get(key, 0)), key
        assert row.revenue == pytest.approx(revenue.get(key, 0.0)), key
        if dims.get("device") or dims.get("region"):
            assert math.isnan(row.spend)
        else:
            assert row.spend == pytest.approx(cost.get(key, 0.0)), key


def test_filter_choices_are_the_attributes_sessions_have(warehouse, raw):
    from queries.dimensions import dimension_options
    sessions = reference.session_attributes(raw["events"])
    options = dimension_options(warehouse)
    values = {dim: {o["value"] for o in options[dim]} for dim in options}
    assert values["region"] == set(sessions.region)
    assert set(sessions.campaign) <= values["campaign"]
    assert set(sessions.channel) <= values["channel"]
