"""Budget: what each channel costs and returns (last-click), the basis for moving budget between them."""
from __future__ import annotations

import dash
from dash import html

from components.filter_bar import filter_bar
from components.grid import grid, number_column, text_column
from pages import _state
from queries.channels import channel_performance
from queries.dimensions import dimension_options
from queries.filters import Filters

dash.register_page(__name__, path="/budget", name="Budget", title="Pulse · Budget", order=3)

DEFAULTS = Filters(start="now-30d", end="now")
COLUMNS = [
    text_column("label", "Channel", pinned="left"),
    number_column("spend", "Spend", "money"),
    number_column("sessions", "Sessions", "integer"),
    number_column("orders", "Orders", "integer"),
    number_column("revenue", "Revenue", "money"),
    number_column("roas", "ROAS", "ratio"),
    number_column("cpa", "CPA", "money"),
]


@_state.with_filters(DEFAULTS)
def layout(filters: Filters, start, end):
    wh = _state.warehouse()
    table = channel_performance(wh, filters, start, end)
    table = table.sort_values(["paid", "spend"], ascending=[False, False])
    return html.Div([
        html.H1("Budget", className="h3"),
        filter_bar(filters, dimension_options(wh), comparison=False),
        html.H2("Spend and return by channel (last click)", className="h5"),
        grid("channel-grid", table, COLUMNS),
    ])
