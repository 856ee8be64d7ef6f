"""What each channel costs and returns under an attribution model (docs/metrics.md, "Attribution").

One read gives every journey: for each order in range (its session matching the filters), the user's
sessions that started within the lookback window before the order, ending with the order's own session.
`analytics.attribution` splits each order's credit over them; every model comes from the same read.

An order's credit depends only on what happened before it, so credit adds up over days: where the
warehouse caches results, the credit of each UTC day's orders is kept until a commit reaches back before
the day's end (a late event, a re-keyed session), and a range reads only the days it lacks (the day holding
"now", on a refresh).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from analytics import attribution as models
from data.warehouse import Warehouse
from queries.filters import FilterError, _as_multidict
from queries.pieces import missing_runs, spans
from queries.scope import dimension_predicate, spend_cte, spend_is_divisible, with_ctes

DEFAULT_MODEL = "last_click"
DEFAULT_LOOKBACK_DAYS = 30
MAX_LOOKBACK_DAYS = 90


@dataclass(frozen=True)
class AttributionOptions:
    model: str = DEFAULT_MODEL
    lookback: int = DEFAULT_LOOKBACK_DAYS        # days before the order a touch may start

    def __post_init__(self):
        if self.model not in models.MODELS:
            raise FilterError("attribution", self.model, f"must be one of {', '.join(models.MODELS)}")
        if not isinstance(self.lookback, int) or not 1 <= self.lookback <= MAX_LOOKBACK_DAYS:
            raise FilterError("lookback", self.lookback, f"must be a whole number of days, 1 to {MAX_LOOKBACK_DAYS}")

    @classmethod
    def from_query(cls, query) -> "AttributionOptions":
        params = _as_multidict(query)
        model = (params.get("attribution") or [DEFAULT_MODEL])[-1].strip() or DEFAULT_MODEL
        text = (params.get("lookback") or [str(DEFAULT_LOOKBACK_DAYS)])[-1].strip()
        if not text.isdigit():
            raise FilterError("lookback", text, f"must be a whole number of days, 1 to {MAX_LOOKBACK_DAYS}")
        return cls(model, int(text))

    def to_query(self) -> str:
        return urlencode([("attribution", self.model), ("lookback", self.lookback)])


def journeys(wh: Warehouse, filters, start: datetime, end: datetime, lookback_days: int) -> pd.DataFrame:
    """One row per touch: `journey` (the order), `order_id`, `order_ts`, `channel`, `age_days` (order time
    - touch start), `revenue` and `new_customer` of the order; grouped by order, oldest touch first, the order's
    own session last (so last click is always the session the order happened in)."""
    predicate, params = dimension_predicate(filters, "s")
    sql = """
    WITH conversions AS (
        -- an order's session was active at the order, and a first order ever in range is a customer whose
        -- first order is in range: bounds on the time columns the tables are sorted by let zone maps skip
        -- the rest (session ids from clients are random, so a join by id alone reads every row group)
        SELECT o.order_id, o.ts, o.user_id, o.session_id, o.revenue, s.first_ts AS session_start,
               CASE WHEN c.first_order_ts = o.ts THEN 1 ELSE 0 END AS new_customer
        FROM orders o
        JOIN (SELECT * FROM sessions WHERE first_ts < :end AND last_ts >= :start) s ON s.session_id = o.session_id
        LEFT JOIN (SELECT user_id, first_order_ts FROM customers
                   WHERE first_order_ts >= :start AND first_order_ts < :end) c ON c.user_id = o.user_id
        WHERE o.ts >= :start AND o.ts < :end AND """ + predicate + """
    )
    SELECT order_id, order_ts, channel, revenue, new_customer,
           (epoch_ms(order_ts) - epoch_ms(first_ts)) / 86400000.0 AS age_days
    FROM (
        SELECT v.order_id, v.ts AS order_ts, v.revenue, v.new_customer, t.channel, t.first_ts, t.session_id,
               true AS own
        FROM conversions v
        JOIN (SELECT session_id, channel, first_ts FROM sessions WHERE first_ts < :end AND last_ts >= :start) t
          ON t.session_id = v.session_id
        UNION ALL
        -- earlier sessions of the user within the lookback: only sessions that started in
        -- [start - lookback, end) can be, and zone maps skip the rest of the table
        SELECT v.order_id, v.ts, v.revenue, v.new_customer, t.channel, t.first_ts, t.session_id, false
        FROM conversions v
        JOIN (SELECT user_id, session_id, channel, first_ts FROM sessions
              WHERE first_ts >= :touch_from AND first_ts < :end) t ON t.user_id = v.user_id
        WHERE t.session_id <> v.session_id AND t.first_ts >= v.ts - :lookback AND t.first_ts <= v.session_start
    )
    ORDER BY order_id, own, first_ts, session_id
    """
    params.update(start=start, end=end, lookback=timedelta(days=lookback_days),
                  touch_from=start - timedelta(days=lookback_days))
    touches = wh.read(sql, params)
    first = np.r_[True, touches.order_id.to_numpy()[1:] != touches.order_id.to_numpy()[:-1]] \
        if len(touches) else np.zeros(0, bool)
    return touches.assign(journey=np.cumsum(first) - 1)


def channel_spend(wh: Warehouse, filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Spend per channel in range (prorated hours, as everywhere), with label and paid."""
    ctes, params = with_ctes(spend_cte(filters, start, end))
    table = wh.read(ctes + """
    SELECT c.name AS channel, c.label, c.paid, c.sort_order, coalesce(sum(s.cost * s.share), 0) AS spend
    FROM channels c LEFT JOIN scoped_spend s ON s.channel = c.name
    GROUP BY ALL ORDER BY c.sort_order, c.name""", params)
    if not spend_is_divisible(filters):
        table["spend"] = float("nan")
    return table.astype({"spend": float, "paid": bool})


