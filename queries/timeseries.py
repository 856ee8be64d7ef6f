"""KPIs over time, by channel and in total, for the trend charts, sparklines and /api/v1/timeseries.

Buckets: 5 minutes for ranges up to 6 hours, hours up to 3 days, days beyond. Day buckets start at
midnight in the display time zone, using the zone's UTC offset at the start of the range (a range across
a daylight-saving change keeps one offset). A session counts in the bucket of its first event, or of the
range's start if it began earlier; events count in the bucket of their own time; spend is spread evenly
over its hour. Ratios per bucket come from `queries.kpis.derive`, as for the tiles.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.measures import derive
from queries.pieces import bucket_floor, cached_rows
from queries.scope import dimension_predicate, event_counts_cte, sessions_cte, spend_cte, spend_is_divisible, with_ctes

STEPS = {"5min": timedelta(minutes=5), "hour": timedelta(hours=1), "day": timedelta(days=1)}
TOTAL = "(all)"


def choose_step(start: datetime, end: datetime) -> str:
    span = end - start
    return "5min" if span <= timedelta(hours=6) else "hour" if span <= timedelta(days=3) else "day"


def utc_offset(tz: str, at: datetime) -> timedelta:
    return ZoneInfo(tz).utcoffset(at) or timedelta(0)


def timeseries(wh: Warehouse, filters: Filters, start: datetime, end: datetime, step: str | None = None,
               tz: str = "UTC") -> pd.DataFrame:
    """One row per (bucket, channel), plus rows with channel "(all)" for the totals; the KPI columns of
    `queries.kpis`. `bucket` is the bucket's start in UTC (naive)."""
    counts = bucket_counts(wh, filters, start, end, step or choose_step(start, end), tz)
    return derive(counts, spend_known=spend_is_divisible(filters)).reset_index(drop=True)


def bucket_counts(wh: Warehouse, filters: Filters, start: datetime, end: datetime, step: str,
                  tz: str = "UTC") -> pd.DataFrame:
    """The additive counts behind `timeseries` per (bucket, channel) and (bucket, "(all)"): sessions,
    users, engaged and converted sessions, page views, signups, orders, revenue, new customers, spend;
    from cached buckets where the warehouse caches results (queries/pieces.py)."""
    offset = utc_offset(tz, start)

    def compute(lo: datetime, hi: datetime, carry_in: bool) -> pd.DataFrame:
        return _counts(wh, filters, lo, hi, step, offset, carry_in)
    return cached_rows(wh, "bucket_counts", filters, start, end, STEPS[step], offset, compute)


