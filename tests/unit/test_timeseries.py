"""KPIs over time against plain pandas bucketing of the raw events."""
from datetime import timedelta

import pandas as pd
import pytest

from queries.filters import Filters
from queries.timeseries import STEPS, TOTAL, timeseries, utc_offset
from tests import reference
from tests.conftest import END

CASES = [
    ("now-3h", "now", "UTC", {}),                                       # 5-minute buckets, raw events
    ("now-2d", "now", "UTC", {"channel": ("paid_search", "email")}),    # hourly buckets from the rollup
    ("now-14d", "now", "Asia/Shanghai", {}),                            # days from local midnight
    ("now-10d", "now-3d", "America/New_York", {"device": ("mobile",)}),
    ("now-6d", "now", "Asia/Kolkata", {}),        # UTC+5:30: a UTC hour of the rollup spans two local days
    ("now-40h", "now", "Asia/Kolkata", {}),       # hourly buckets on the half hour: raw events, spend cut in two
]


@pytest.mark.parametrize("start,end,tz,dims", CASES)
def test_buckets_match_pandas(warehouse, raw, start, end, tz, dims):
    filters = Filters(start=start, end=end, **dims)
    lo, hi = filters.resolve(END, tz)
    series = timeseries(warehouse, filters, lo, hi, tz=tz)
    totals = series[series.channel == TOTAL].set_index("bucket")
    step = {"now-3h": "5min", "now-2d": "hour", "now-40h": "hour"}.get(start, "day")
    expected = reference.timeseries_totals(raw["events"], raw["ad_spend"], lo, hi, STEPS[step],
                                           utc_offset(tz, lo), **dims)
    assert list(totals.index) == list(expected.index)
    for column in ("sessions", "users", "page_views", "orders"):
        assert list(totals[column]) == list(expected[column].astype(int)), column
    assert totals.revenue.tolist() == pytest.approx(expected.revenue.tolist())
    if not dims.get("device"):
        assert totals.spend.tolist() == pytest.approx(expected.spend.tolist())
    else:
        assert totals.spend.isna().all()


def test_channels_add_up_to_the_totals(warehouse):
    filters = Filters(start="now-3d", end="now")
    lo, hi = filters.resolve(END)
    series = timeseries(warehouse, filters, lo, hi, step="hour")
    by_channel = series[series.channel != TOTAL].groupby("bucket")[["sessions", "orders", "revenue", "spend"]].sum()
    totals = series[series.channel == TOTAL].set_index("bucket")[["sessions", "orders", "revenue", "spend"]]
    pd.testing.assert_frame_equal(by_channel, totals, check_dtype=False)


def test_local_days_start_at_local_midnight(warehouse):
    filters = Filters(start="now-7d", end="now")
    lo, hi = filters.resolve(END, "Asia/Shanghai")
    buckets = timeseries(warehouse, filters, lo, hi, tz="Asia/Shanghai").bucket.unique()
    assert all((b + timedelta(hours=8)).hour == 0 for b in buckets[1:])
