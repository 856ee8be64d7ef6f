"""Funnel: where people drop off on the way from visit to purchase, for which segment, and since when.

Steps, counting unit, conversion window, order, breakdown and trend interval live in the URL next to the
filters (docs/metrics.md, "Funnel"); every number comes from `queries.funnel.funnel_report`, as
`/api/v1/funnel` does. The drop-off list of any step downloads as CSV for retargeting.
"""
from __future__ import annotations

from datetime import datetime, timezone

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from analytics.segments import most_deviating
from components import charts, formatting
from components.exports import titled, with_menu
from components.filter_bar import filter_bar
from components.grid import grid, number_column, text_column
from components.messages import input_error
from data import access
from data.schema import EVENT_TYPES
from pages import _state
from pages._exports import toolbar as export_toolbar  # by module name: re-run, callbacks and all, per app
from queries.dimensions import dimension_options
from queries.filters import FilterError, Filters
from queries.funnel import BREAKDOWNS, FunnelOptions, funnel_dropoffs, funnel_report
from queries.view_tables import DEFAULTS as VIEW_DEFAULTS

dash.register_page(__name__, path="/funnel", name="Funnel", title="Pulse · Funnel", order=1)

DEFAULTS = VIEW_DEFAULTS["funnel"]
STEP_SLOTS = 6
WINDOWS = ("30m", "1h", "6h", "1d", "7d", "30d")
BREAKDOWN_LABELS = {"channel": "Channel", "campaign": "Campaign", "device": "Device", "region": "Region",
                    "landing_page": "Landing page"}
STEP_COLUMNS = [
    text_column("label", "Step", pinned="left"), number_column("reached", "Reached", "integer"),
    number_column("from_previous", "From previous", "percent"), number_column("from_start", "From start", "percent"),
    number_column("dropped", "Dropped", "integer"), number_column("in_progress", "Still in progress", "integer"),
]
TIME_COLUMNS = [
    text_column("pair", "Between"), number_column("converted", "Converted", "integer"),
    text_column("median", "Median"), text_column("p90", "90th percentile"),
]


def options_of(filters: Filters) -> FunnelOptions:
    """The funnel's own URL parameters, kept by `Filters` among its extras."""
    return FunnelOptions.from_query({k: v for k, v in filters.extra.items() if isinstance(v, str)})


def label(step: str) -> str:
    return formatting.EVENT_LABELS.get(step, step)


@_state.with_filters(DEFAULTS)
def layout(filters: Filters, start, end):
    wh, tz = _state.warehouse(), _state.timezone()
    options = options_of(filters)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    report = funnel_report(wh, filters, start, end, options, now=now, tz=tz)
    labels = [label(s) for s in options.steps]
    return html.Div([
        html.H1("Funnel", className="h3"),
        filter_bar(filters, dimension_options(wh), comparison=False, defaults=DEFAULTS),
        _option_bar(options),
        dcc.Store(id="funnel-shown", data=shown_options(options)),
        export_toolbar("funnel", filters),
        dbc.Row([
            dbc.Col(with_menu(dcc.Graph(id="funnel-chart", config={"displaylogo": False}, figure=charts.funnel_bars(
                labels, list(report.steps["reached"]), list(report.steps["from_start"]),
                f"{options.count.capitalize()} reaching each step within {options.window} ({options.order} order)")),
                "funnel", "steps", "funnel-chart"), lg=7),
            dbc.Col(with_menu(_steps_table(report.steps, labels), "funnel", "steps"), lg=5),
        ]),
        _breakdown_section(report.breakdown, options, labels),
        dbc.Row([
            dbc.Col(with_menu(dcc.Graph(id="funnel-trend", config={"displaylogo": False},
                                        figure=charts.step_trend(report.trend, labels, tz, "Conversion from the first "
                                                                                           "step, by entry time")),
                              "funnel", "trend", "funnel-trend"), lg=6),
            dbc.Col([with_menu(dcc.Graph(id="funnel-times-chart", config={"displaylogo": False},
                                         figure=charts.duration_histogram(_named(report.time_histogram),
                                                                          "Time to convert between steps")),
                               "funnel", "time_histogram", "funnel-times-chart"),
                     with_menu(grid("funnel-times", _times_table(report.times), TIME_COLUMNS), "funnel", "times")],
                    lg=6),
        ], className="mt-2"),
        _dropoff_export(options, labels),
        html.Div([html.A("This funnel as JSON", href="/api/v1/funnel?" + filters.to_query(), id="funnel-json",
                         className="small me-3"),
                  dcc.Link("A/B experiments on this funnel", href="/experiments", className="small")],
                 className="mt-3"),
    ])


