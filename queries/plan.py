"""The spend plan: what the monthly budgets (`budgets`) planned to spend over a range, spread evenly over
each month's hours, for "spend against plan" on the wall display."""
from __future__ import annotations

import calendar
from datetime import datetime, timedelta

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters


def planned_spend(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> float | None:
    """Planned spend over [start, end) (UTC) for the filters' channels: each month's budget spread evenly
    over the month's (UTC) hours. None when no budget covers the range."""
    months = _months(start, end)
    channels = list(filters.channel) or None
    rows = wh.read("""
        SELECT month, sum(planned) AS planned FROM budgets
        WHERE month IN :months AND (:all_channels OR channel IN :channels)
        GROUP BY month""", {"months": [m.date() for m in months], "all_channels": channels is None,
                            "channels": channels or ["-"]})
    if rows.empty:
        return None
    budget = {pd.Timestamp(r.month).date(): r.planned for r in rows.itertuples()}
    total = 0.0
    for month in months:
        days = calendar.monthrange(month.year, month.month)[1]
        month_end = month + timedelta(days=days)
        overlap = min(end, month_end) - max(start, month)
        total += budget.get(month.date(), 0.0) * max(overlap, timedelta(0)) / timedelta(days=days)
    return total


def _months(start: datetime, end: datetime) -> list[datetime]:
    month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = []
    while month < end:
        out.append(month)
        days = calendar.monthrange(month.year, month.month)[1]
        month += timedelta(days=days)
    return out
