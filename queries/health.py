"""How big and how fresh the warehouse is: `/api/v1/health` and the views' "data as of"."""
from __future__ import annotations

from datetime import datetime

from data import schema
from data.warehouse import Warehouse


def newest_event(wh: Warehouse) -> datetime | None:
    """Time of the newest event; the rollup's newest hour bounds the scan of raw events to that hour."""
    return wh.scalar("""
        SELECT max(ts) FROM events
        WHERE ts >= coalesce((SELECT max(hour) FROM rollup_hourly), TIMESTAMP '1970-01-01')""")


def warehouse_health(wh: Warehouse) -> dict:
    counts = {table: wh.row_count(table) for table in schema.TABLES}
    newest = newest_event(wh)
    return {"row_counts": counts, "newest_event": newest.isoformat() + "Z" if newest is not None else None}
