"""What `/api/v1/health` reports about the warehouse."""
from __future__ import annotations

from data import schema
from data.warehouse import Warehouse


def warehouse_health(wh: Warehouse) -> dict:
    counts = {table: wh.row_count(table) for table in schema.TABLES}
    newest = wh.scalar("SELECT max(ts) FROM events")
    return {"row_counts": counts, "newest_event": newest.isoformat() + "Z" if newest is not None else None}
