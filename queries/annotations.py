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



KINDS = ("incident", "campaign", "holiday", "note", "alert")
MAX_TEXT = 500


def insert_annotation(conn, ts: datetime, kind: str, text: str, ts_end: datetime | None = None,
                      source: str = "user", region: str | None = None, channel: str | None = None) -> int:
    """Add an annotation through a writer connection (inside `Writer.call`); returns its id."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: must be one of {', '.join(KINDS)}")
    if not text.strip() or len(text) > MAX_TEXT:
        raise ValueError(f"text: must be 1 to {MAX_TEXT} characters")
    return conn.execute(
        "INSERT INTO annotations (ts, ts_end, kind, text, region, channel, source) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id", [ts, ts_end, kind, text.strip(), region, channel, source]).fetchone()[0]
