"""Independent pandas computations of Pulse's numbers, written from docs/metrics.md, not from queries/."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd


def scoped(events: pd.DataFrame, start: datetime, end: datetime, **dims) -> pd.DataFrame:
    """Events in [start, end) of the sessions whose first event matches the dimension filters."""
    ordered = events.sort_values(["ts", "event_id"])
    first = ordered.groupby("session_id").first()[["channel", "campaign", "device", "region"]]
    keep = pd.Series(True, index=first.index)
    for dim, values in dims.items():
        if values:
            keep &= first[dim].isin(values)
    in_range = events[(events.ts >= start) & (events.ts < end)]
    chosen = in_range[in_range.session_id.isin(first.index[keep])]
    return chosen.join(first.add_prefix("session_"), on="session_id")


def spend(ad_spend: pd.DataFrame, start: datetime, end: datetime, **dims) -> pd.DataFrame:
    """ad_spend rows with the share of their hour inside [start, end), after channel/campaign filters."""
    rows = ad_spend.copy()
    for dim in ("channel", "campaign"):
        if dims.get(dim):
            rows = rows[rows[dim].isin(dims[dim])]
    hour_end = rows.ts + timedelta(hours=1)
    overlap = (hour_end.clip(upper=end) - rows.ts.clip(lower=start)).dt.total_seconds() / 3600
    rows = rows.assign(share=overlap.clip(lower=0))
    return rows[rows.share > 0]


def kpis(events, ad_spend, start, end, **dims) -> dict:
    chosen = scoped(events, start, end, **dims)
    purchases = chosen[chosen.type == "purchase"]
    sessions = chosen.session_id.nunique()
    orders = purchases.order_id.nunique()
    revenue = float(purchases.revenue.sum())
    rows = spend(ad_spend, start, end, **dims)
    total_spend = float((rows.cost * rows.share).sum()) if not (dims.get("device") or dims.get("region")) else None
    return {
        "sessions": sessions,
        "users": chosen.user_id.nunique(),
        "orders": orders,
        "revenue": revenue,
        "conversion_rate": purchases.session_id.nunique() / sessions if sessions else None,
        "average_order_value": revenue / orders if orders else None,
        "spend": total_spend,
        "roas": revenue / total_spend if total_spend else None,
    }


def session_funnel(events, start, end, steps, **dims) -> list[int]:
    chosen = scoped(events, start, end, **dims)
    types = chosen.groupby("session_id").type.agg(set)
    return [int(types.map(lambda seen: set(steps[: k + 1]) <= seen).sum()) for k in range(len(steps))]