def _option_bar(options: FunnelOptions) -> dbc.Row:
    step_choices = [{"label": "–", "value": ""}] + [{"label": label(t), "value": t} for t in EVENT_TYPES]
    slots = list(options.steps) + [""] * (STEP_SLOTS - len(options.steps))
    windows = list(WINDOWS) + ([options.window] if options.window not in WINDOWS else [])
    return dbc.Row([
        dbc.Col([html.Label("Steps, in order (– leaves a slot out)", className="small text-body-secondary mb-0"),
                 dbc.InputGroup([dbc.Select(id={"type": "funnel-step", "slot": i}, options=step_choices, value=v,
                                            size="sm") for i, v in enumerate(slots)], size="sm")], xxl=6, xs=12),
        _select("funnel-count", "Count", [("Sessions", "sessions"), ("Users", "users")], options.count),
        _select("funnel-window", "Window", [(w, w) for w in windows], options.window),
        _select("funnel-order", "Order", [("Indirect", "indirect"), ("Strict", "strict")], options.order),
        _select("funnel-breakdown", "Breakdown", [("None", "")] + [(BREAKDOWN_LABELS[b], b) for b in BREAKDOWNS],
                options.breakdown or ""),
        _select("funnel-interval", "Trend by", [("Auto", ""), ("Hour", "hour"), ("Day", "day")],
                options.interval or ""),
    ], className="g-2 mb-3 align-items-end")


def _select(select_id: str, title: str, choices: list[tuple[str, str]], value: str) -> dbc.Col:
    return dbc.Col([html.Label(title, className="small text-body-secondary mb-0"),
                    dbc.Select(id=select_id, options=[{"label": a, "value": b} for a, b in choices], value=value,
                               size="sm")], lg=True, xs=6)


def _steps_table(steps: pd.DataFrame, labels: list[str]):
    table = steps.assign(label=[f"{k}. {labels[k - 1]}" for k in steps["step"]])
    return grid("funnel-table", table, STEP_COLUMNS)


def _breakdown_section(table: pd.DataFrame | None, options: FunnelOptions, labels: list[str]) -> html.Div:
    if table is None:
        return html.Div(id="funnel-segments-section")
    segment = options.breakdown
    first, last = table[table["step"] == 1], table[table["step"] == len(options.steps)]
    entered = first.set_index(segment)["reached"]
    converted = last.set_index(segment)["reached"].reindex(entered.index).fillna(0)
    names = list(entered.index)
    worst = most_deviating(names, entered.to_numpy(), converted.to_numpy())
    note = (f"{BREAKDOWN_LABELS[segment]} that deviates most: {worst} "
            f"({formatting.percent(converted[worst] / entered[worst], 1)} reach {labels[-1]}, against "
            f"{formatting.percent(converted.sum() / entered.sum(), 1)} overall)") if worst is not None else ""
    side_by_side = table.assign(label=[labels[k - 1] for k in table["step"]]).pivot(
        index=segment, columns="label", values="from_start")[labels[1:]].reset_index()
    columns = [text_column(segment, BREAKDOWN_LABELS[segment], pinned="left")] + [
        number_column(name, name, "percent") for name in labels[1:]]
    return html.Div([
        titled(html.H2(f"By {BREAKDOWN_LABELS[segment].lower()}", className="h5 mt-3"), "funnel", "breakdown",
               "funnel-segments"),
        dbc.Alert(note, color="info", id="funnel-deviation", className="py-2 small") if note else None,
        dcc.Graph(id="funnel-segments", config={"displaylogo": False},
                  figure=charts.segment_bars(table, segment, labels, worst,
                                             f"Conversion from the first step by {BREAKDOWN_LABELS[segment].lower()}")),
        grid("funnel-segment-grid", side_by_side, columns),
    ], id="funnel-segments-section")


def _named(histogram: pd.DataFrame) -> pd.DataFrame:
    return histogram.assign(from_step=[label(s) for s in histogram["from_step"]],
                            to_step=[label(s) for s in histogram["to_step"]]) if len(histogram) else histogram


