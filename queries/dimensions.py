"""The values each filter dimension can take, for the filter bar's dropdowns."""
from __future__ import annotations

from data import schema
from data.warehouse import Warehouse


def dimension_options(wh: Warehouse) -> dict[str, list[dict]]:
    channels = wh.read("SELECT name, label FROM channels ORDER BY sort_order, name")
    campaigns = wh.read("SELECT name FROM campaigns ORDER BY name")
    regions = wh.read("SELECT DISTINCT region FROM events ORDER BY region")
    return {
        "channel": [{"label": r.label, "value": r.name} for r in channels.itertuples()],
        "campaign": [{"label": n, "value": n} for n in [*campaigns["name"], schema.NO_CAMPAIGN]],
        "device": [{"label": d.capitalize(), "value": d} for d in schema.DEVICES],
        "region": [{"label": r, "value": r} for r in regions["region"]],
    }
