"""The active-alerts banner shown above every page, polled every 15 s whether or not the page refreshes."""
from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, callback, dcc, html

POLL_SECONDS = 15


def alert_banner() -> html.Div:
    return html.Div([dcc.Interval(id="alert-poll", interval=POLL_SECONDS * 1000),
                     html.Div(id="alert-banner")])


def render(active: pd.DataFrame) -> list:
    """One line per firing alert: the rule's name and its message (text only, never markup)."""
    if active.empty:
        return []
    lines = [html.Div([html.Strong(row.rule_name + ": "), html.Span(row.message or "")], className="alert-line")
             for row in active.itertuples()]
    return [dbc.Alert([html.Div(f"{len(lines)} alert{'s' if len(lines) > 1 else ''} firing",
                                className="fw-semibold"), *lines,
                       dcc.Link("See alerts", href="/alerts", className="small")],
                      color="danger", className="mb-2 py-2", id="alert-banner-box")]


@callback(Output("alert-banner", "children"), Input("alert-poll", "n_intervals"), Input("url", "pathname"))
def show_active_alerts(_, __):
    from data.warehouse import current
    from queries.alerts import active

    return render(active(current(), include_pending=False))
