"""Monitoring: are we on track right now, and if not, where is it breaking?

KPI tiles against the comparison period with sparklines, trends by channel with the comparison period
overlaid and annotations shaded, channel mix, top campaigns; refreshed in place every `refresh` seconds.
Clicking a channel in a chart filters the view by it.
"""
from __future__ import annotations

from datetime import datetime, timezone

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update
from flask import current_app

from components import charts
from components.filter_bar import filter_bar
from components.exports import titled, with_menu
from components.freshness import freshness
from components.grid import grid, number_column, rows, text_column
from components.kpi_card import kpi_card
from data import access
from pages import _state
from pages._exports import toolbar as export_toolbar  # by module name: re-run, callbacks and all, per app
from pages import _prefetch
from pages._prefetch import Prefetcher, now_ms
from queries.annotations import KINDS, MAX_TEXT, annotations_between, insert_annotation
from queries.channels import campaign_performance, channel_list, channel_performance
from queries.dimensions import dimension_options
from queries.filters import FilterError, Filters
from queries.health import newest_event
from queries.kpis import kpis_with_comparison
from queries.side_by_side import pool
from queries.timeseries import TOTAL, timeseries

dash.register_page(__name__, path="/", name="Monitoring", title="Pulse · Monitoring", order=0)

REFRESH_OPTIONS = (("Off", "off"), ("5 s", "5"), ("10 s", "10"), ("30 s", "30"), ("1 min", "60"), ("5 min", "300"))
CAMPAIGN_COLUMNS = [
    text_column("campaign", "Campaign", pinned="left"), text_column("label", "Channel"),
    number_column("sessions", "Sessions", "integer"), number_column("orders", "Orders", "integer"),
    number_column("revenue", "Revenue", "money"), number_column("spend", "Spend", "money"),
    number_column("roas", "ROAS", "ratio"), number_column("cpa", "CPA", "money"),
]


def refresh_seconds(filters: Filters) -> int | None:
    return _prefetch.refresh_seconds(filters, tuple(v for _, v in REFRESH_OPTIONS), "off")


@_state.with_filters()
def layout(filters: Filters, start, end):
    refresh = refresh_seconds(filters)
    wh = _state.warehouse()
    # The instant the view shows: every part of one refresh computes "now" from it, so the tiles, charts
    # and tables agree with each other. Its frame starts now, while the browser draws this layout.
    as_of = PREFETCH.start(_prefetch.view_of(filters), now_ms(), refresh)
    refresh_menu = dcc.Dropdown([{"label": label, "value": value} for label, value in REFRESH_OPTIONS],
                                filters.extra.get("refresh", "off"), id="filter-refresh", clearable=False,
                                style={"width": "7rem"})
    return html.Div([
        dbc.Row([
            dbc.Col(html.H1("Monitoring", className="h3 mb-0")),
            dbc.Col(html.Small(id="updated-ago", className="text-body-secondary"), width="auto",
                    className="align-self-center"),
            dbc.Col([html.Small("Refresh ", className="text-body-secondary"), refresh_menu], width="auto",
                    className="d-flex align-items-center gap-1 chrome-refresh"),
        ], className="mb-2"),
        filter_bar(filters, dimension_options(wh)),
        export_toolbar("monitoring", filters),
        dcc.Interval(id="refresh-timer", interval=(refresh or 3600) * 1000, disabled=refresh is None),
        dcc.Interval(id="clock", interval=1000),
        dcc.Store(id="as-of", data=as_of),
        dcc.Store(id="refresh-shown", data=filters.extra.get("refresh", "off")),
        html.Div(id="freshness"),
        with_menu(dbc.Row(id="kpi-row", className="g-2"), "monitoring", "kpis"),
        dbc.Row([dbc.Col(_graph("chart-revenue", "revenue"), lg=6), dbc.Col(_graph("chart-sessions", "sessions"), lg=6)]),
        dbc.Row([dbc.Col(_graph("chart-conversion", "conversion"), lg=6), dbc.Col(_graph("chart-mix", "mix"), lg=6)]),
        html.Div([titled(html.H2("Top campaigns", className="h5 mt-2"), "monitoring", "campaigns"),
                  grid("campaign-grid", pd.DataFrame(), CAMPAIGN_COLUMNS)],
                 className="kiosk-secondary"),  # a wall display shows the tiles and charts only
        _annotation_form() if access.allowed("admin") else None,  # never re-rendered by a refresh, so a refresh never clears what is being typed
    ])


def _graph(chart_id: str, table: str) -> html.Div:
    """A chart with its export menu (its data as CSV or XLSX, its image as PNG or SVG)."""
    return with_menu(dcc.Graph(id=chart_id, figure=charts.empty(), config={"displaylogo": False},
                               className="pulse-graph"), "monitoring", table, chart_id)


PARTS = {}  # name -> part(filters, now, data, tz): what each part's callback answers, from the frame's data


