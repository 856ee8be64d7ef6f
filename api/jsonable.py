"""Query results as JSON: numpy scalars as Python numbers, NaN/NaT as null (JSON has no NaN), timestamps
as ISO-8601 UTC with a Z. Every JSON endpoint answers through these, so a number reads the same in each."""
from __future__ import annotations

import math
from datetime import datetime

import pandas as pd


def value(item):
    if hasattr(item, "item") and not isinstance(item, (pd.Timestamp, datetime)):
        item = item.item()
    if item is None or item is pd.NaT or (isinstance(item, float) and math.isnan(item)):
        return None
    if isinstance(item, (pd.Timestamp, datetime)):
        return pd.Timestamp(item).to_pydatetime().isoformat() + "Z"
    return item


def row(record: dict) -> dict:
    return {key: value(item) for key, item in record.items()}


def body_with(*required: str) -> dict:
    """The request's JSON object with `required` keys, or a FilterError naming what is wrong (a 400)."""
    from flask import request

    from queries.filters import FilterError
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise FilterError("body", (request.get_data(as_text=True) or "")[:80], "must be a JSON object")
    for key in required:
        if key not in body:
            raise FilterError(key, None, "is required")
    return body
