"""Experiments: which A/B variant converts better, and whether the split can be trusted.

State lives in the URL: `experiment` (default: the most recent), `metric` (an event type, default purchase),
`mode` (fixed | sequential), the time range and the dimension filters. The numbers are those of the JSON
twin, /api/v1/experiments/<name>: the same query functions, statistics and parameter parsing.
"""
from __future__ import annotations

from urllib.parse import quote

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, clientside_callback, dcc, html

from analytics.experiments import MODES, ExperimentResult, compare_variants
from components import charts, formatting
from components.exports import titled, with_menu
from components.filter_bar import filter_bar
from components.grid import grid, interval_column, number_column, text_column
from pages import _state
from pages._exports import toolbar as export_toolbar  # by module name: re-run, callbacks and all, per app
from queries.dimensions import dimension_options
from queries.experiments import (DEFAULT_FILTERS, METRICS, ExperimentDesign, experiment_design, experiment_list,
                                 experiment_options, exposure_window, url_option, experiment_numbers)
from queries.filters import FilterError, Filters

dash.register_page(__name__, path="/experiments", name="Experiments", title="Pulse · Experiments", order=2)

MODE_LABELS = {"fixed": "Fixed horizon", "sequential": "Sequential (always valid)"}
COLUMNS = [
    text_column("variant", "Variant", minWidth=100), number_column("weight", "Planned", "share"),
    number_column("users", "Exposed users", "integer"), number_column("conversions", "Conversions", "integer"),
    number_column("rate", "Conversion rate", "percent"),
    interval_column("absolute_lift", "absolute_low", "absolute_high", "Absolute lift (CI)", "points"),
    interval_column("relative_lift", "relative_low", "relative_high", "Relative lift (CI)"),
    number_column("p_value", "p-value", "p_value"),
    number_column("chance_to_beat_control", "Chance to beat control", "chance"),
]


@_state.with_filters(DEFAULT_FILTERS)
def layout(filters: Filters, start, end):
    wh = _state.warehouse()
    experiments = experiment_list(wh)
    if experiments.empty:
        return dbc.Alert("The warehouse has no experiments yet.", color="info")
    name = url_option(filters, "experiment") or experiments.name.iloc[0]
    metric, mode = experiment_options(filters, MODES)
    design = experiment_design(wh, name)
    if design is None:
        raise FilterError("experiment", name, f"unknown experiment; one of {', '.join(experiments.name)}")
    if design.control not in design.weights:
        return dbc.Alert(f"Experiment {name!r} has no variant rows with its control {design.control!r}.",
                         color="warning")
    counts, funnels = experiment_numbers(wh, design, filters, start, end, metric)
    result = compare_variants(counts.variants, design.control, mode=mode)
    twin = filters.with_changes(extra={**{k: v for k, v in filters.extra.items() if k != "experiment"},
                                       "metric": metric, "mode": mode})  # the name is in the twin's path
    return html.Div([
        html.H1("Experiments", className="h3"),
        filter_bar(filters, dimension_options(wh), comparison=False, defaults=DEFAULT_FILTERS),
        _pickers(experiments, name, metric, mode, result.mode_description),
        export_toolbar("experiments", filters),
        _about(design, *exposure_window(design, start, end)),
        _verdicts(result),
        titled(html.H2(f"Variants: {formatting.EVENT_LABELS.get(metric, metric).lower()} after exposure",
                       className="h5 mt-3"), "experiments", "variants"),
        grid("variant-grid", result.variants, COLUMNS, getRowId="params.data.variant"),
        html.Small(f"{formatting.integer(counts.multi_variant_users)} users saw more than one variant and are "
                   "excluded from every variant.", id="multi-variant-users", className="text-body-secondary"),
        with_menu(dcc.Graph(id="variant-funnels", figure=charts.variant_funnels(funnels, formatting.EVENT_LABELS,
                                                                                design.control),
                            config={"displaylogo": False}), "experiments", "funnels", "variant-funnels"),
        html.A("This view as JSON", id="experiment-json", className="small",
               href=f"/api/v1/experiments/{quote(name, safe='')}?{twin.to_query()}"),
    ])


