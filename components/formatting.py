"""How numbers read on screen. Values arrive unformatted from queries/; only the view formats them."""
from __future__ import annotations

import math

MISSING = "–"
# Event types (funnel steps, experiment metrics) as people name them.
EVENT_LABELS = {"page_view": "Visit", "product_view": "Product view", "add_to_cart": "Add to cart",
                "checkout": "Checkout", "purchase": "Purchase", "signup": "Sign-up"}


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def integer(value) -> str:
    return MISSING if is_missing(value) else f"{value:,.0f}"


def money(value, currency: str = "$") -> str:
    if is_missing(value):
        return MISSING
    if abs(value) >= 1e6:
        return f"{currency}{value / 1e6:,.2f}M"
    return f"{currency}{value:,.0f}" if abs(value) >= 1000 else f"{currency}{value:,.2f}"


def percent(value, digits: int = 2) -> str:
    return MISSING if is_missing(value) else f"{value * 100:.{digits}f}%"


def ratio(value) -> str:
    return MISSING if is_missing(value) else f"{value:.2f}×"


def change(value) -> str:
    """A relative change, signed: +4.2% / −3.0%."""
    if is_missing(value):
        return MISSING
    sign = "+" if value >= 0 else "−"
    return f"{sign}{abs(value) * 100:.1f}%"


FORMATTERS = {"integer": integer, "money": money, "percent": percent, "ratio": ratio}


def duration(delta) -> str:
    """A time span as a person says it: 45 s, 12 min, 3 h 5 min, 2 days."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds // 86400} days"
