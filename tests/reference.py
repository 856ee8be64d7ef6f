"""Independent pandas computations of Pulse's numbers, written from docs/metrics.md, not from queries/."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd


def session_attributes(events: pd.DataFrame) -> pd.DataFrame:
    """Per session: its first event's attributes (by ts, then event_id), span, and whether it ever purchased."""
    ordered = events.sort_values(["ts", "event_id"])
    by_session = ordered.groupby("session_id")
    table = by_session[["user_id", "channel", "campaign", "device", "region"]].first()
    table["first_ts"] = by_session.ts.min()
    table["last_ts"] = by_session.ts.max()
    table["purchased"] = (ordered.type == "purchase").groupby(ordered.session_id).any()
    return table


def counted_sessions(events: pd.DataFrame, start: datetime, end: datetime, **dims) -> pd.DataFrame:
    """Sessions active in [start, end) (first event before end, last at or after start) matching dims."""
    table = session_attributes(events)
    keep = (table.first_ts < end) & (table.last_ts >= start)
    for dim, values in dims.items():
        if values:
            keep &= table[dim].isin(values)
    return table[keep]


def scoped(events: pd.DataFrame, start: datetime, end: datetime, **dims) -> pd.DataFrame:
    """Events in [start, end), with their session's attributes as session_*, of sessions matching dims."""
    attributes = session_attributes(events)[["channel", "campaign", "device", "region"]].add_prefix("session_")
    tagged = events[(events.ts >= start) & (events.ts < end)].join(attributes, on="session_id")
    for dim, values in dims.items():
        if values:
            tagged = tagged[tagged["session_" + dim].isin(values)]
    return tagged


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
    sessions = counted_sessions(events, start, end, **dims)
    purchases = scoped(events, start, end, **dims).query("type == 'purchase'")
    orders = purchases.order_id.nunique()
    revenue = float(purchases.revenue.sum())
    rows = spend(ad_spend, start, end, **dims)
    total_spend = float((rows.cost * rows.share).sum()) if not (dims.get("device") or dims.get("region")) else None
    return {
        "sessions": len(sessions),
        "users": sessions.user_id.nunique(),
        "orders": orders,
        "revenue": revenue,
        "conversion_rate": sessions.purchased.mean() if len(sessions) else None,
        "average_order_value": revenue / orders if orders else None,
        "spend": total_spend,
        "roas": revenue / total_spend if total_spend else None,
    }


def session_funnel(events, start, end, steps, **dims) -> list[int]:
    """Of the sessions active in range, those with events in range of each of steps 1..k."""
    sessions = counted_sessions(events, start, end, **dims)
    in_range = events[(events.ts >= start) & (events.ts < end) & events.session_id.isin(sessions.index)]
    types = in_range.groupby("session_id").type.agg(set)
    return [int(types.map(lambda seen: set(steps[: k + 1]) <= seen).sum()) for k in range(len(steps))]


# ---- derived tables, from docs/warehouse.md, over a DataFrame of raw events ----------------------

STEP_OF_TYPE = {"page_view": 1, "product_view": 2, "add_to_cart": 3, "checkout": 4, "purchase": 5}
COUNTED = {"page_views": "page_view", "product_views": "product_view", "add_to_carts": "add_to_cart",
           "checkouts": "checkout", "purchases": "purchase", "signups": "signup"}


def derived_tables(events: pd.DataFrame) -> dict[str, pd.DataFrame]:
    ordered = events.sort_values(["ts", "event_id"])
    purchases = ordered[ordered.type == "purchase"]
    orders = purchases[["order_id", "ts", "event_id", "session_id", "user_id", "revenue"]]
    customers = orders.groupby("user_id").agg(first_order_ts=("ts", "min"), orders=("order_id", "count"),
                                              revenue=("revenue", "sum")).reset_index()
    sessions = []
    for session_id, rows in ordered.groupby("session_id", sort=False):
        first = rows.iloc[0]
        counts = {name: int((rows.type == t).sum()) for name, t in COUNTED.items()}
        duration = (rows.ts.max() - rows.ts.min()).total_seconds()
        engaged = (counts["page_views"] + counts["product_views"] >= 2
                   or counts["add_to_carts"] + counts["checkouts"] + counts["purchases"] + counts["signups"] > 0
                   or duration >= 10)
        steps = [STEP_OF_TYPE[t] for t in rows.type if t in STEP_OF_TYPE]
        sessions.append({
            "session_id": session_id, "user_id": first.user_id, "first_ts": rows.ts.min(),
            "first_event_id": first.event_id, "last_ts": rows.ts.max(), "channel": first.channel,
            "campaign": first.campaign, "device": first.device, "region": first.region,
            "landing_page": first.page, "events": len(rows), **counts, "orders": counts["purchases"],
            "revenue": float(rows.revenue[rows.type == "purchase"].sum()), "engaged": engaged,
            "furthest_step": max(steps, default=0)})
    sessions = pd.DataFrame(sessions)
    attributes = sessions.set_index("session_id")[["channel", "campaign", "device", "region"]]
    tagged = events.drop(columns=["channel", "campaign", "device", "region"]).join(attributes, on="session_id")
    tagged["hour"] = tagged.ts.dt.floor("h")
    for name, t in COUNTED.items():
        tagged[name] = (tagged.type == t).astype(int)
    tagged["orders"] = tagged["purchases"]
    tagged["revenue"] = tagged.revenue.where(tagged.type == "purchase", 0.0).fillna(0.0)
    hourly = tagged.groupby(["hour", "channel", "campaign", "device", "region"]).agg(
        events=("event_id", "count"), **{c: (c, "sum") for c in [*COUNTED, "orders", "revenue"]}).reset_index()
    return {"orders": orders, "customers": customers, "sessions": sessions, "rollup_hourly": hourly}