def view_part(name: str, outputs: int):
    """A part of the view, `part(filters, now, data, tz)`, as a callback of (as-of, URL search): its answer
    made with the view's frame at that instant, prefetched or computed once for the three parts
    (pages/_prefetch.py). An unusable URL changes nothing (the page shows the message naming the parameter)."""
    def decorate(part):
        PARTS[name] = part

        def callback_(as_of, search):
            try:
                filters = Filters.from_query(search or "")
                as_of = as_of or now_ms()
                now = datetime.fromtimestamp(as_of / 1000, timezone.utc)
                filters.resolve(now, _state.timezone())
            except FilterError:
                return (no_update,) * outputs
            frame = PREFETCH.at(_prefetch.view_of(filters), as_of)
            return _prefetch.once_per_frame(frame, name, lambda: part(filters, now, frame[name], _state.timezone()))
        callback_.__doc__ = part.__doc__
        return callback_
    return decorate


def _answers(view, instant_ms: int, frame: dict) -> None:
    """Each part's answer made from the frame, as soon as the frame is computed: a refresh's parts find
    their figures and tiles made, instead of making them when they ask (tens of ms each, one after the
    other for the interpreter). A part that asks meanwhile makes its own and this one skips it."""
    search, tz, _ = view
    filters, now = Filters.from_query(search), datetime.fromtimestamp(instant_ms / 1000, timezone.utc)
    for name, part in PARTS.items():
        _prefetch.once_per_frame(frame, name, lambda: part(filters, now, frame[name], tz))


def _frame(view, instant_ms: int) -> dict:
    """Everything one refresh of `view` shows at `instant_ms`, before formatting: the parts' data."""
    search, tz, wh = view
    filters = Filters.from_query(search)
    now = datetime.fromtimestamp(instant_ms / 1000, timezone.utc)
    start, end = filters.resolve(now, tz)
    period = filters.comparison(now, tz)
    # Side by side, as DuckDB works on both cores while Python formats; each query once (the tiles'
    # sparklines and the trend charts are the same series), sharing cached pieces (single flight).
    frame_pool = pool("frame")
    kpis = frame_pool.submit(kpis_with_comparison, wh, filters, now=now, tz=tz)
    earlier = frame_pool.submit(timeseries, wh, filters, *period, tz=tz) if period else None
    series = timeseries(wh, filters, start, end, tz=tz)
    mix = frame_pool.submit(channel_performance, wh, filters, start, end, tz)
    campaigns = campaign_performance(wh, filters, start, end, tz).head(25)
    previous = None
    if earlier:
        totals = _totals(earlier.result())
        previous = totals.assign(bucket=totals.bucket + (start - period[0]))
    return {
        "tiles": {"kpis": kpis.result(), "totals": _totals(series), "newest": newest_event(wh)},
        "trends": {"series": series, "previous": previous, "notes": annotations_between(wh, start, end),
                   "labels": dict(zip(*channel_list(wh)[["name", "label"]].T.values))},
        "tables": {"mix": mix.result(), "campaigns": campaigns},
    }


PREFETCH = Prefetcher(_frame, _answers)


@callback(Output("as-of", "data"), Input("refresh-timer", "n_intervals"), State("url", "search"),
          prevent_initial_call=True)
def tick(_, search):
    """A refresh: move the view's instant to now, or to that of the prefetched frame if one is ready; the
    parts below recompute in place (no spinner)."""
    return _prefetch.refresh_tick(PREFETCH, search, Filters.from_query, refresh_seconds)


@callback(Output("freshness", "children"), Output("kpi-row", "children"),
          Input("as-of", "data"), State("url", "search"))
@view_part("tiles", 2)
def tiles(filters, now, data, tz):
    table, totals = data["kpis"], data["totals"]
    spend_note = "not split by device or region" if (filters.device or filters.region) else None
    times = charts.iso_times(charts.local(totals.bucket, tz))
    return freshness(data["newest"], now, tz), [
        dbc.Col(kpi_card(row.kpi, row.current, row.change,
                         spend_note if row.kpi in ("spend", "roas", "cpa", "cac") else None,
                         charts.sparkline(totals[row.kpi], times)),
                xxl=2, xl=3, md=4, sm=6, className="mb-3")
        for row in table.itertuples()]


def _totals(series: pd.DataFrame) -> pd.DataFrame:
    return series[series.channel == TOTAL]


@callback(Output("chart-revenue", "figure"), Output("chart-sessions", "figure"), Output("chart-conversion", "figure"),
          Input("as-of", "data"), State("url", "search"))
