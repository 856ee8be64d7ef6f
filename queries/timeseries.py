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

import numpy as np
import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.measures import derive
from queries.pieces import bucket_floor, cached_rows
from queries.scope import ceil_hour, dimension_predicate, floor_hour, spend_is_divisible

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
    by_channel = counts[counts["campaign"] == TOTAL]
    return derive(by_channel, spend_known=spend_is_divisible(filters)).reset_index(drop=True)


def bucket_counts(wh: Warehouse, filters: Filters, start: datetime, end: datetime, step: str,
                  tz: str = "UTC") -> pd.DataFrame:
    """The additive counts behind `timeseries` and the channel tables at three levels: per (bucket, channel,
    campaign), per (bucket, channel) with campaign "(all)", and per bucket with both "(all)": sessions,
    users, engaged and converted sessions, page views, signups, orders, revenue, new customers, spend,
    impressions, clicks; from cached buckets where the warehouse caches results (queries/pieces.py)."""
    offset = utc_offset(tz, start)

    def compute(lo: datetime, hi: datetime, carry_in: bool) -> pd.DataFrame:
        if _splits_by_hour(wh, lo, hi, step, offset):
            return _partial_day(wh, filters, lo, hi, step, offset, carry_in)
        return _counts(wh, filters, lo, hi, step, offset, carry_in)
    return cached_rows(wh, "bucket_counts", filters, start, end, STEPS[step], offset, compute)


# A partial day (the range's first day, and the day holding "now") is read as its whole hours up to an hour
# before its end, cached until a commit reaches back into them, and the rest, read each time: at 100M events
# a day's statement took 95 ms of CPU against 33 for an hour's, and a refresh of a 30-day view reads four such
# days (both ends of the range and of its comparison period). Sessions last minutes: a live commit touches
# sessions that began in the last hour, not the cached hours before it.
_SETTLED = timedelta(hours=1)   # what is read each time, at least, before a partial day's end
_MIN_CACHED = timedelta(hours=2)  # shorter cached stretches are not worth a second statement


def _splits_by_hour(wh: Warehouse, lo: datetime, hi: datetime, step: str, offset: timedelta) -> bool:
    """Whether [lo, hi) is part of one day bucket, with whole cached hours worth reading apart."""
    if wh.results is None or step != "day" or offset % timedelta(hours=1) != timedelta(0):
        return False
    cached_from, cached_to = ceil_hour(lo), floor_hour(hi - _SETTLED)
    same_day = bucket_floor(lo, STEPS["day"], offset) == bucket_floor(hi - timedelta(microseconds=1), STEPS["day"], offset)
    return same_day and cached_to - cached_from >= _MIN_CACHED


def _partial_day(wh: Warehouse, filters: Filters, lo: datetime, hi: datetime, step: str, offset: timedelta,
                 carry_in: bool) -> pd.DataFrame:
    """`_counts` over [lo, hi) within one day bucket, from its whole hours (cached, with their users as
    hashes) and what is left before and after them (read now). Users do not add up, so each stretch also
    gives its (channel, user hash) pairs, and a channel's users are those of their union."""
    cached_from, cached_to = ceil_hour(lo), floor_hour(hi - _SETTLED)
    stretches = [(lo, cached_from, carry_in), (cached_from, cached_to, carry_in and lo == cached_from),
                 (cached_to, hi, False)]
    parts = []
    for i, (a, b, carry) in enumerate(stretches):
        if a >= b:
            continue
        if i == 1:
            key = "|".join(["day_hours", repr(sorted(filters.dimension_values().items())), str(offset), a.isoformat(),
                            b.isoformat(), str(carry)])
            parts.append(wh.results.through(key, b, lambda: _stretch(wh, filters, a, b, step, offset, carry)))
        else:
            parts.append(_stretch(wh, filters, a, b, step, offset, carry))
    return _merged(parts)


