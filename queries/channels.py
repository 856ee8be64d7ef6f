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
    """One row per (channel, campaign) with traffic or spend: sessions, orders, revenue, spend, roas, cpa;
    most revenue first."""
    table = _range_totals(wh, filters, start, end, tz, campaigns=True)
    channels = channel_list(wh)
    labels = dict(zip(channels["name"], channels["label"]))
    order = np.lexsort((table["campaign"], table["channel"], -table["sessions"], -table["revenue"]))
    table = {column: values[order] for column, values in table.items()}
    table["label"] = np.array([labels.get(c) for c in table["channel"]], dtype=object)
    columns = ["channel", "label", "campaign", "sessions", "orders", "revenue", "spend"]
    return _with_ratios(pd.DataFrame({c: table[c] for c in columns}), filters)


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
    Channels with neither traffic nor spend in range are left out; in the channel list's order."""
    rows = _range_totals(wh, filters, start, end, tz, campaigns=False)
    channels = channel_list(wh)
    position = {name: i for i, name in enumerate(rows["channel"])}
    listed = [i for i, name in enumerate(channels["name"]) if name in position]
    picked = [position[channels["name"].iat[i]] for i in listed]
    table = pd.DataFrame({"channel": channels["name"].to_numpy(dtype=object)[listed],
                          "label": channels["label"].to_numpy(dtype=object)[listed],
                          "paid": channels["paid"].to_numpy(dtype=bool)[listed],
                          **{c: rows[c][picked] for c in _SUMMED}})
    return _with_ratios(table, filters)


_SUMMED = ("sessions", "orders", "revenue", "spend", "impressions", "clicks")


def _range_totals(wh: Warehouse, filters: Filters, start: datetime, end: datetime, tz: str,
                  campaigns: bool) -> dict[str, np.ndarray]:
    """Per channel (or per channel and campaign), the range's sums of the trend charts' buckets: the same
    cached pieces (queries/timeseries.py), so the tables cost no query of their own on a refresh. Summed
    in numpy: pandas' grouping of a few thousand rows cost ten times more than the sums."""
    counts = bucket_counts(wh, filters, start, end, choose_step(start, end), tz)
    channel = counts["channel"].to_numpy(dtype=object)
    campaign = counts["campaign"].to_numpy(dtype=object)
    rows = ((campaign != TOTAL) if campaigns else (campaign == TOTAL)) & (channel != TOTAL)
    channel_code, channel_names = pd.factorize(channel[rows])
    campaign_code, campaign_names = pd.factorize(campaign[rows]) if campaigns else (np.zeros_like(channel_code), [TOTAL])
    code, keys = pd.factorize(channel_code * len(campaign_names) + campaign_code)
    out = {"channel": np.asarray(channel_names, dtype=object)[keys // len(campaign_names)]}
    if campaigns:
        out["campaign"] = np.asarray(campaign_names, dtype=object)[keys % len(campaign_names)]
    for column in _SUMMED:
        values = counts[column].to_numpy(dtype=float, na_value=np.nan)[rows]
        out[column] = np.bincount(code, weights=np.nan_to_num(values), minlength=len(keys))
    for column in ("sessions", "orders"):
        out[column] = out[column].round().astype("int64")
    return out
