"""The KPIs and their ratios, defined once (docs/metrics.md): every query ends its counts here."""
from __future__ import annotations

import numpy as np
import pandas as pd

KPI_COLUMNS = ("sessions", "users", "page_views", "bounce_rate", "conversion_rate", "orders", "revenue",
               "average_order_value", "signups", "spend", "roas", "cpa", "cac")


_COUNTS = ("sessions", "users", "engaged_sessions", "converted_sessions", "page_views", "signups", "orders",
           "new_customers")


def derive(counts: pd.DataFrame, spend_known: bool) -> pd.DataFrame:
    """The KPIs from their counts (one row per period or bucket): the ratios defined once, here. Built
    column by column in numpy and assembled once: a refresh derives a few thousand rows, where pandas'
    column-at-a-time assignment cost more than the arithmetic."""
    n = len(counts)
    out = {c: counts[c].to_numpy() for c in ("bucket", "channel") if c in counts.columns}
    for column in _COUNTS:
        out[column] = np.nan_to_num(counts[column].to_numpy(dtype=float, na_value=np.nan)).astype("int64")
    revenue = np.nan_to_num(counts["revenue"].to_numpy(dtype=float, na_value=np.nan))
    spend = (np.nan_to_num(counts["spend"].to_numpy(dtype=float, na_value=np.nan)) if spend_known
             else np.full(n, np.nan))
    out.update(revenue=revenue, spend=spend,
               bounce_rate=1 - ratio(out["engaged_sessions"], out["sessions"]),
               conversion_rate=ratio(out["converted_sessions"], out["sessions"]),
               average_order_value=ratio(revenue, out["orders"]),
               roas=ratio(revenue, spend), cpa=ratio(spend, out["orders"]), cac=ratio(spend, out["new_customers"]))
    columns = [c for c in ("bucket", "channel") if c in out] + list(KPI_COLUMNS)
    return pd.DataFrame({c: out[c] for c in columns}, index=counts.index)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is zero or unknown (shown as "–")."""
    denominator = denominator.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)
