"""Monitoring: are we on track right now? Headline KPIs against the comparison period."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from components.filter_bar import filter_bar
from components.kpi_card import kpi_card
from pages import _state
from queries.dimensions import dimension_options
from queries.filters import Filters
from queries.kpis import kpis_with_comparison

dash.register_page(__name__, path="/", name="Monitoring", title="Pulse · Monitoring", order=0)


@_state.with_filters()
def layout(filters: Filters, start, end):
    wh = _state.warehouse()
    table = kpis_with_comparison(wh, filters, tz=_state.timezone())
    spend_note = None if not (filters.device or filters.region) else "not split by device or region"
    tiles = [
        dbc.Col(kpi_card(row.kpi, row.current, row.change, spend_note if row.kpi in ("spend", "roas") else None),
                xl=3, md=4, sm=6, className="mb-3")
        for row in table.itertuples()
    ]
    return html.Div([
        html.H1("Monitoring", className="h3"),
        filter_bar(filters, dimension_options(wh)),
        dbc.Row(tiles, id="kpi-row"),
    ])
