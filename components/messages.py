"""Messages shown in place of a view when its input cannot be used."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html


def input_error(field: str, value, problem: str) -> dbc.Alert:
    return dbc.Alert([html.Strong(f"Cannot show this view: {field}={value!r} "), html.Span(problem)],
                     color="warning", className="input-error")


def empty_warehouse() -> dbc.Alert:
    return dbc.Alert("The warehouse has no events yet. Run `python -m data.generate` or send events to "
                     "/api/v1/events.", color="info")
