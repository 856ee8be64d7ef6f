"""The shared building blocks of the views' queries: which sessions, events and spend a `Filters` selects.

- A session belongs to the channel, campaign, device, region and user of its first event; dimension
  filters select sessions by those attributes (`sessions` table, data/rollups.py).
- A session counts in a range when it is active during it: its first event is before the range ends and
  its last event is at or after the range starts.
- Event counts (page views, orders, revenue, ...) count events by their own time, under their session's
  attributes: whole hours come from `rollup_hourly`, the partial hours at either end of the range from
  raw events, so the result is exact at any range while reading few rows.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from data import schema
from queries.filters import DIMENSIONS, Filters

EVENT_COUNTS = schema.EVENT_COUNT_COLUMNS

# Column names come from this allow-list only; values are always bound parameters.
_DIMENSION_COLUMNS = {dim: dim for dim in DIMENSIONS}

_RAW_COUNTS = """
    count(*), count(*) FILTER (WHERE e.type = 'page_view'), count(*) FILTER (WHERE e.type = 'product_view'),
    count(*) FILTER (WHERE e.type = 'add_to_cart'), count(*) FILTER (WHERE e.type = 'checkout'),
    count(*) FILTER (WHERE e.type = 'purchase'), count(*) FILTER (WHERE e.type = 'signup'),
    count(*) FILTER (WHERE e.type = 'purchase'), coalesce(sum(e.revenue) FILTER (WHERE e.type = 'purchase'), 0)"""


def dimension_predicate(filters: Filters, alias: str = "", only: tuple[str, ...] = DIMENSIONS) -> tuple[str, dict]:
    """`col IN :param` clauses for the filter's dimensions (restricted to `only`), joined by AND."""
    prefix = f"{alias}." if alias else ""
    clauses, params = [], {}
    for dim, values in filters.dimension_values().items():
        if dim in only:
            clauses.append(f"{prefix}{_DIMENSION_COLUMNS[dim]} IN :f_{dim}")
            params[f"f_{dim}"] = list(values)
    return (" AND ".join(clauses) or "TRUE"), params


def sessions_cte(filters: Filters, start: datetime, end: datetime, carry_in: bool = True) -> tuple[str, dict]:
    """CTE `counted_sessions`: rows of `sessions` active in [start, end) that match the filters. Without
    `carry_in`, only those that started in [start, end): a later piece of a longer range, whose earlier
    sessions an earlier piece counts (queries/pieces.py)."""
    predicate, params = dimension_predicate(filters, "s")
    active = "s.first_ts < :end AND s.last_ts >= :start" if carry_in else "s.first_ts >= :start AND s.first_ts < :end"
    sql = """
    counted_sessions AS (
        SELECT s.* FROM sessions s
        WHERE """ + active + " AND " + predicate + """
    )"""
    params.update(start=start, end=end)
    return sql, params


def event_counts_cte(filters: Filters, start: datetime, end: datetime) -> tuple[str, dict]:
    """CTE `event_counts(hour, channel, campaign, device, region, events, page_views, ..., orders, revenue)`
    for events in [start, end) of sessions matching the filters."""
    full_from = ceil_hour(start)
    full_to = max(floor_hour(end), full_from)
    rollup_predicate, params = dimension_predicate(filters)
    raw_predicate, _ = dimension_predicate(filters, "s")
    columns = ", ".join(EVENT_COUNTS)
    sql = """
    event_counts AS (
        SELECT hour, channel, campaign, device, region, """ + columns + """
        FROM rollup_hourly
        WHERE hour >= :full_from AND hour < :full_to AND """ + rollup_predicate + """
        UNION ALL """ + _edge_counts(":start", "least(:full_from, :end)", raw_predicate) + """
        UNION ALL """ + _edge_counts("greatest(:full_to, :start)", ":end", raw_predicate) + """
    )"""
    params.update(start=start, end=end, full_from=full_from, full_to=full_to)
    return sql, params


def _edge_counts(lo: str, hi: str, predicate: str) -> str:
    """Raw event counts in [lo, hi) (a partial hour at an end of the range), under their session's
    attributes. The sessions joined are bounded to those active in [lo, hi): sessions are stored
    roughly in start order, so `first_ts`/`last_ts` zone maps let DuckDB read a sliver of the table."""
    return """
        SELECT date_trunc('hour', e.ts), s.channel, s.campaign, s.device, s.region, """ + _RAW_COUNTS + """
        FROM events e
        JOIN (SELECT * FROM sessions WHERE first_ts < """ + hi + """ AND last_ts >= """ + lo + """) s
          ON s.session_id = e.session_id
        WHERE e.ts >= """ + lo + """ AND e.ts < """ + hi + """ AND """ + predicate + """
        GROUP BY ALL"""


def spend_cte(filters: Filters, start: datetime, end: datetime) -> tuple[str, dict]:
    """CTE `scoped_spend`: ad_spend rows overlapping [start, end), each with `share`, the fraction of its
    hour inside the range, so a 15-minute range gets a quarter of the hour's cost (docs/metrics.md)."""
    predicate, params = dimension_predicate(filters, only=("channel", "campaign"))
    sql = """
    scoped_spend AS (
        SELECT ts, channel, campaign, impressions, clicks, cost,
               (epoch(least(ts + INTERVAL 1 HOUR, :end)) - epoch(greatest(ts, :start))) / 3600.0 AS share
        FROM ad_spend
        WHERE ts > :spend_from AND ts < :end AND """ + predicate + """
    )"""
    params.update(start=start, end=end, spend_from=start - timedelta(hours=1))
    return sql, params


def spend_is_divisible(filters: Filters) -> bool:
    """Spend is recorded by channel and campaign only: a device or region filter cannot split it."""
    return not (filters.device or filters.region)


def with_ctes(*parts: tuple[str, dict]) -> tuple[str, dict]:
    """`WITH a, b, c` from several (sql, params) CTE parts; their parameters must agree where shared."""
    params: dict = {}
    for _, p in parts:
        params.update(p)
    return "WITH " + ",".join(sql for sql, _ in parts), params


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + timedelta(hours=1)
