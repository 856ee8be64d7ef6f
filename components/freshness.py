"""How fresh a live view's data is: "Data as of" the newest event, and a warning when none has arrived for
a while (tracking may be broken). The same line on the monitoring view and the wall."""
from __future__ import annotations

from datetime import datetime, timedelta

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from components import formatting

STALE_AFTER = timedelta(minutes=10)  # no event for this long: tracking may be broken


def freshness(newest: datetime | None, now: datetime, tz: str) -> html.Div:
    """`newest`: the newest event's time (naive UTC); `now`: the view's instant."""
    if newest is None:
        return dbc.Alert("No events yet.", color="info", id="stale-banner")
    shown = pd.Timestamp(newest).tz_localize("UTC").tz_convert(tz)
    as_of = html.Small(f"Data as of {shown:%Y-%m-%d %H:%M:%S} ({tz})", id="data-as-of",
                       className="text-body-secondary")
    silent = now.replace(tzinfo=None) - newest
    if silent <= STALE_AFTER:
        return html.Div(as_of, className="mb-2")
    return html.Div([dbc.Alert(
        f"No event has arrived for {formatting.duration(silent)}: is tracking broken?",
        color="danger", id="stale-banner", className="mb-1"), as_of], className="mb-2")