def _times_table(times: pd.DataFrame) -> pd.DataFrame:
    def shown(seconds):
        return formatting.duration(pd.Timedelta(seconds=float(seconds))) if pd.notna(seconds) else formatting.MISSING
    return pd.DataFrame({"pair": [f"{label(a)} → {label(b)}" for a, b in zip(times["from_step"], times["to_step"])],
                         "converted": times["converted"], "median": [shown(v) for v in times["median_seconds"]],
                         "p90": [shown(v) for v in times["p90_seconds"]]})


def _dropoff_export(options: FunnelOptions, labels: list[str]) -> dbc.Row:
    choices = [{"label": f"Reached {labels[k]}, not {labels[k + 1]}", "value": str(k + 1)}
               for k in range(len(labels) - 1)]
    return dbc.Row([
        dbc.Col(html.Label("Drop-off list for retargeting", className="small text-body-secondary"), width="auto"),
        dbc.Col(dbc.Select(id="dropoff-step", options=choices, value=str(len(labels) - 1), size="sm"), md=4),
        dbc.Col(dbc.Button("Download CSV", id="dropoff-download", size="sm", color="secondary"), width="auto"),
        dcc.Download(id="dropoff-file"),
        html.Div(id="funnel-export-error"),
    ], className="g-2 mt-3 align-items-center")


# Any change of the funnel's options becomes the URL, which redraws the view (a link restores it). In the
# browser, not the server: a choice made while the view redraws (on the controls still shown) must not be
# lost. A server callback for it would be dropped by Dash as soon as the redrawn controls report their values
# (the same callback, asked again), and those values, the old ones, would then win. Here the choice is
# written at once, and only what differs from the options the view was drawn with (`funnel-shown`) is
# applied to the URL, so the redrawn controls reporting their own values change nothing.
clientside_callback(
    """function (steps, count, span, order, breakdown, interval, shown, defaults, search) {
        const none = dash_clientside.no_update;
        if (!shown) { return none; }
        const picked = steps.filter(Boolean);
        const chosen = {steps: picked.join(','), count: count, window: span, order: order,
                        breakdown: breakdown || '', interval: interval || ''};
        const changed = Object.keys(chosen).filter(key => chosen[key] !== shown[key]);
        // a funnel needs two different steps: keep the view until the choice makes one
        if (!changed.length || picked.length < 2 || new Set(picked).size < picked.length) { return none; }
        const changes = {};
        changed.forEach(key => { changes[key] = chosen[key]; });
        return window.pulseSearchWith(search, changes, defaults);  // assets/pulse_url.js
    }""",
    Output("url", "search", allow_duplicate=True),
    Input({"type": "funnel-step", "slot": dash.ALL}, "value"), Input("funnel-count", "value"),
    Input("funnel-window", "value"), Input("funnel-order", "value"), Input("funnel-breakdown", "value"),
    Input("funnel-interval", "value"), State("funnel-shown", "data"), State("filter-defaults", "data"),
    State("url", "search"),
    prevent_initial_call=True,
)


def shown_options(options: FunnelOptions) -> dict:
    """The options as the controls report them (what the view was drawn with)."""
    return {"steps": ",".join(options.steps), "count": options.count, "window": options.window,
            "order": options.order, "breakdown": options.breakdown or "", "interval": options.interval or ""}


@callback(Output("dropoff-file", "data"), Output("funnel-export-error", "children"),
          Input("dropoff-download", "n_clicks"), State("dropoff-step", "value"), State("url", "search"),
          prevent_initial_call=True)
def download_dropoffs(_, step, search):
    if not access.allowed("analyst"):
        return no_update, dbc.Alert(f"Exports need the analyst role; you are {access.current().describe()}.",
                                    color="danger")
    try:
        filters = Filters.from_query(search or "", DEFAULTS)
        options = options_of(filters)
        start, end = filters.resolve(tz=_state.timezone())
        table = funnel_dropoffs(_state.warehouse(), filters, start, end, options, int(step),
                                now=datetime.now(timezone.utc).replace(tzinfo=None))
    except (FilterError, ValueError, TypeError) as error:
        field, value, problem = getattr(error, "field", "step"), getattr(error, "value", step), str(error)
        return no_update, input_error(field, value, problem)
    name = f"pulse-dropoff-step{step}-{options.steps[int(step) - 1]}-{datetime.now(timezone.utc):%Y%m%d-%H%M}.csv"
    access.audit("export", name, {"view": "funnel", "rows": len(table)})
    return dcc.send_data_frame(table.to_csv, name, index=False), None