def _stretch(wh, filters, lo, hi, step, offset, carry_in) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A stretch's counts and its users: per channel, and in total (TOTAL), the sorted distinct hashes of
    their user_id (sorted once here, as the cached hours' are reused by every later refresh)."""
    counts = _counts(wh, filters, lo, hi, step, offset, carry_in, users=False)  # users: from the hashes
    predicate, params = dimension_predicate(filters)
    params.update(start=lo, end=hi)
    pairs = wh.read_columns("SELECT DISTINCT channel, hash(user_id) AS h FROM sessions WHERE "
                            + (_ACTIVE if carry_in else _STARTED) + " AND " + predicate, params)
    hashes = np.asarray(pairs["h"], dtype=np.uint64)
    codes, channels = pd.factorize(np.asarray(pairs["channel"], dtype=object))
    users = {channel: np.unique(hashes[codes == k]) for k, channel in enumerate(channels)}
    users[TOTAL] = np.unique(hashes)
    return counts, users


def _merged(parts: list[tuple[pd.DataFrame, dict[str, np.ndarray]]]) -> pd.DataFrame:
    """The stretches' counts summed per (bucket, channel, campaign), users counted over their union."""
    counts = pd.concat([c for c, _ in parts], ignore_index=True)
    summed = counts.groupby(["bucket", "channel", "campaign"], as_index=False, sort=True).sum(min_count=1)
    names = {name for _, users in parts for name in users}
    users = {name: union_size([u[name] for _, u in parts if name in u]) for name in names}
    level = summed["campaign"].to_numpy(dtype=object) == TOTAL
    summed["users"] = np.where(level, summed["channel"].map(users).to_numpy(dtype=float, na_value=np.nan), np.nan)
    return summed


def union_size(sorted_sets: list[np.ndarray]) -> int:
    """How many distinct values the sorted, distinct arrays hold together: the largest (a cached stretch's
    users) is not sorted again; only the others' values are looked up in it (queries/users.py too)."""
    largest = max(sorted_sets, key=len)
    others = [s for s in sorted_sets if s is not largest]
    if not others:
        return len(largest)
    rest = np.unique(np.concatenate(others))
    position = np.searchsorted(largest, rest)
    inside = position < len(largest)
    found = np.zeros(len(rest), dtype=bool)
    found[inside] = largest[position[inside]] == rest[inside]
    return len(largest) + int((~found).sum())


_SUMS = ("sessions", "users", "engaged_sessions", "converted_sessions", "page_views", "signups", "orders",
         "revenue", "new_customers", "spend", "impressions", "clicks")
_LEVELS = "GROUPING SETS ((bucket, channel, campaign), (bucket, channel), (bucket))"


def _counts(wh: Warehouse, filters: Filters, start: datetime, end: datetime, step: str, offset: timedelta,
            carry_in: bool, users: bool = True) -> pd.DataFrame:
    """One statement of flat parts (sessions, events, new customers, spend), each read only where it has
    rows: a piece shorter than an hour reads no rollup, a piece of whole hours no raw events. Short
    pieces are what a live refresh recomputes, so their statement's planning time matters as much as
    its scans."""
    predicate, params = dimension_predicate(filters)
    spend_predicate, _ = dimension_predicate(filters, only=("channel", "campaign"))
    params.update(step=STEPS[step], offset=offset, start=start, end=end, total=TOTAL)
    active = _ACTIVE if carry_in else _STARTED
    parts = [_NO_ROWS, _SESSIONS.replace("{active}", active)]
    # An hour of the rollup falls in one bucket only if buckets are whole hours aligned to UTC hours.
    hourly = step != "5min" and offset % timedelta(hours=1) == timedelta(0)
    full_from, full_to = (ceil_hour(start), max(floor_hour(end), ceil_hour(start))) if hourly else (end, end)
    if full_from < full_to:
        parts.append(_ROLLUP_EVENTS)
        params.update(full_from=full_from, full_to=full_to)
    for i, (lo, hi) in enumerate([(start, min(full_from, end)), (max(full_to, start), end)]):
        if lo < hi:
            parts.append(_RAW_EVENTS.replace("{i}", str(i)))
            params.update({f"lo{i}": lo, f"hi{i}": hi})
    parts += [_NEW_CUSTOMERS, _SPEND]
    params.update(spend_from=start - timedelta(hours=1), pieces=12 if step == "5min" else 2)
    # The parts are per campaign; channels and totals are their sums, except users, counted apart.
    sums = ", ".join(f"sum({c}) AS {c}" for c in _SUMS)
    levels = ("SELECT bucket, coalesce(channel, :total) AS channel, coalesce(campaign, :total) AS campaign, " + sums
              + " FROM (" + " UNION ALL BY NAME ".join(f"({p})" for p in parts) + ") GROUP BY " + _LEVELS)
    sql = ("SELECT bucket, channel, campaign, " + sums + " FROM ((" + levels + ") UNION ALL BY NAME ("
           + _USERS.replace("{active}", active) + ")) GROUP BY ALL ORDER BY 1, 2, 3") if users else levels
    counts = wh.read(sql.replace("{predicate}", predicate).replace("{spend_predicate}", spend_predicate), params)
    counts["bucket"] = pd.to_datetime(counts["bucket"]).astype("datetime64[us]")
    return counts


# Every column, no rows: the sums exist even where no part has a column (an empty range, no events).
_NO_ROWS = ("SELECT CAST(NULL AS TIMESTAMP) AS bucket, CAST(NULL AS VARCHAR) AS channel, CAST(NULL AS VARCHAR) AS campaign, "
            + ", ".join(f"CAST(NULL AS DOUBLE) AS {c}" for c in _SUMS) + " LIMIT 0")
_BUCKET = "time_bucket(:step, {t} + :offset) - :offset"
_ACTIVE = "first_ts < :end AND last_ts >= :start"      # sessions active in the piece (its first piece)
_STARTED = "first_ts >= :start AND first_ts < :end"    # sessions that began in it (a later piece)

_SESSIONS = """
    SELECT """ + _BUCKET.format(t="greatest(first_ts, :start)") + """ AS bucket, channel, campaign,
           count(*) AS sessions, count(*) FILTER (WHERE engaged) AS engaged_sessions,
           count(*) FILTER (WHERE purchases > 0) AS converted_sessions
    FROM sessions WHERE {active} AND {predicate} GROUP BY ALL"""

# Users do not add up (one user, several sessions): counted per channel and in total, by bucket.
_USERS = """
    SELECT """ + _BUCKET.format(t="greatest(first_ts, :start)") + """ AS bucket, channel, :total AS campaign,
           count(DISTINCT user_id) AS users
    FROM sessions WHERE {active} AND {predicate} GROUP BY ALL
    UNION ALL
    SELECT """ + _BUCKET.format(t="greatest(first_ts, :start)") + """ AS bucket, :total AS channel,
           :total AS campaign, count(DISTINCT user_id) AS users
    FROM sessions WHERE {active} AND {predicate} GROUP BY ALL"""

_ROLLUP_EVENTS = """
    SELECT """ + _BUCKET.format(t="hour") + """ AS bucket, channel, campaign, sum(page_views) AS page_views,
           sum(signups) AS signups, sum(orders) AS orders, sum(revenue) AS revenue
    FROM rollup_hourly WHERE hour >= :full_from AND hour < :full_to AND {predicate} GROUP BY ALL"""

# Raw events of [lo, hi) under their session's attributes; the sessions read are bounded to those active
# then (sessions are stored roughly in start order, so zone maps skip the rest of the table).
_RAW_EVENTS = """
    SELECT """ + _BUCKET.format(t="e.ts") + """ AS bucket, s.channel, s.campaign,
           count(*) FILTER (WHERE e.type = 'page_view') AS page_views,
           count(*) FILTER (WHERE e.type = 'signup') AS signups,
           count(*) FILTER (WHERE e.type = 'purchase') AS orders,
           coalesce(sum(e.revenue) FILTER (WHERE e.type = 'purchase'), 0) AS revenue
    FROM events e
    JOIN (SELECT session_id, channel, campaign FROM sessions
          WHERE first_ts < :hi{i} AND last_ts >= :lo{i} AND {predicate}) s ON s.session_id = e.session_id
    WHERE e.ts >= :lo{i} AND e.ts < :hi{i} GROUP BY ALL"""

# A new customer counts once, in the bucket of their first order ever, under that order's session (the
# lowest order_id if several orders share that instant).
_NEW_CUSTOMERS = """
    SELECT """ + _BUCKET.format(t="o.ts") + """ AS bucket, s.channel, s.campaign, count(*) AS new_customers
    FROM (SELECT o.user_id, min(o.ts) AS ts, arg_min(o.session_id, o.order_id) AS session_id
          FROM orders o JOIN customers c ON c.user_id = o.user_id AND c.first_order_ts = o.ts
          WHERE o.ts >= :start AND o.ts < :end AND c.first_order_ts >= :start AND c.first_order_ts < :end
          GROUP BY o.user_id) o
    JOIN (SELECT session_id, channel, campaign FROM sessions
          WHERE first_ts < :end AND last_ts >= :start AND {predicate}) s ON s.session_id = o.session_id
    GROUP BY ALL"""

# Spend is recorded per hour and spread evenly over it: each hour's part inside [start, end) is cut at the
# bucket boundaries (at most 12 five-minute buckets, or 2 when a zone's offset is not whole hours).
_SPEND = """
    SELECT bucket, channel, campaign, sum(cost * share) AS spend, sum(impressions * share) AS impressions,
           sum(clicks * share) AS clicks
    FROM (
        SELECT b AS bucket, channel, campaign, cost, impressions, clicks,
               (epoch(least(ts + INTERVAL 1 HOUR, :end, b + :step)) - epoch(greatest(ts, :start, b))) / 3600.0 AS share
        FROM (SELECT *, """ + _BUCKET.format(t="greatest(ts, :start)") + """ + :step * k AS b
              FROM ad_spend, range(:pieces) AS r(k)
              WHERE ts > :spend_from AND ts < :end AND {spend_predicate})
    ) WHERE share > 0 GROUP BY ALL"""
