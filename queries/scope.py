"""The shared building block of every event query: which sessions and events a `Filters` selects.

A session belongs to the channel, campaign, device and region of its first event (docs/metrics.md), so
dimension filters apply to sessions, and a session counts in a range when any of its events falls in it.
A session's first event is looked for at most `SESSION_LOOKBACK` (24 h) before the range starts, which
keeps the scan bounded; a session older than that takes the attributes of its first event inside the window.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from queries.filters import DIMENSIONS, Filters

SESSION_LOOKBACK = timedelta(hours=24)

# Column names come from this allow-list only; values are always bound parameters.
_DIMENSION_COLUMNS = {dim: dim for dim in DIMENSIONS}


def dimension_predicate(filters: Filters, alias: str = "", only: tuple[str, ...] = DIMENSIONS) -> tuple[str, dict]:
    """`col IN :param` clauses for the filter's dimensions (restricted to `only`), joined by AND."""
    prefix = f"{alias}." if alias else ""
    clauses, params = [], {}
    for dim, values in filters.dimension_values().items():
        if dim in only:
            clauses.append(f"{prefix}{_DIMENSION_COLUMNS[dim]} IN :f_{dim}")
            params[f"f_{dim}"] = list(values)
    return (" AND ".join(clauses) or "TRUE"), params


def scoped_events_cte(filters: Filters, start: datetime, end: datetime) -> tuple[str, dict]:
    """CTEs `scoped_sessions` (session_id + first-event attributes, filtered) and `scoped_events`
    (the events in [start, end) of those sessions), to be prefixed to a SELECT."""
    predicate, params = dimension_predicate(filters)
    sql = """
    WITH touched AS (
        SELECT DISTINCT session_id FROM events WHERE ts >= :start AND ts < :end
    ),
    session_attributes AS (
        SELECT e.session_id,
               arg_min(e.channel, e.ts)  AS channel,
               arg_min(e.campaign, e.ts) AS campaign,
               arg_min(e.device, e.ts)   AS device,
               arg_min(e.region, e.ts)   AS region
        FROM events e JOIN touched t ON e.session_id = t.session_id
        WHERE e.ts >= :lookback AND e.ts < :end
        GROUP BY e.session_id
    ),
    scoped_sessions AS (
        SELECT * FROM session_attributes WHERE """ + predicate + """
    ),
    scoped_events AS (
        SELECT e.*, s.channel AS session_channel, s.campaign AS session_campaign,
               s.device AS session_device, s.region AS session_region
        FROM events e JOIN scoped_sessions s ON e.session_id = s.session_id
        WHERE e.ts >= :start AND e.ts < :end
    )
    """
    params.update(start=start, end=end, lookback=start - SESSION_LOOKBACK)
    return sql, params


def spend_cte(filters: Filters, start: datetime, end: datetime) -> tuple[str, dict]:
    """CTE `scoped_spend`: ad_spend rows overlapping [start, end), each with `share`, the fraction of its
    hour inside the range, so a 15-minute range gets a quarter of the hour's cost (docs/metrics.md)."""
    predicate, params = dimension_predicate(filters, only=("channel", "campaign"))
    sql = """
    scoped_spend AS (
        SELECT channel, campaign, impressions, clicks, cost,
               (epoch(least(ts + INTERVAL 1 HOUR, :end)) - epoch(greatest(ts, :start))) / 3600.0 AS share
        FROM ad_spend
        WHERE ts > :spend_from AND ts < :end AND """ + predicate + """
    )
    """
    params.update(start=start, end=end, spend_from=start - timedelta(hours=1))
    return sql, params


def spend_is_divisible(filters: Filters) -> bool:
    """Spend is recorded by channel and campaign only: a device or region filter cannot split it."""
    return not (filters.device or filters.region)
