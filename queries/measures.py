"""The KPIs and their ratios, defined once (docs/metrics.md): every query ends its counts here."""
from __future__ import annotations

import pandas as pd

KPI_COLUMNS = ("sessions", "users", "page_views", "bounce_rate", "conversion_rate", "orders", "revenue",
               "average_order_value", "signups", "spend", "roas", "cpa", "cac")


def derive(counts: pd.DataFrame, spend_known: bool) -> pd.DataFrame:
    """The KPIs from their counts (one row per period or bucket): the ratios defined once, here."""
    out = counts.copy()
    for column in ("sessions", "users", "engaged_sessions", "converted_sessions", "page_views", "signups",
                   "orders", "new_customers"):
        out[column] = out[column].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0).astype(float)
    out["spend"] = out["spend"].fillna(0).astype(float) if spend_known else float("nan")
    out["bounce_rate"] = 1 - ratio(out["engaged_sessions"], out["sessions"])
    out["conversion_rate"] = ratio(out["converted_sessions"], out["sessions"])
    out["average_order_value"] = ratio(out["revenue"], out["orders"])
    out["roas"] = ratio(out["revenue"], out["spend"])
    out["cpa"] = ratio(out["spend"], out["orders"])
    out["cac"] = ratio(out["spend"], out["new_customers"])
    extra = [c for c in out.columns if c not in KPI_COLUMNS and c in ("bucket", "channel")]
    return out[extra + list(KPI_COLUMNS)]


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN where the denominator is zero or unknown (shown as "–")."""
    denominator = denominator.astype(float)
    return numerator.astype(float) / denominator.where(denominator > 0)
