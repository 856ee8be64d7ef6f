"""The spend plan: what the monthly budgets (`budgets`) planned to spend over a range, each month's budget
spread evenly over the month's (UTC) hours. One definition for the wall's "spend against plan" and the
budget view's pacing ("plan to date")."""
from __future__ import annotations

import calendar
from datetime import datetime, timedelta

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters


def planned_by_channel(wh: Warehouse, start: datetime, end: datetime) -> pd.Series:
    """Planned spend over [start, end) (UTC) per channel with a budget in those months."""
    months = _months(start, end)
    rows = wh.read("SELECT month, channel, planned FROM budgets WHERE month IN :months",
                   {"months": [m.date() for m in months]})
    share = {}
    for month in months:
        month_end = month + timedelta(days=calendar.monthrange(month.year, month.month)[1])
        share[month.date()] = max(min(end, month_end) - max(start, month), timedelta(0)) / (month_end - month)
    weights = pd.to_datetime(rows["month"]).dt.date.map(share).astype(float)
    return (rows["planned"].astype(float) * weights).groupby(rows["channel"]).sum()


def planned_spend(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> float | None:
    """Planned spend over [start, end) for the filters' channels; None when no budget covers them."""
    plan = planned_by_channel(wh, start, end)
    if filters.channel:
        plan = plan[plan.index.isin(filters.channel)]
    return float(plan.sum()) if len(plan) else None


def _months(start: datetime, end: datetime) -> list[datetime]:
    month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = []
    while month < end:
        out.append(month)
        month += timedelta(days=calendar.monthrange(month.year, month.month)[1])
    return out
