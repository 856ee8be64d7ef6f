"""Per-channel traffic, revenue and spend of a range (last-click: a session's orders belong to its channel)."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.scope import event_counts_cte, sessions_cte, spend_cte, spend_is_divisible, with_ctes


def channel_list(wh: Warehouse) -> pd.DataFrame:
    return wh.read("SELECT name, label, paid, sort_order FROM channels ORDER BY sort_order, name")


def campaign_performance(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """One row per (channel, campaign) with traffic or spend: sessions, orders, revenue, spend, roas, cpa."""
    ctes, params = with_ctes(sessions_cte(filters, start, end), event_counts_cte(filters, start, end),
                             spend_cte(filters, start, end))
    sql = ctes + """,
    traffic AS (SELECT channel, campaign, count(*) AS sessions FROM counted_sessions GROUP BY ALL),
    sales AS (SELECT channel, campaign, sum(orders) AS orders, sum(revenue) AS revenue FROM event_counts GROUP BY ALL),
    spend AS (SELECT channel, campaign, sum(cost * share) AS spend FROM scoped_spend GROUP BY ALL),
    keys AS (SELECT channel, campaign FROM traffic UNION SELECT channel, campaign FROM sales
             UNION SELECT channel, campaign FROM spend)
    SELECT k.channel, c.label, k.campaign, coalesce(t.sessions, 0) AS sessions, coalesce(o.orders, 0) AS orders,
           coalesce(o.revenue, 0) AS revenue, coalesce(s.spend, 0) AS spend
    FROM keys k
    LEFT JOIN channels c ON c.name = k.channel
    LEFT JOIN traffic t ON t.channel = k.channel AND t.campaign = k.campaign
    LEFT JOIN sales o ON o.channel = k.channel AND o.campaign = k.campaign
    LEFT JOIN spend s ON s.channel = k.channel AND s.campaign = k.campaign
    ORDER BY revenue DESC, sessions DESC
    """
    table = wh.read(sql, params).astype({"sessions": "int64", "orders": "int64", "revenue": float, "spend": float})
    return _with_ratios(table, filters)


def _with_ratios(table: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    if not spend_is_divisible(filters):
        table[[c for c in ("spend", "impressions", "clicks") if c in table]] = float("nan")
    spend = table["spend"].where(table["spend"] > 0)
    table["roas"] = table["revenue"] / spend
    table["cpa"] = spend / table["orders"].where(table["orders"] > 0)
    return table.reset_index(drop=True)


def channel_performance(wh: Warehouse, filters: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """One row per channel: label, paid, sessions, orders, revenue, spend, impressions, clicks, roas, cpa.
    Channels with neither traffic nor spend in range are left out."""
    ctes, params = with_ctes(sessions_cte(filters, start, end), event_counts_cte(filters, start, end),
                             spend_cte(filters, start, end))
    sql = ctes + """,
    traffic AS (SELECT channel, count(*) AS sessions FROM counted_sessions GROUP BY channel),
    sales AS (SELECT channel, sum(orders) AS orders, sum(revenue) AS revenue FROM event_counts GROUP BY channel),
    spend AS (
        SELECT channel, sum(cost * share) AS spend, sum(impressions * share) AS impressions,
               sum(clicks * share) AS clicks
        FROM scoped_spend GROUP BY channel
    )
    SELECT c.name AS channel, c.label, c.paid, c.sort_order,
           coalesce(t.sessions, 0) AS sessions, coalesce(o.orders, 0) AS orders,
           coalesce(o.revenue, 0) AS revenue, coalesce(s.spend, 0) AS spend,
           coalesce(s.impressions, 0) AS impressions, coalesce(s.clicks, 0) AS clicks
    FROM channels c
    LEFT JOIN traffic t ON t.channel = c.name
    LEFT JOIN sales o ON o.channel = c.name
    LEFT JOIN spend s ON s.channel = c.name
    WHERE t.channel IS NOT NULL OR o.channel IS NOT NULL OR s.channel IS NOT NULL
    ORDER BY c.sort_order, c.name
    """
    table = wh.read(sql, params)
    table = table.astype({"sessions": "int64", "orders": "int64", "revenue": float, "spend": float,
                          "impressions": float, "clicks": float, "paid": bool})
    return _with_ratios(table.drop(columns="sort_order"), filters)
