"""Headline KPIs of a range. Definitions: docs/metrics.md (one place, one query)."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.scope import (dimension_predicate, event_counts_cte, sessions_cte, spend_cte, spend_is_divisible,
                           with_ctes)

KPI_COLUMNS = ("sessions", "users", "page_views", "bounce_rate", "conversion_rate", "orders", "revenue",
               "average_order_value", "signups", "spend", "roas", "cpa", "cac")


def kpis(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """One row of KPIs for [start, end) under the filters' dimensions."""
    ctes, params = with_ctes(sessions_cte(filters, start, end), event_counts_cte(filters, start, end),
                             spend_cte(filters, start, end))
    sql = ctes + """,
    first_orders AS (   -- orders that are their customer's first ever, in range, of sessions in scope
        SELECT o.user_id FROM orders o
        JOIN customers c ON c.user_id = o.user_id AND c.first_order_ts = o.ts
        JOIN sessions s ON s.session_id = o.session_id
        WHERE o.ts >= :start AND o.ts < :end AND """ + _session_predicate(filters) + """
    )
    SELECT
        (SELECT count(*) FROM counted_sessions)                                   AS sessions,
        (SELECT count(DISTINCT user_id) FROM counted_sessions)                    AS users,
        (SELECT count(*) FILTER (WHERE engaged) FROM counted_sessions)            AS engaged_sessions,
        (SELECT count(*) FILTER (WHERE purchases > 0) FROM counted_sessions)      AS converted_sessions,
        (SELECT coalesce(sum(page_views), 0) FROM event_counts)                   AS page_views,
        (SELECT coalesce(sum(signups), 0) FROM event_counts)                      AS signups,
        (SELECT coalesce(sum(orders), 0) FROM event_counts)                       AS orders,
        (SELECT coalesce(sum(revenue), 0) FROM event_counts)                      AS revenue,
        (SELECT count(DISTINCT user_id) FROM first_orders)                        AS new_customers,
        (SELECT coalesce(sum(cost * share), 0) FROM scoped_spend)                 AS spend
    """
    return derive(wh.read(sql, params), spend_known=spend_is_divisible(filters))


def _session_predicate(filters: Filters) -> str:
    predicate, _ = dimension_predicate(filters, "s")  # same bound names as sessions_cte's parameters
    return predicate


def derive(counts: pd.DataFrame, spend_known: bool) -> pd.DataFrame:
    """The KPIs from their counts (one row per period or bucket): the ratios defined once, here."""
    out = counts.copy()
    for column in ("sessions", "users", "engaged_sessions", "converted_sessions", "page_views", "signups",
                   "orders", "new_customers"):
        out[column] = out[column].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0).astype(float)
    out["spend"] = out["spend"].fillna(0).astype(float) if spend_known else float("nan")
    out["bounce_rate"] = 1 - ratio(out["engaged_sessions"], out["sessions"])
    out["conversion_rate"] = ratio(out["converted_sessions"], out["sessions"])
    out["average_order_value"] = ratio(out["revenue"], out["orders"])
    out["roas"] = ratio(out["revenue"], out["spend"])
    out["cpa"] = ratio(out["spend"], out["orders"])
    out["cac"] = ratio(out["spend"], out["new_customers"])
    extra = [c for c in out.columns if c not in KPI_COLUMNS and c in ("bucket", "channel")]
    return out[extra + list(KPI_COLUMNS)]


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
