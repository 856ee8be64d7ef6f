"""What each channel costs and returns under an attribution model (docs/metrics.md, "Attribution").

One read gives every journey: for each order in range (its session matching the filters), the user's
sessions that started within the lookback window before the order, ending with the order's own session.
`analytics.attribution` splits each order's credit over them; every model comes from the same read.
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
    """One row per touch: `journey` (the order), `order_id`, `channel`, `age_days` (order time - touch
    start), `revenue` and `new_customer` of the order; grouped by order, oldest touch first, the order's
    own session last (so last click is always the session the order happened in)."""
    predicate, params = dimension_predicate(filters, "s")
    sql = """
    WITH conversions AS (
        SELECT o.order_id, o.ts, o.user_id, o.session_id, o.revenue, s.first_ts AS session_start,
               CASE WHEN c.first_order_ts = o.ts THEN 1 ELSE 0 END AS new_customer
        FROM orders o
        JOIN sessions s ON s.session_id = o.session_id
        LEFT JOIN customers c ON c.user_id = o.user_id
        WHERE o.ts >= :start AND o.ts < :end AND """ + predicate + """
    )
    SELECT v.order_id, t.channel, v.revenue, v.new_customer,
           (epoch_ms(v.ts) - epoch_ms(t.first_ts)) / 86400000.0 AS age_days
    FROM conversions v
    JOIN sessions t ON t.user_id = v.user_id
    WHERE t.session_id = v.session_id
       OR (t.first_ts >= v.ts - :lookback AND t.first_ts <= v.session_start)
    ORDER BY v.order_id, t.session_id = v.session_id, t.first_ts, t.session_id
    """
    params.update(start=start, end=end, lookback=timedelta(days=lookback_days))
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


def attribution_report(wh: Warehouse, filters, start: datetime, end: datetime,
                       options: AttributionOptions = AttributionOptions()) -> AttributionReport:
    touches = journeys(wh, filters, start, end, options.lookback)
    spend = channel_spend(wh, filters, start, end).set_index("channel")
    by_model = {m: models.attribute(touches, m) for m in models.MODELS}
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
