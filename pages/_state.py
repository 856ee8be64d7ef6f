"""What every page reads from the request: the warehouse, the display time zone, and the URL's filters."""
from __future__ import annotations

from flask import current_app

from data.warehouse import Warehouse, current
from queries.filters import Filters


def warehouse() -> Warehouse:
    return current()


def timezone() -> str:
    return current_app.config.get("PULSE_TIMEZONE", "UTC")


def filters_from(query: dict, defaults: Filters | None = None) -> Filters:
    """The page's Filters from `layout(**query)`; raises FilterError naming the bad field."""
    return Filters.from_query(query, defaults)