@dataclass
class AttributionReport:
    channels: pd.DataFrame     # the returns table under the chosen model
    models: pd.DataFrame       # attributed revenue per channel (rows) and model (columns)
    ranks: pd.DataFrame        # rank of each channel under each model (1 = most revenue)


_DAY = timedelta(days=1)
_CREDIT = ["orders", "revenue", "new_customers"]


def credit_by_model(wh: Warehouse, filters, start: datetime, end: datetime, lookback_days: int) -> dict:
    """Per model, per channel (index): attributed orders, revenue and new customers of the orders in
    [start, end), from the cached credit of each day where the warehouse caches results."""
    if wh.results is None:
        touches = journeys(wh, filters, start, end, lookback_days)
        return {m: models.attribute(touches, m) for m in models.MODELS}
    days = spans(start, end, _DAY, timedelta(0))
    family = "|".join(["attribution", repr(sorted(filters.dimension_values().items())), str(lookback_days)])
    keys = [f"{family}|{lo.isoformat()}|{hi.isoformat()}" for lo, hi in days]
    seq = wh.results.changes.seq
    found = [wh.results.get(key, until=hi) for key, (_, hi) in zip(keys, days)]
    for first, last in missing_runs(found):
        lo, hi = days[first][0], days[last][1]
        touches = journeys(wh, filters, lo, hi, lookback_days)
        day = np.searchsorted(np.array([d[1] for d in days[first:last + 1]], dtype="datetime64[us]"),
                              touches["order_ts"].to_numpy(dtype="datetime64[us]"), side="right")
        credit = pd.concat({m: models.attribute(touches.assign(day=day), m, by=("day",)) for m in models.MODELS},
                           names=["model"]).reset_index()
        for i in range(first, last + 1):
            found[i] = credit[credit["day"] == i - first].drop(columns="day")
            wh.results.put(keys[i], found[i], seq)
    credit = pd.concat(found, ignore_index=True).groupby(["model", "channel"])[_CREDIT].sum()
    empty = pd.DataFrame(columns=_CREDIT, index=pd.Index([], name="channel"), dtype=float)
    return {m: credit.loc[m] if m in credit.index.get_level_values(0) else empty for m in models.MODELS}


def attribution_report(wh: Warehouse, filters, start: datetime, end: datetime,
                       options: AttributionOptions = AttributionOptions()) -> AttributionReport:
    by_model = credit_by_model(wh, filters, start, end, options.lookback)
    spend = channel_spend(wh, filters, start, end).set_index("channel")
    revenue = pd.DataFrame({m: t["revenue"] for m, t in by_model.items()}).reindex(spend.index).fillna(0.0)
    in_view = (revenue.sum(axis=1) > 0) | (spend["spend"].fillna(0) > 0)
    revenue = revenue[in_view]
    ranks = models.ranking(revenue)
    table = returns_table(spend[in_view], by_model[options.model].reindex(revenue.index).fillna(0.0))
    table["rank"] = ranks[options.model].to_numpy()
    table["last_click_rank"] = ranks["last_click"].to_numpy()
    table["rank_change"] = table["last_click_rank"] - table["rank"]   # > 0: the model ranks it higher
    return AttributionReport(table.reset_index(), revenue.rename_axis("channel").reset_index(),
                             ranks.rename_axis("channel").reset_index())


def returns_table(spend: pd.DataFrame, credit: pd.DataFrame) -> pd.DataFrame:
    """Per channel: spend, attributed orders, revenue, new customers, roas, cpa, cac and shares. A ratio
    with a zero denominator is NaN ("–")."""
    table = spend[["label", "paid", "spend"]].join(credit)
    cost = table["spend"].where(table["spend"] > 0)
    table["roas"] = table["revenue"] / cost
    table["cpa"] = cost / table["orders"].where(table["orders"] > 0)
    table["cac"] = cost / table["new_customers"].where(table["new_customers"] > 0)
    total_spend, total_revenue = table["spend"].sum(min_count=1), table["revenue"].sum()
    table["share_of_spend"] = table["spend"] / total_spend if total_spend and total_spend > 0 else np.nan
    table["share_of_revenue"] = table["revenue"] / total_revenue if total_revenue > 0 else np.nan
    return table