def _counts(wh: Warehouse, filters: Filters, start: datetime, end: datetime, step: str, offset: timedelta,
            carry_in: bool) -> pd.DataFrame:
    ctes, params = with_ctes(sessions_cte(filters, start, end, carry_in), event_counts_cte(filters, start, end),
                             spend_cte(filters, start, end))
    predicate, _ = dimension_predicate(filters, "s")
    events_source = (_RAW_EVENTS.replace("{predicate}", predicate) if step == "5min" else _ROLLUP_EVENTS)
    sql = ctes + """,
    session_rows AS (
        SELECT time_bucket(:step, greatest(first_ts, :start) + :offset) - :offset AS bucket, channel,
               count(*) AS sessions, count(DISTINCT user_id) AS users,
               count(*) FILTER (WHERE engaged) AS engaged_sessions,
               count(*) FILTER (WHERE purchases > 0) AS converted_sessions
        FROM counted_sessions GROUP BY GROUPING SETS ((bucket, channel), (bucket))
    ),
    event_rows AS (""" + events_source + """),
    new_customer_rows AS (
        SELECT time_bucket(:step, o.ts + :offset) - :offset AS bucket, s.channel,
               count(DISTINCT o.user_id) AS new_customers
        FROM orders o
        JOIN customers c ON c.user_id = o.user_id AND c.first_order_ts = o.ts
        JOIN (SELECT * FROM sessions WHERE first_ts < :end AND last_ts >= :start) s ON s.session_id = o.session_id
        WHERE o.ts >= :start AND o.ts < :end AND """ + predicate + """
        GROUP BY GROUPING SETS ((bucket, s.channel), (bucket))
    ),
    keys AS (
        SELECT bucket, channel FROM session_rows UNION SELECT bucket, channel FROM event_rows
        UNION SELECT bucket, channel FROM new_customer_rows
    )
    SELECT k.bucket, coalesce(k.channel, :total) AS channel,
           s.sessions, s.users, s.engaged_sessions, s.converted_sessions,
           e.page_views, e.signups, e.orders, e.revenue, n.new_customers
    FROM keys k
    LEFT JOIN session_rows s ON s.bucket = k.bucket AND s.channel IS NOT DISTINCT FROM k.channel
    LEFT JOIN event_rows e ON e.bucket = k.bucket AND e.channel IS NOT DISTINCT FROM k.channel
    LEFT JOIN new_customer_rows n ON n.bucket = k.bucket AND n.channel IS NOT DISTINCT FROM k.channel
    ORDER BY 1, 2
    """
    params.update(step=STEPS[step], offset=offset, total=TOTAL)
    counts = wh.read(sql, params)
    counts["bucket"] = pd.to_datetime(counts["bucket"]).astype("datetime64[us]")
    spend = _spend_by_bucket(wh, filters, start, end, step, offset)
    return counts.merge(spend, on=["bucket", "channel"], how="outer").sort_values(["bucket", "channel"])


_ROLLUP_EVENTS = """
        SELECT time_bucket(:step, hour + :offset) - :offset AS bucket, channel,
               sum(page_views) AS page_views, sum(signups) AS signups, sum(orders) AS orders,
               sum(revenue) AS revenue
        FROM event_counts GROUP BY GROUPING SETS ((bucket, channel), (bucket))"""

_RAW_EVENTS = """
        SELECT time_bucket(:step, e.ts + :offset) - :offset AS bucket, s.channel,
               count(*) FILTER (WHERE e.type = 'page_view') AS page_views,
               count(*) FILTER (WHERE e.type = 'signup') AS signups,
               count(*) FILTER (WHERE e.type = 'purchase') AS orders,
               coalesce(sum(e.revenue) FILTER (WHERE e.type = 'purchase'), 0) AS revenue
        FROM events e
        JOIN (SELECT * FROM sessions WHERE first_ts < :end AND last_ts >= :start) s ON s.session_id = e.session_id
        WHERE e.ts >= :start AND e.ts < :end AND {predicate}
        GROUP BY GROUPING SETS ((bucket, s.channel), (bucket))"""


def _spend_by_bucket(wh, filters, start, end, step, offset) -> pd.DataFrame:
    """Spend per (bucket, channel), and per bucket as channel "(all)": each hour's in-range cost spread
    evenly over the part of the hour in range."""
    ctes, params = with_ctes(spend_cte(filters, start, end))
    hours = wh.read(ctes + " SELECT ts AS hour, channel, sum(cost) AS cost FROM scoped_spend GROUP BY ts, channel",
                    params)
    width = STEPS[step]
    pieces = []
    for row in hours.itertuples():
        lo, hi = max(row.hour, start), min(row.hour + timedelta(hours=1), end)
        t = lo
        while t < hi:  # at most 12 pieces an hour (5-minute buckets) or 1
            bucket = bucket_floor(t, width, offset)
            upto = min(hi, bucket + width)
            pieces.append((bucket, row.channel, row.cost * (upto - t) / timedelta(hours=1)))
            t = upto
    spend = pd.DataFrame(pieces, columns=["bucket", "channel", "spend"])
    spend["bucket"] = pd.to_datetime(spend["bucket"]).astype("datetime64[us]")
    by_channel = spend.groupby(["bucket", "channel"], as_index=False).spend.sum()
    total = spend.groupby("bucket", as_index=False).spend.sum().assign(channel=TOTAL)
    return pd.concat([by_channel, total], ignore_index=True)
