"""The wall's numbers (pages/wall.py shows them; its exports read them): today so far against the same time on the
same day last week and against plan, revenue so far through the day, the channel mix and the firing alerts.
Every number comes from the monitoring view's query functions, so the two always agree."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from analytics.pacing import share_done
from queries.alerts import active
from queries.channels import channel_performance
from queries.filters import Filters
from queries.health import newest_event
from queries.kpis import kpis_with_comparison
from queries.plan import planned_kpis, planned_spend
from queries.timeseries import TOTAL, timeseries

# Today (from local midnight), against the same time on the same day last week.
DEFAULTS = Filters(start="now/d", end="now", compare="week")
HEADLINE = ("revenue", "orders", "conversion_rate", "spend", "roas")


def wall_data(wh, tz: str, filters: Filters, now: datetime) -> dict:
    """Everything the wall shows at `now`, before formatting."""
    if filters.compare == "none":  # the wall always says how today compares
        filters = filters.with_changes(compare="week")
    start, end = filters.resolve(now, tz)
    earlier = filters.comparison(now, tz)
    # Last week's curve runs through the whole day, so today's can be read against where it will end.
    whole = max(end - start, timedelta(days=1))
    day_before = (earlier[0], earlier[0] + whole)
    last_week = timeseries(wh, filters, *day_before, step="hour", tz=tz)
    return {
        "kpis": kpis_with_comparison(wh, filters, now=now, tz=tz).set_index("kpi"),
        "plan": _plan(wh, filters, (start, end), day_before, last_week[last_week.channel == TOTAL]),
        # the buckets the tiles' KPIs are summed from (queries/kpis.py): the same cached pieces, read once
        "today": _cumulative(timeseries(wh, filters, start, end, tz=tz)),
        "last_week": _cumulative(last_week),
        "shift": start - earlier[0],
        "mix": channel_performance(wh, filters, start, end, tz),
        "alerts": active(wh, include_pending=False),
        "newest": newest_event(wh),
    }


def _plan(wh, filters: Filters, today: tuple, day_before: tuple, last_week: pd.DataFrame) -> dict:
    """Plan to date per KPI. Spend: the budgets spread evenly (as the budget view paces them). Revenue
    and orders: the whole day's target times the share of last week's same day that was done by this
    time of day (they do not arrive evenly: a plan spread evenly would read 30 % behind every morning);
    evenly when last week had none. Conversion rate and ROAS: their targets."""
    (start, end), whole = today, day_before[1] - day_before[0]
    plan = planned_kpis(wh, filters, start, start + whole)
    for kpi in ("revenue", "orders"):
        if kpi in plan:
            plan[kpi] *= share_done(last_week, kpi, day_before[0] + (end - start), (end - start) / whole)
    spend = planned_spend(wh, filters, start, end)
    return plan | ({"spend": spend} if spend else {})


def _cumulative(series: pd.DataFrame) -> pd.DataFrame:
    """Revenue so far at the end of each hour (bucket), as (bucket, channel, revenue)."""
    totals = series[series.channel == TOTAL][["bucket", "revenue"]].sort_values("bucket")
    return totals.assign(revenue=totals.revenue.cumsum(), channel="today")
