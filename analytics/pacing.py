"""How much of a period's total is expected to be behind us at a moment, read off a reference curve (the
same day last week): revenue and orders do not arrive evenly through a day, so a plan spread evenly over
the hours reads far behind every morning and ahead every evening."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

HOUR = timedelta(hours=1)


def share_done(reference: pd.DataFrame, kpi: str, cut: datetime, even: float) -> float:
    """The share of `reference`'s total `kpi` before `cut` (hour buckets, `bucket` their start; the bucket
    holding `cut` prorated), or `even` when the reference has none."""
    total = reference[kpi].sum()
    if not total > 0:
        return even
    ends = reference.bucket + HOUR
    before = reference[kpi][ends <= cut].sum()
    holding = reference[(reference.bucket < cut) & (ends > cut)]
    partial = sum((cut - start) / HOUR * value for start, value in zip(holding.bucket, holding[kpi]))
    return float((before + partial) / total)
