"""Per-channel traffic, revenue and spend of a range (last-click: a session's orders belong to its channel)."""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.measures import ratio
from queries.scope import spend_is_divisible
from queries.timeseries import TOTAL, bucket_counts, choose_step


def channel_list(wh: Warehouse) -> pd.DataFrame:
    """The channels in display order; read once until the next commit where results are cached (a
    refresh asks three times: for the charts' labels, the channel table and the campaign table)."""
    def read() -> pd.DataFrame:
        return wh.read("SELECT name, label, paid, sort_order FROM channels ORDER BY sort_order, name")
    return read() if wh.results is None else wh.results.through("channels", datetime.max, read)


def campaign_performance(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                         tz: str = "UTC") -> pd.DataFrame:
    """One row per (channel, campaign) with traffic or spend: sessions, orders, revenue, spend, roas, cpa."""
    table = _range_totals(wh, filters, start, end, tz, campaigns=True)
    channels = channel_list(wh)
    table["label"] = table["channel"].map(dict(zip(channels["name"], channels["label"])))
    table = table.sort_values(["revenue", "sessions", "channel", "campaign"], ascending=[False, False, True, True],
                              kind="stable")
    return _with_ratios(table[["channel", "label", "campaign", "sessions", "orders", "revenue", "spend"]], filters)


def _with_ratios(table: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    if not spend_is_divisible(filters):
        table[[c for c in ("spend", "impressions", "clicks") if c in table]] = float("nan")
    # The ratios of derive(); a channel that buys nothing (organic, email) has no CPA rather than $0.
    spend = table["spend"].to_numpy(dtype=float, na_value=np.nan)
    table["roas"] = ratio(table["revenue"].to_numpy(dtype=float), spend)
    table["cpa"] = ratio(np.where(spend > 0, spend, np.nan), table["orders"].to_numpy(dtype=float))
    return table.reset_index(drop=True)


def channel_performance(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                        tz: str = "UTC") -> pd.DataFrame:
    """One row per channel: label, paid, sessions, orders, revenue, spend, impressions, clicks, roas, cpa.
    Channels with neither traffic nor spend in range are left out."""
    rows = _range_totals(wh, filters, start, end, tz, campaigns=False)
    channels = channel_list(wh).rename(columns={"name": "channel"})
    table = channels.merge(rows, on="channel")  # as listed in `channels`, in their order
    columns = ["channel", "label", "paid", "sessions", "orders", "revenue", "spend", "impressions", "clicks"]
    return _with_ratios(table[columns].astype({"paid": bool}), filters)


def _range_totals(wh: Warehouse, filters: Filters, start: datetime, end: datetime, tz: str,
                  campaigns: bool) -> pd.DataFrame:
    """Per channel (or per channel and campaign), the range's sums of the trend charts' buckets: the same
    cached pieces (queries/timeseries.py), so the tables cost no query of their own on a refresh."""
    counts = bucket_counts(wh, filters, start, end, choose_step(start, end), tz)
    level = (counts["campaign"] != TOTAL) if campaigns else (counts["campaign"] == TOTAL)
    keys = ["channel", "campaign"] if campaigns else ["channel"]
    rows = counts[level & (counts["channel"] != TOTAL)]
    sums = rows.groupby(keys, as_index=False)[["sessions", "orders", "revenue", "spend", "impressions", "clicks"]].sum()
    return sums.astype({"sessions": "int64", "orders": "int64", "revenue": float, "spend": float,
                        "impressions": float, "clicks": float})
