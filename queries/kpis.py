"""Headline KPIs of a range. Definitions: docs/metrics.md (one place, one query)."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.scope import event_counts_cte, sessions_cte, spend_cte, spend_is_divisible, with_ctes

KPI_COLUMNS = ("sessions", "users", "orders", "revenue", "conversion_rate", "average_order_value", "spend", "roas")


def kpis(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """One row of KPIs for [start, end) under the filters' dimensions."""
    ctes, params = with_ctes(sessions_cte(filters, start, end), event_counts_cte(filters, start, end),
                             spend_cte(filters, start, end))
    sql = ctes + """
    SELECT
        (SELECT count(*) FROM counted_sessions)                                   AS sessions,
        (SELECT count(DISTINCT user_id) FROM counted_sessions)                    AS users,
        (SELECT count(*) FILTER (WHERE purchases > 0) FROM counted_sessions)      AS converted_sessions,
        (SELECT coalesce(sum(orders), 0) FROM event_counts)                       AS orders,
        (SELECT coalesce(sum(revenue), 0) FROM event_counts)                      AS revenue,
        (SELECT coalesce(sum(cost * share), 0) FROM scoped_spend)                 AS spend
    """
    return _derive(wh.read(sql, params), spend_known=spend_is_divisible(filters))


def _derive(row: pd.DataFrame, spend_known: bool) -> pd.DataFrame:
    out = row.astype({"sessions": "int64", "users": "int64", "orders": "int64", "converted_sessions": "int64"})
    out["revenue"] = out["revenue"].astype(float)
    out["spend"] = out["spend"].astype(float) if spend_known else float("nan")
    out["conversion_rate"] = ratio(out["converted_sessions"], out["sessions"])
    out["average_order_value"] = ratio(out["revenue"], out["orders"])
    out["roas"] = ratio(out["revenue"], out["spend"])
    return out[list(KPI_COLUMNS)]


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN where the denominator is zero or unknown (shown as "–")."""
    denominator = denominator.astype(float)
    return numerator.astype(float) / denominator.where(denominator > 0)


def kpis_with_comparison(wh: Warehouse, filters: Filters, now: datetime | None = None, tz: str = "UTC") -> pd.DataFrame:
    """KPIs of the range and, when comparison is on, of the comparison period: columns `kpi`, `current`,
    `previous`, `change` (relative; NaN when there is nothing to compare against)."""
    start, end = filters.resolve(now, tz)
    current = kpis(wh, filters, start, end).iloc[0]
    period = filters.comparison(now, tz)
    previous = kpis(wh, filters, *period).iloc[0] if period else pd.Series(float("nan"), index=current.index)
    table = pd.DataFrame({"kpi": list(KPI_COLUMNS), "current": current.values.astype(float),
                          "previous": previous.values.astype(float)})
    table["change"] = (table["current"] - table["previous"]) / table["previous"].where(table["previous"] != 0)
    return table
