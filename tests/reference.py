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


def engaged(events: pd.DataFrame) -> pd.Series:
    """GA4's engaged session, per session: >= 2 page/product views, or any cart/checkout/purchase/signup,
    or >= 10 s between its first and last event."""
    session = events.session_id
    views = events.type.isin(["page_view", "product_view"]).groupby(session).sum()
    actions = events.type.isin(["add_to_cart", "checkout", "purchase", "signup"]).groupby(session).any()
    duration = (events.ts.groupby(session).max() - events.ts.groupby(session).min()).dt.total_seconds()
    return (views >= 2) | actions | (duration >= 10)


def ratio(a, b):
    return a / b if b else None


def kpis(events, ad_spend, start, end, engaged_sessions: pd.Series | None = None, **dims) -> dict:
    sessions = counted_sessions(events, start, end, **dims)
    in_scope = scoped(events, start, end, **dims)
    purchases = in_scope.query("type == 'purchase'")
    orders = purchases.order_id.nunique()
    revenue = float(purchases.revenue.sum())
    rows = spend(ad_spend, start, end, **dims)
    total_spend = float((rows.cost * rows.share).sum()) if not (dims.get("device") or dims.get("region")) else None
    engaged_sessions = engaged(events) if engaged_sessions is None else engaged_sessions
    all_purchases = events[events.type == "purchase"]
    first_order = all_purchases.groupby("user_id").ts.min()
    new_customers = purchases[purchases.ts == purchases.user_id.map(first_order)].user_id.nunique()
    return {
        "sessions": len(sessions),
        "users": sessions.user_id.nunique(),
        "page_views": int((in_scope.type == "page_view").sum()),
        "bounce_rate": 1 - engaged_sessions.reindex(sessions.index).mean() if len(sessions) else None,
        "conversion_rate": sessions.purchased.mean() if len(sessions) else None,
        "orders": orders,
        "revenue": revenue,
        "average_order_value": ratio(revenue, orders),
        "signups": int((in_scope.type == "signup").sum()),
        "spend": total_spend,
        "roas": ratio(revenue, total_spend),
        "cpa": ratio(total_spend, orders) if total_spend is not None else None,
        "cac": ratio(total_spend, new_customers) if total_spend is not None else None,
    }


def session_funnel(events, start, end, steps, **dims) -> list[int]:
    """Sessions reaching each step of the funnel page (docs/metrics.md, "Funnel": sessions, indirect order,
    1-day window); how many reach a step does not depend on the clock."""
    entities = funnel_entities(events, start, end, steps, "sessions", timedelta(days=1), "indirect", end, **dims)
    return [row["reached"] for row in funnel_counts(entities, len(steps))]


def experiment_counts(events: pd.DataFrame, name: str, lo: datetime, hi: datetime,
                      metric: str = "purchase", steps=(), **dims) -> tuple[pd.DataFrame, int, dict]:
    """pandas, from raw events: users assigned by their exposures in [lo, hi), selected by the attributes of
    the first event of their first exposed session; conversions at or after first exposure, before hi."""
    ordered = events.sort_values(["ts", "event_id"])
    exposures = ordered[(ordered.experiment == name) & (ordered.ts >= lo) & (ordered.ts < hi)]
    first = exposures.drop_duplicates("user_id").set_index("user_id")
    n_variants = exposures.groupby("user_id").variant.nunique()
    session_attrs = ordered.drop_duplicates("session_id").set_index("session_id")
    keep = pd.Series(True, index=first.index)
    for dim, values in dims.items():
        keep &= session_attrs.loc[first.session_id, dim].isin(values).to_numpy()
    first = first[keep]
    multi = int((n_variants[first.index] > 1).sum())
    single = first[n_variants[first.index] == 1]
    later = events.merge(single[["ts"]].rename(columns={"ts": "first_ts"}), left_on="user_id", right_index=True)
    later = later[(later.ts >= later.first_ts) & (later.ts < hi)]
    converted = set(later[later.type == metric].user_id)
    table = pd.DataFrame({"variant": single.variant, "converted": single.index.isin(converted)})
    summary = table.groupby("variant").agg(users=("converted", "size"), conversions=("converted", "sum"))
    funnel = {}
    if steps:
        seen = later.groupby("user_id").type.agg(set)
        for variant, users in table.groupby("variant").groups.items():
            sets = [seen.get(u, set()) for u in users]
            funnel[variant] = [sum(set(steps[:k + 1]) <= s for s in sets) for k in range(len(steps))]
    return summary, multi, funnel


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


