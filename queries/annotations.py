"""Annotations (holidays, campaign launches, incidents, fired alerts) to draw on time-series charts."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from data.warehouse import Warehouse


def annotations_between(wh: Warehouse, start: datetime, end: datetime) -> pd.DataFrame:
    """Annotations overlapping [start, end): id, ts, ts_end, kind, text, region, channel, source."""
    return wh.read("""
        SELECT id, ts, ts_end, kind, text, region, channel, source FROM annotations
        WHERE ts < :end AND coalesce(ts_end, ts) >= :start
        ORDER BY ts""", {"start": start, "end": end})

