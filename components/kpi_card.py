"""A KPI tile: label, value, and its change against the comparison period, coloured by whether the move
is good news (for bounce rate or CPA, down is good)."""
from __future__ import annotations

from dataclasses import dataclass

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import formatting


@dataclass(frozen=True)
class KpiDisplay:
    label: str
    format: str  # a key of formatting.FORMATTERS
    up_is_good: bool | None = True  # None: a move either way is neither good nor bad news


KPI_DISPLAY = {
    "sessions": KpiDisplay("Sessions", "integer"),
    "users": KpiDisplay("Users", "integer"),
    "page_views": KpiDisplay("Page views", "integer"),
    "bounce_rate": KpiDisplay("Bounce rate", "percent", up_is_good=False),
    "conversion_rate": KpiDisplay("Conversion rate", "percent"),
    "orders": KpiDisplay("Orders", "integer"),
    "revenue": KpiDisplay("Revenue", "money"),
    "average_order_value": KpiDisplay("Avg. order value", "money"),
    "signups": KpiDisplay("Sign-ups", "integer"),
    "spend": KpiDisplay("Spend", "money", up_is_good=None),
    "roas": KpiDisplay("ROAS", "ratio"),
    "cpa": KpiDisplay("CPA", "money", up_is_good=False),
    "cac": KpiDisplay("CAC", "money", up_is_good=False),
}


def kpi_card(kpi: str, value, change=None, note: str | None = None, spark=None) -> dbc.Card:
    """`spark`: a small figure of the KPI over the range (components.charts.sparkline), or None."""
    display = KPI_DISPLAY[kpi]
    text = formatting.FORMATTERS[display.format](value)
    body = [
        html.Div(display.label, className="kpi-label text-body-secondary small text-uppercase"),
        html.Div(text, className="kpi-value fs-3 fw-semibold", id={"type": "kpi-value", "kpi": kpi}),
        html.Div(formatting.change(change), className=f"kpi-change small {tone(change, display.up_is_good)}",
                 id={"type": "kpi-change", "kpi": kpi}, title="against the comparison period"),
    ]
    if note:
        body.append(html.Div(note, className="kpi-note small text-body-secondary"))
    if spark is not None:
        body.append(dcc.Graph(figure=spark, config={"staticPlot": True}, className="kpi-spark",
                              id={"type": "kpi-spark", "kpi": kpi}, style={"height": "36px"}))
    return dbc.Card(dbc.CardBody(body), className="kpi-card h-100", id={"type": "kpi-card", "kpi": kpi})


def tone(change, up_is_good: bool | None) -> str:
    """The colour class of a change: good news green, bad news red, neither grey."""
    if formatting.is_missing(change) or change == 0 or up_is_good is None:
        return "text-body-secondary"
    good = (change > 0) == up_is_good
    return "text-success" if good else "text-danger"
