"""The spend plan and the targets (queries/plan.py) against the monthly budgets and targets read with plain
SQL and prorated by hand; the demo's targets against its raw events."""
from datetime import datetime

import pandas as pd
import pytest

from analytics.pacing import share_done
from queries.filters import Filters
from queries.plan import planned_kpis, planned_spend


def budget(warehouse, month: str, channel: str | None = None) -> float:
    with warehouse.driver_connection() as conn:
        rows = conn.execute("SELECT channel, planned FROM budgets WHERE month = CAST(? AS DATE)", [month]).fetchall()
    return sum(planned for name, planned in rows if channel in (None, name))


def test_a_range_across_two_months_takes_each_months_share(warehouse):
    lo, hi = datetime(2026, 10, 31, 12), datetime(2026, 11, 1, 12)   # half a day of each month
    expected = budget(warehouse, "2026-10-01", "paid_search") / 31 / 2 + budget(warehouse, "2026-11-01", "paid_search") / 30 / 2
    assert expected > 0
    assert planned_spend(warehouse, Filters(channel=("paid_search",)), lo, hi) == pytest.approx(expected)


def test_all_channels_and_none_planned(warehouse):
    lo, hi = datetime(2026, 11, 10), datetime(2026, 11, 17)
    assert planned_spend(warehouse, Filters(), lo, hi) == pytest.approx(budget(warehouse, "2026-11-01") * 7 / 30)
    assert planned_spend(warehouse, Filters(channel=("email",)), lo, hi) is None     # email has no budget
    assert planned_spend(warehouse, Filters(), datetime(2020, 1, 1), datetime(2020, 1, 2)) is None


# ---- the business's targets (revenue, orders, conversion rate, ROAS) ----

def target(warehouse, month: str, kpi: str) -> float:
    with warehouse.driver_connection() as conn:
        return conn.execute("SELECT target FROM targets WHERE month = CAST(? AS DATE) AND kpi = ?", [month, kpi]).fetchone()[0]


def test_the_demo_starts_with_targets_five_percent_above_its_last_four_weeks(warehouse, raw):
    events = raw["events"]
    last = events.ts.max()
    recent = events[(events.ts >= last - pd.Timedelta(days=28)) & (events.ts < last) & (events.type == "purchase")]
    per_day = recent.drop_duplicates("order_id").revenue.sum() / 28
    assert target(warehouse, "2026-11-01", "revenue") == pytest.approx(per_day * 30 * 1.05, abs=50)   # to the 100
    assert target(warehouse, "2026-12-01", "revenue") == pytest.approx(per_day * 31 * 1.05, abs=50)   # the next month too
    assert 0 < target(warehouse, "2026-11-01", "conversion_rate") < 0.2


def test_totals_are_prorated_and_rates_weighted_by_the_time_in_each_month(warehouse):
    lo, hi = datetime(2026, 10, 31, 18), datetime(2026, 11, 1, 12)   # 6 h of October, 12 h of November
    plan = planned_kpis(warehouse, Filters(), lo, hi)
    assert plan["revenue"] == pytest.approx(target(warehouse, "2026-10-01", "revenue") * 6 / (31 * 24)
                                            + target(warehouse, "2026-11-01", "revenue") * 12 / (30 * 24))
    october, november = 6 / (31 * 24), 12 / (30 * 24)
    assert plan["roas"] == pytest.approx((target(warehouse, "2026-10-01", "roas") * october
                                          + target(warehouse, "2026-11-01", "roas") * november) / (october + november))
    assert set(plan) == {"revenue", "orders", "conversion_rate", "roas"}


def test_no_plan_under_a_dimension_filter_or_where_a_month_has_no_target(warehouse):
    week = datetime(2026, 11, 10), datetime(2026, 11, 17)
    assert planned_kpis(warehouse, Filters(device=("mobile",)), *week) == {}    # targets are the whole business's
    assert planned_kpis(warehouse, Filters(), datetime(2020, 1, 1), datetime(2020, 1, 2)) == {}
    assert planned_kpis(warehouse, Filters(), datetime(2026, 12, 31), datetime(2027, 1, 2)) == {}  # January has none


def test_the_share_of_a_day_done_follows_last_weeks_curve():
    day = datetime(2026, 11, 13)
    hours = pd.DataFrame({"bucket": [day + pd.Timedelta(hours=h) for h in range(24)],
                          "revenue": [0.0] * 8 + [10.0] * 16})              # nothing before 08:00
    assert share_done(hours, "revenue", day + pd.Timedelta(hours=8), 1 / 3) == 0.0
    assert share_done(hours, "revenue", day + pd.Timedelta(hours=12, minutes=30), 0.52) == pytest.approx(45 / 160)
    assert share_done(hours.assign(revenue=0.0), "revenue", day + pd.Timedelta(hours=12), 0.5) == 0.5  # evenly


def test_targets_are_set_and_read_through_the_api_and_bad_ones_change_nothing(writable):
    wh, client = writable
    ok = client.put("/api/v1/targets", json={"month": "2026-11", "kpi": "revenue", "target": 250000})
    assert ok.status_code == 200, ok.get_json()
    assert client.get("/api/v1/targets?month=2026-11").get_json()["targets"]["revenue"] == 250000
    before = wh.read("SELECT * FROM targets ORDER BY month, kpi")
    for body, field in (({"month": "2026-13", "kpi": "revenue", "target": 1}, "month"),
                        ({"month": "2026-11", "kpi": "profit", "target": 1}, "kpi"),
                        ({"month": "2026-11", "kpi": "orders", "target": -5}, "target"),
                        ({"month": "2026-11", "kpi": "conversion_rate", "target": 2.5}, "target"),
                        ({"month": "2026-11", "kpi": "roas", "target": "high"}, "target"),
                        ({"month": "2026-11", "kpi": "roas"}, "target")):
        bad = client.put("/api/v1/targets", json=body)
        assert bad.status_code == 400 and bad.get_json()["field"] == field, body
    assert client.get("/api/v1/targets?month=November").status_code == 400
    pd.testing.assert_frame_equal(wh.read("SELECT * FROM targets ORDER BY month, kpi"), before)