def _pickers(experiments: pd.DataFrame, name: str, metric: str, mode: str, description: str) -> dbc.Row:
    # dbc.Select (a native <select>): short lists need no search box
    return dbc.Row([
        _field("Experiment", dbc.Select(id="experiment-picker", value=name, options=[
            {"label": f"{r.name} ({r.variants})", "value": r.name} for r in experiments.itertuples()]), lg=3),
        _field("Conversion step", dbc.Select(id="metric-picker", value=metric, options=[
            {"label": formatting.EVENT_LABELS.get(m, m), "value": m} for m in METRICS])),
        _field("Statistics", dbc.Select(id="mode-picker", value=mode, options=[
            {"label": MODE_LABELS[m], "value": m} for m in MODES]), lg=3),
        dbc.Col(dbc.Alert(description, id="mode-description", color="light", className="small py-2 mb-0"),
                lg=True, className="align-self-end"),
        # what the view shows, defaults filled in: a picker reporting it (as a Select does on mount) is no change
        dcc.Store(id="experiment-shown", data={"experiment": name, "metric": metric, "mode": mode}),
    ], className="g-2 mb-2")


def _field(label: str, control, lg: int = 2) -> dbc.Col:
    return dbc.Col([html.Label(label, className="small text-body-secondary mb-0"), control], lg=lg, sm=4, xs=12)


def _about(design: ExperimentDesign, window_start, window_end) -> html.P:
    tz = _state.timezone()

    def when(moment) -> str:
        return f"{pd.Timestamp(moment).tz_localize('UTC').tz_convert(tz):%Y-%m-%d %H:%M}"
    ran = f"ran {when(design.start_ts)} to {when(design.end_ts)}" if design.end_ts else \
        f"running since {when(design.start_ts)}"
    counted = (f"counted {when(window_start)} to {when(window_end)} ({tz})" if window_start < window_end
               else "the time range does not overlap it")
    return html.P(f"{design.description or design.name}: control {design.control}, {ran}; {counted}.",
                  id="experiment-about", className="small text-body-secondary mb-2")


def _verdicts(result: ExperimentResult) -> html.Div:
    """The sample ratio warning first: a broken split makes every number below it suspect."""
    srm = result.sample_ratio
    warning = [dbc.Alert(srm.message, color="danger", id="srm-warning")] if srm.warning else []
    sentences = [html.P(row.verdict, className="fw-semibold mb-1" if row.significant else "mb-1")
                 for row in result.variants.itertuples() if not row.is_control]
    return html.Div([*warning, html.Div(sentences, id="experiment-verdict", className="fs-5")])


# The pickers' choices become the URL in the browser, not the server: a choice made while the view redraws (on
# the pickers still shown) must not be lost. A server callback for it would be dropped by Dash as soon as the
# redrawn pickers report their values (the same callback, asked again), and those, the old ones, would win.
# Only what differs from what the view was drawn with (`experiment-shown`) is applied to the URL.
clientside_callback(
    """function (experiment, metric, mode, shown, defaults, search) {
        if (!shown) { return dash_clientside.no_update; }
        const chosen = {experiment: experiment, metric: metric, mode: mode}, changes = {};
        Object.keys(chosen).filter(key => chosen[key] && chosen[key] !== shown[key])
            .forEach(key => { changes[key] = chosen[key]; });
        if (!Object.keys(changes).length) { return dash_clientside.no_update; }
        return window.pulseSearchWith(search, changes, defaults);  // assets/pulse_url.js
    }""",
    Output("url", "search", allow_duplicate=True), Input("experiment-picker", "value"),
    Input("metric-picker", "value"), Input("mode-picker", "value"), State("experiment-shown", "data"),
    State("filter-defaults", "data"), State("url", "search"), prevent_initial_call=True,
)
