"""The plan: what the monthly budgets (`budgets`) planned to spend over a range, each month's budget
spread evenly over the month's (UTC) hours (one definition for the wall's "spend against plan" and the
budget view's pacing, "plan to date"); and the business's monthly targets (`targets`) for revenue,
orders, conversion rate and ROAS over a range."""
from __future__ import annotations

import calendar
import math
from datetime import date, datetime, timedelta

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import FilterError, Filters


def planned_by_channel(wh: Warehouse, start: datetime, end: datetime) -> pd.Series:
    """Planned spend over [start, end) (UTC) per channel with a budget in those months."""
    months = _months(start, end)
    if not months:  # an empty range plans nothing (and an empty IN list is not SQL)
        return pd.Series(dtype=float)
    rows = wh.read("SELECT month, channel, planned FROM budgets WHERE month IN :months",
                   {"months": [m.date() for m in months]})
    share = {month.date(): _covered(month, start, end) for month in months}
    weights = pd.to_datetime(rows["month"]).dt.date.map(share).astype(float)
    return (rows["planned"].astype(float) * weights).groupby(rows["channel"]).sum()


def planned_spend(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> float | None:
    """Planned spend over [start, end) for the filters' channels; None when no budget covers them."""
    plan = planned_by_channel(wh, start, end)
    if filters.channel:
        plan = plan[plan.index.isin(filters.channel)]
    return float(plan.sum()) if len(plan) else None


TARGET_KPIS = ("revenue", "orders", "conversion_rate", "roas")
TOTALS = ("revenue", "orders")   # a month's total, prorated; the others are rates, averaged


def planned_kpis(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> dict[str, float]:
    """The targets over [start, end), for the KPIs with a target in every month the range touches:
    revenue and orders are each month's target prorated by the share of the month the range covers;
    conversion rate and ROAS are the months' targets weighted by the range's time in each. Targets are
    the whole business's: under a dimension filter there is none."""
    if filters.dimension_values() or end <= start:
        return {}
    months = _months(start, end)
    rows = wh.read("SELECT month, kpi, target FROM targets WHERE month IN :months",
                   {"months": [m.date() for m in months]})
    weights = {m.date(): _covered(m, start, end) for m in months}
    plan = {}
    for kpi in TARGET_KPIS:
        mine = rows[rows.kpi == kpi]
        targets = dict(zip(pd.to_datetime(mine.month).dt.date, mine.target.astype(float)))
        if set(targets) != set(weights):
            continue  # a month without a target: no plan rather than part of one
        weighted = sum(targets[m] * w for m, w in weights.items())
        plan[kpi] = weighted if kpi in TOTALS else weighted / sum(weights.values())
    return plan


def _covered(month: datetime, start: datetime, end: datetime) -> float:
    """The share of `month` inside [start, end)."""
    month_end = month + timedelta(days=calendar.monthrange(month.year, month.month)[1])
    return max(min(end, month_end) - max(start, month), timedelta(0)) / (month_end - month)


def _months(start: datetime, end: datetime) -> list[datetime]:
    month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = []
    while month < end:
        out.append(month)
        month += timedelta(days=calendar.monthrange(month.year, month.month)[1])
    return out


def parse_month(value) -> date:
    """A month given as YYYY-MM (or its first day, YYYY-MM-01), as its first day; a FilterError otherwise."""
    day = None
    if isinstance(value, str) and len(value) in (7, 10):
        try:
            day = date.fromisoformat(value if len(value) == 10 else value + "-01")
        except ValueError:
            day = None
    if day is None or day.day != 1:
        raise FilterError("month", str(value)[:200], "must be a month as YYYY-MM (or its first day, YYYY-MM-01)")
    return day


def check_target(month, kpi, value) -> tuple[date, str, float]:
    """A target as it will be stored, or a FilterError naming the bad field."""
    day = parse_month(month)
    if kpi not in TARGET_KPIS:
        raise FilterError("kpi", str(kpi)[:200], f"must be one of {', '.join(TARGET_KPIS)}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise FilterError("target", value if isinstance(value, (int, float)) else str(value)[:200],
                          "must be a finite number ≥ 0")
    if kpi == "conversion_rate" and value > 1:
        raise FilterError("target", value, "a conversion rate is a fraction between 0 and 1 (0.025 = 2.5 %)")
    return day, kpi, float(value)


def write_target(conn, month: date, kpi: str, value: float) -> None:
    """Store a checked target (through a writer connection, inside `Writer.call`)."""
    conn.execute("INSERT INTO targets (month, kpi, target) VALUES (?, ?, ?) "
                 "ON CONFLICT (month, kpi) DO UPDATE SET target = excluded.target", [month, kpi, value])


def targets_of(wh: Warehouse, month: date) -> dict[str, float]:
    rows = wh.read("SELECT kpi, target FROM targets WHERE month = :month ORDER BY kpi", {"month": month})
    return dict(zip(rows.kpi, rows.target.astype(float)))