def timeseries_totals(events, ad_spend, start, end, width: timedelta, offset: timedelta, **dims) -> pd.DataFrame:
    """Per bucket (all channels): sessions, users, page_views, orders, revenue, spend, by plain bucketing."""
    def bucket(ts):
        origin = pd.Timestamp("2000-01-03")
        return origin + ((ts + offset - origin) // width) * width - offset

    sessions = counted_sessions(events, start, end, **dims)
    sessions = sessions.assign(bucket=bucket(sessions.first_ts.clip(lower=start)))
    in_scope = scoped(events, start, end, **dims).assign(bucket=lambda f: bucket(f.ts))
    rows = spend(ad_spend, start, end, **dims)
    pieces = []  # spread each hour's in-range cost evenly over the buckets it covers
    for r in rows.itertuples():
        t, hi = max(r.ts, pd.Timestamp(start)), min(r.ts + timedelta(hours=1), pd.Timestamp(end))
        while t < hi:
            b = bucket(pd.Series([t]))[0]
            upto = min(hi, b + width)
            pieces.append((b, r.cost * (upto - t) / timedelta(hours=1)))
            t = upto
    cost = pd.DataFrame(pieces, columns=["bucket", "spend"]).groupby("bucket").spend.sum()
    table = pd.DataFrame({
        "sessions": sessions.groupby("bucket").size(),
        "users": sessions.groupby("bucket").user_id.nunique(),
        "page_views": in_scope[in_scope.type == "page_view"].groupby("bucket").size(),
        "orders": in_scope[in_scope.type == "purchase"].groupby("bucket").order_id.nunique(),
        "revenue": in_scope[in_scope.type == "purchase"].groupby("bucket").revenue.sum(),
        "spend": cost,
    }).fillna(0)
    return table


# ---- the funnel, by brute force, from docs/metrics.md ("Funnel"), not from queries/ or analytics/ ------

def funnel_entities(events: pd.DataFrame, start, end, steps, count: str, window: timedelta, order: str,
                    now, **dims) -> dict:
    """Per entity (user or session id) that entered: furthest (1-based), in_progress, entry (time),
    times (one per step, None when not reached), session (the counted attempt's entry session) and that
    session's channel, campaign, device, region and landing_page.

    Every attempt is walked on its own by keeping the set of events at which each step can be reached:
    step 1 is the entry; step k+1 can be any event of that type before entry + window that comes at or
    after (indirect), or at the same instant or the entity's next instant after (strict), some event at
    which step k can be reached."""
    sessions = _funnel_sessions(events)
    key = "user_id" if count == "users" else "session_id"
    entering = events[key][(events.type == steps[0]) & (events.ts >= start) & (events.ts < end)]
    streams: dict[str, list] = {}
    for event in events[events[key].isin(set(entering))].sort_values("ts").itertuples(index=False):
        streams.setdefault(getattr(event, key), []).append(event)
    result = {}
    for entity, stream in streams.items():
        attempts = [e for e in stream if e.type == steps[0] and start <= e.ts < end
                    and all(sessions[e.session_id][d] in values for d, values in dims.items() if values)]
        if not attempts:
            continue
        walked = [(_walk_attempt(stream, entry, steps, window, order), entry) for entry in attempts]
        furthest = max(len(times) for times, _ in walked)
        times, entry = min(((t, e) for t, e in walked if len(t) == furthest),
                           key=lambda pair: (pair[1].ts, pair[1].session_id))
        session = sessions[entry.session_id]
        result[entity] = {
            "furthest": furthest, "entry": entry.ts, "session": entry.session_id,
            "times": times + [None] * (len(steps) - furthest),
            "in_progress": furthest < len(steps) and any(e.ts + window > now for e in attempts),
            **{d: session[d] for d in ("user_id", "channel", "campaign", "device", "region", "landing_page")}}
    return result


def _walk_attempt(stream, entry, steps, window, order) -> list:
    """The earliest time each step is reached by the attempt starting at `entry`, up to the furthest step."""
    deadline = entry.ts + window
    reachable, times = [entry], [entry.ts]
    for step in steps[1:]:
        reachable = [e for e in stream if e.type == step and e.ts < deadline
                     and any(_may_follow(stream, previous, e, order) for previous in reachable)]
        if not reachable:
            break
        times.append(min(e.ts for e in reachable))
    return times


def _may_follow(stream, previous, event, order) -> bool:
    if event.ts < previous.ts:
        return False
    if order == "indirect":
        return True
    return not any(previous.ts < other.ts < event.ts for other in stream)  # strict: nothing in between


def _funnel_sessions(events: pd.DataFrame) -> dict:
    """Per session: its first event's (by ts, then event_id) user, attributes and page (landing page)."""
    first = events.sort_values(["ts", "event_id"]).drop_duplicates("session_id")
    return {r.session_id: {"user_id": r.user_id, "channel": r.channel, "campaign": r.campaign, "device": r.device,
                           "region": r.region, "landing_page": r.page if isinstance(r.page, str) else "(not set)"}
            for r in first.itertuples(index=False)}


def funnel_counts(entities: dict, steps: int) -> list[dict]:
    """Per step of the entities of `funnel_entities`: reached, dropped (window closed), in_progress."""
    rows = []
    for k in range(1, steps + 1):
        stopped = [e for e in entities.values() if e["furthest"] == k]
        waiting = sum(e["in_progress"] for e in stopped)
        rows.append({"step": k, "reached": sum(e["furthest"] >= k for e in entities.values()),
                     "dropped": 0 if k == steps else len(stopped) - waiting, "in_progress": waiting})
    return rows