@view_part("trends", 3)
def trends(filters, now, data, tz):
    series, previous, labels, notes = data["series"], data["previous"], data["labels"], data["notes"]
    figures = (charts.trend(series, previous, "revenue", "Revenue by channel", labels, tz, True, notes),
               charts.trend(series, previous, "sessions", "Sessions by channel", labels, tz, True, notes),
               charts.trend(_totals(series).assign(channel="all"), previous, "conversion_rate", "Conversion rate",
                            {"all": "All channels"}, tz, False, notes))
    return tuple(map(charts.filling, figures)) if _kiosk(filters) else figures


@callback(Output("chart-mix", "figure"), Output("campaign-grid", "rowData"),
          Input("as-of", "data"), State("url", "search"))
@view_part("tables", 2)
def channel_tables(filters, now, data, tz):
    mix = charts.channel_mix(data["mix"], "revenue", "Revenue by channel")
    return (charts.filling(mix) if _kiosk(filters) else mix), rows(data["campaigns"])


def _kiosk(filters: Filters) -> bool:
    return filters.extra.get("kiosk") == "1"


def _annotation_form() -> html.Details:
    kinds = [{"label": k.capitalize(), "value": k} for k in KINDS if k != "alert"]
    return html.Details([
        html.Summary("Add an annotation", className="small"),
        dbc.Row([
            dbc.Col(dcc.Input(id="annotation-ts", type="datetime-local", className="form-control"), md=3),
            dbc.Col(dcc.Dropdown(kinds, "incident", id="annotation-kind", clearable=False), md=2),
            dbc.Col(dcc.Input(id="annotation-text", placeholder="What happened", maxLength=MAX_TEXT,
                              className="form-control"), md=5),
            dbc.Col(dbc.Button("Add", id="annotation-add", size="sm"), md=1),
        ], className="g-2 my-2"),
        html.Div(id="annotation-message", className="small"),
    ], className="mb-2")


@callback(Output("annotation-message", "children"), Output("as-of", "data", allow_duplicate=True),
          Input("annotation-add", "n_clicks"), State("annotation-ts", "value"), State("annotation-kind", "value"),
          State("annotation-text", "value"), prevent_initial_call=True)
def add_annotation(_, when, kind, text):
    """Store the annotation (time in the display time zone) and redraw the view with it."""
    if not access.allowed("admin"):
        return dbc.Alert(f"Only an admin can add annotations; you are {access.current().describe()}.",
                         color="danger"), no_update
    try:
        moment = pd.Timestamp(when).tz_localize(_state.timezone()).tz_convert("UTC").tz_localize(None)
    except (TypeError, ValueError):
        return dbc.Alert(f"time={when!r}: pick a date and time", color="warning"), no_update
    writer = current_app.extensions["pulse.writer"]
    try:
        writer.call(lambda conn: insert_annotation(conn, moment.to_pydatetime(), kind, text or ""))
    except ValueError as error:
        return dbc.Alert(str(error), color="warning"), no_update
    access.audit("annotation.create", None, {"kind": kind, "ts": str(moment), "text": (text or "")[:200]})
    return dbc.Alert(f"Added: {kind} at {when}", color="success", duration=4000), now_ms()


# The refresh menu and a click on a channel in a chart write the URL in the browser, so that a choice made while
# the view redraws is kept (assets/pulse_url.js says why). Only a refresh that differs from the one the view was
# drawn with (`refresh-shown`) is applied; the redrawn charts hold no click.
clientside_callback(
    """function (value, shown, defaults, search) {
        if (!value || !shown || value === shown) { return dash_clientside.no_update; }
        return window.pulseSearchWith(search, {refresh: value}, defaults);  // assets/pulse_url.js
    }""",
    Output("url", "search", allow_duplicate=True), Input("filter-refresh", "value"), State("refresh-shown", "data"),
    State("filter-defaults", "data"), State("url", "search"), prevent_initial_call=True,
)

# Clicking a channel in a chart filters the view by that channel.
clientside_callback(
    """function (revenueClick, sessionsClick, mixClick, defaults, search) {
        const triggered = dash_clientside.callback_context.triggered;
        const click = triggered && triggered.length ? triggered[0].value : null;
        const points = (click || {}).points || [];
        const channel = points.length ? points[0].customdata : null;
        if (typeof channel !== 'string') { return dash_clientside.no_update; }
        return window.pulseSearchWith(search, {channel: channel}, defaults);  // assets/pulse_url.js
    }""",
    Output("url", "search", allow_duplicate=True),
    Input("chart-revenue", "clickData"), Input("chart-sessions", "clickData"), Input("chart-mix", "clickData"),
    State("filter-defaults", "data"), State("url", "search"), prevent_initial_call=True,
)


clientside_callback(
    """function (_, renderedAt) {
        if (!renderedAt) { return ""; }
        const seconds = Math.max(0, Math.round((Date.now() - renderedAt) / 1000));
        return "Updated " + (seconds < 60 ? seconds + " s" : Math.round(seconds / 60) + " min") + " ago";
    }""",
    Output("updated-ago", "children"), Input("clock", "n_intervals"), State("as-of", "data"))
