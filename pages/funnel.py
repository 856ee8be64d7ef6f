"""Funnel: where sessions drop off on the way from visit to purchase."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components import formatting
from components.filter_bar import filter_bar
from pages import _state
from queries.dimensions import dimension_options
from queries.filters import Filters
from queries.funnel import session_funnel

dash.register_page(__name__, path="/funnel", name="Funnel", title="Pulse · Funnel", order=1)

DEFAULTS = Filters(start="now-7d", end="now")


@_state.with_filters(DEFAULTS)
def layout(filters: Filters, start, end):
    wh = _state.warehouse()
    table = session_funnel(wh, filters, start, end)
    labels = [formatting.EVENT_LABELS.get(step, step) for step in table["step"]]
    figure = go.Figure(go.Funnel(y=labels, x=table["sessions"], textinfo="value+percent initial"))
    figure.update_layout(template="plotly_white", margin=dict(l=10, r=10, t=10, b=10), height=380)
    rows = [html.Tr([html.Td(label), html.Td(formatting.integer(r.sessions), className="text-end"),
                     html.Td(formatting.percent(r.from_previous, 1), className="text-end"),
                     html.Td(formatting.percent(r.from_start, 1), className="text-end")],
                    id={"type": "funnel-row", "step": r.step})
            for label, r in zip(labels, table.itertuples())]
    steps_table = dbc.Table([html.Thead(html.Tr([html.Th("Step"), html.Th("Sessions", className="text-end"),
                                                 html.Th("From previous", className="text-end"),
                                                 html.Th("From start", className="text-end")])),
                             html.Tbody(rows)], size="sm", id="funnel-table")
    return html.Div([
        html.H1("Funnel", className="h3"),
        filter_bar(filters, dimension_options(wh), comparison=False),
        dbc.Row([dbc.Col(dcc.Graph(figure=figure, id="funnel-chart", config={"displaylogo": False}), lg=7),
                  dbc.Col(steps_table, lg=5)]),
    ])
