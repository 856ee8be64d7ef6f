"""The values each filter dimension can take, for the filter bar's dropdowns.

Filters select sessions by the attributes of their first event, so the choices are the attributes sessions
actually have: read from `rollup_hourly` (which is keyed by them, and far smaller than `events`), plus the
campaigns planned in `campaigns` that have no traffic yet.
"""
from __future__ import annotations

from data import schema
from data.warehouse import Warehouse
from queries.channels import channel_list


def dimension_options(wh: Warehouse) -> dict[str, list[dict]]:
    channels = channel_list(wh)
    campaigns = wh.read("SELECT DISTINCT campaign AS name FROM rollup_hourly "
                        "UNION SELECT name FROM campaigns ORDER BY name")
    regions = wh.read("SELECT DISTINCT region FROM rollup_hourly ORDER BY region")
    return {
        "channel": [{"label": r.label, "value": r.name} for r in channels.itertuples()],
        "campaign": [{"label": n, "value": n} for n in campaigns["name"]],
        "device": [{"label": d.capitalize(), "value": d} for d in schema.DEVICES],
        "region": [{"label": r, "value": r} for r in regions["region"]],
    }
