"""Wall: the handful of numbers an executive wants on a TV, readable across the room.

Today so far (from local midnight, or the URL's `from`/`to`) against the same time on the same day last
week, spend against its plan (the monthly budgets), revenue today against last week hour by hour, the
channel mix, and the top alert. Every number comes from the same query functions as the monitoring page
(`kpis_with_comparison`, `timeseries`, `channel_performance`), so the two always agree. Made for kiosk
mode (`kiosk=1`) and playlists; it refreshes itself every `refresh` seconds (default 10), prefetched
like the monitoring view (pages/_prefetch.py).
"""
from __future__ import annotations

from datetime import datetime, timezone

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from components import charts, formatting
from components.freshness import freshness
from components.kpi_card import KPI_DISPLAY, tone
from components.exports import with_menu
from pages import _state
from pages._exports import toolbar as export_toolbar  # by module name: re-run, callbacks and all, per app
from pages import _prefetch
from pages._prefetch import Prefetcher, now_ms
from queries.filters import FilterError, Filters
from queries.wall import DEFAULTS, HEADLINE, wall_data

dash.register_page(__name__, path="/wall", name="Wall", title="Pulse · Wall", order=5)

REFRESH_CHOICES = ("1", "2", "5", "10", "30", "60", "off")


def refresh_seconds(filters: Filters) -> int | None:
    return _prefetch.refresh_seconds(filters, REFRESH_CHOICES, "10")


@_state.with_filters(DEFAULTS)
def layout(filters: Filters, start, end):
    refresh = refresh_seconds(filters)
    as_of = PREFETCH.start(_prefetch.view_of(filters), now_ms(), refresh)  # computed while the browser draws the layout
    return html.Div([
        dcc.Interval(id="wall-timer", interval=(refresh or 3600) * 1000, disabled=refresh is None),
        dcc.Store(id="wall-as-of", data=as_of),
        html.Div([html.H1("Today", className="wall-title mb-0"),
                  html.Div(id="wall-freshness"),
                  html.Span(id="wall-as-of-text", className="data-as-of text-body-secondary")],
                 className="d-flex align-items-baseline gap-3 mb-2"),
        export_toolbar("wall", filters),  # chrome: a wall display (kiosk=1) shows none of it
        with_menu(dbc.Row(id="wall-numbers", className="g-3 mb-3"), "wall", "kpis"),
        dbc.Row([
            dbc.Col(with_menu(dcc.Graph(id="wall-revenue", figure=charts.empty(), config={"displaylogo": False},
                                        className="wall-graph"), "wall", "revenue", "wall-revenue"), lg=8),
            dbc.Col(with_menu(dcc.Graph(id="wall-mix", figure=charts.empty(), config={"displaylogo": False},
                                        className="wall-graph"), "wall", "mix", "wall-mix"), lg=4),
        ], className="g-3"),
        html.Div(id="wall-alert", className="mt-3"),
    ], className="wall")


def _frame(view, instant_ms: int) -> dict:
    search, tz, wh = view
    filters = Filters.from_query(search, DEFAULTS)
    return wall_data(wh, tz, filters, datetime.fromtimestamp(instant_ms / 1000, timezone.utc))


PREFETCH = Prefetcher(_frame)


@callback(Output("wall-as-of", "data"), Input("wall-timer", "n_intervals"), State("url", "search"),
          prevent_initial_call=True)
def tick(_, search):
    return _prefetch.refresh_tick(PREFETCH, search, lambda query: Filters.from_query(query, DEFAULTS), refresh_seconds)


@callback(Output("wall-numbers", "children"), Output("wall-revenue", "figure"), Output("wall-mix", "figure"),
          Output("wall-alert", "children"), Output("wall-freshness", "children"), Output("wall-as-of-text", "children"),
          Input("wall-as-of", "data"), State("url", "search"))
def show(as_of, search):
    try:
        filters = Filters.from_query(search or "", DEFAULTS)
        as_of = as_of or now_ms()
        now = datetime.fromtimestamp(as_of / 1000, timezone.utc)
        tz = _state.timezone()
        filters.resolve(now, tz)
    except FilterError:
        return (no_update,) * 6
    data = PREFETCH.at(_prefetch.view_of(filters), as_of)
    return _prefetch.once_per_frame(data, "show", lambda: _shown(data, now, tz))


def _shown(data: dict, now: datetime, tz: str) -> tuple:
    shown = pd.Timestamp(now).tz_convert(tz)
    return ([_number(kpi, data) for kpi in HEADLINE], charts.filling(_revenue_chart(data, tz)), charts.filling(
        charts.channel_mix(data["mix"], "revenue", "Revenue by channel")), _top_alert(data["alerts"]),
        freshness(data["newest"], now, tz), f"Updated {shown:%H:%M:%S}")


def _number(kpi: str, data: dict) -> dbc.Col:
    display, row = KPI_DISPLAY[kpi], data["kpis"].loc[kpi]
    value = formatting.FORMATTERS[display.format](row.current)
    lines = [html.Div(f"{formatting.change(row.change)} vs last week", className=tone(row.change, display.up_is_good),
                      id={"type": "wall-change", "kpi": kpi})]
    plan = data["plan"].get(kpi)
    if plan:
        pace = row.current / plan - 1
        lines.append(html.Div(f"{formatting.change(pace)} vs plan ({formatting.FORMATTERS[display.format](plan)})",
                              className=tone(pace, display.up_is_good), id={"type": "wall-plan", "kpi": kpi}))
    return dbc.Col(dbc.Card(dbc.CardBody([
        html.Div(display.label, className="wall-label text-body-secondary text-uppercase"),
        html.Div(value, className="wall-value fw-semibold", id={"type": "wall-value", "kpi": kpi}),
        *lines,
    ]), className="h-100 wall-card"), lg=True, md=4, sm=6)


def _revenue_chart(data: dict, tz: str) -> dict:
    previous = data["last_week"].assign(bucket=data["last_week"].bucket + data["shift"])
    return charts.trend(data["today"], previous, "revenue", "Revenue so far, today and the same day last week",
                        {"today": "Today"}, tz, False, None, previous_name="Same day last week")


def _top_alert(alerts: pd.DataFrame):
    if alerts.empty:
        return dbc.Alert("No alert firing", color="success", className="wall-alert mb-0", id="wall-top-alert")
    top = alerts.iloc[0]
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return dbc.Alert([html.Strong(f"{top.rule_name}: "), html.Span(top.message or ""), html.Span(more)],
                     color="danger", className="wall-alert mb-0", id="wall-top-alert")
