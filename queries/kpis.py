"""Headline KPIs of a range. Definitions: docs/metrics.md (one place, one query)."""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from data.warehouse import Warehouse
from queries import side_by_side
from queries.filters import Filters
from queries.timeseries import TOTAL, bucket_counts, choose_step
from queries.users import distinct_users
from queries.measures import KPI_COLUMNS, derive  # noqa: F401 - the KPIs' names, re-exported
from queries.scope import (dimension_predicate, event_counts_cte, sessions_cte, spend_cte, spend_is_divisible,
                           with_ctes)


def kpis(wh: Warehouse, filters: Filters, start: datetime, end: datetime, tz: str = "UTC") -> pd.DataFrame:
    """One row of KPIs for [start, end) under the filters' dimensions. Where the warehouse caches results,
    the sum of the trend charts' cached buckets (the same pieces, so the tiles and charts cost one
    computation) and the distinct users of the range (queries/users.py); otherwise one query."""
    if wh.results is None:
        return _kpis_in_one_query(wh, filters, start, end)
    # the users' query runs while the buckets are read
    users = side_by_side.pool("users").submit(distinct_users, wh, filters, start, end, tz)
    counts = bucket_counts(wh, filters, start, end, choose_step(start, end), tz)
    row = _sum_of_totals(counts)
    row["users"] = users.result()
    return derive(row, spend_known=spend_is_divisible(filters))


def _sum_of_totals(counts: pd.DataFrame) -> pd.DataFrame:
    """One row: each count summed over the buckets' total rows (NaN where no bucket has it: no spend
    recorded). In numpy: pandas' row sum and transpose cost more than the rest of the tiles' formatting."""
    total = counts["channel"].to_numpy(dtype=object) == TOTAL
    row = {}
    for column in counts.columns.drop(["bucket", "channel", "campaign", "users"]):
        values = counts[column].to_numpy(dtype=float, na_value=np.nan)[total]
        row[column] = [values[~np.isnan(values)].sum() if (~np.isnan(values)).any() else np.nan]
    return pd.DataFrame(row)


def _kpis_in_one_query(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    ctes, params = with_ctes(sessions_cte(filters, start, end), event_counts_cte(filters, start, end),
                             spend_cte(filters, start, end))
    sql = ctes + """,
    first_orders AS (   -- orders that are their customer's first ever, in range, of sessions in scope
        SELECT o.user_id FROM orders o
        JOIN customers c ON c.user_id = o.user_id AND c.first_order_ts = o.ts
        JOIN (SELECT * FROM sessions WHERE first_ts < :end AND last_ts >= :start) s ON s.session_id = o.session_id
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


def kpis_with_comparison(wh: Warehouse, filters: Filters, now: datetime | None = None, tz: str = "UTC") -> pd.DataFrame:
    """KPIs of the range and, when comparison is on, of the comparison period: columns `kpi`, `current`,
    `previous`, `change` (relative; NaN when there is nothing to compare against)."""
    start, end = filters.resolve(now, tz)
    period = filters.comparison(now, tz)
    # the two periods' queries side by side
    later = side_by_side.pool("period").submit(kpis, wh, filters, *period, tz) if period else None
    current = kpis(wh, filters, start, end, tz).iloc[0]
    previous = later.result().iloc[0] if later else pd.Series(float("nan"), index=current.index)
    table = pd.DataFrame({"kpi": list(KPI_COLUMNS), "current": current.values.astype(float),
                          "previous": previous.values.astype(float)})
    table["change"] = (table["current"] - table["previous"]) / table["previous"].where(table["previous"] != 0)
    return table
