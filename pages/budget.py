"""Budget: which channel earns its money, where the next unit of spend earns most, and how the budget should
move (docs/metrics.md, "Attribution" and "Budget").

Everything the view shows is in the URL beside the filters: the attribution model, the data source, the
optimizer's scenario, total, target, bounds, locks and maximum change, and the saved scenarios compared
(`queries.budget.request_from_query`). The numbers come from the functions `/api/v1/budget/*` call. The
what-if inputs are a scratchpad: their prediction updates live, and saving one stores it in the warehouse.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, clientside_callback, dcc, html, no_update
from flask import current_app
from plotly.subplots import make_subplots

from analytics.attribution import MODEL_LABELS, MODELS
from components.exports import titled, with_menu
from components.filter_bar import filter_bar
from components.grid import grid, number_column, text_column
from components.messages import input_error
from data import access
from pages import _state
from pages._exports import toolbar as export_toolbar  # by module name: re-run, callbacks and all, per app
from queries import budget as q
from queries.attribution import AttributionOptions, attribution_report
from queries.dimensions import dimension_options
from queries.filters import FilterError, Filters
from queries.view_tables import DEFAULTS as VIEW_DEFAULTS

dash.register_page(__name__, path="/budget", name="Budget", title="Pulse · Budget", order=3)

DEFAULTS = VIEW_DEFAULTS["budget"]
URL_DEFAULTS = {"scenario": "max_response", "source": "attribution", "attribution": "last_click",
                "max_change": f"{q.DEFAULT_MAX_CHANGE:g}"}
RETURN_COLUMNS = [
    text_column("label", "Channel", pinned="left"),
    number_column("spend", "Spend", "money"), number_column("revenue", "Attributed revenue", "money"),
    number_column("orders", "Orders", "integer"), number_column("roas", "ROAS", "ratio"),
    number_column("marginal_roas", "Marginal ROAS", "ratio"), number_column("cpa", "CPA", "money"),
    number_column("cac", "CAC", "money"), number_column("share_of_spend", "Share of spend", "share"),
    number_column("share_of_revenue", "Share of revenue", "share"),
    number_column("rank", "Rank", "integer"), number_column("rank_change", "vs last click", "integer"),
]
PLAN_COLUMNS = [
    text_column("label", "Channel", pinned="left"),
    number_column("current_spend", "Current", "money"), number_column("recommended_spend", "Recommended", "money"),
    number_column("change", "Change", "percent"),
    number_column("marginal_roas_current", "Marginal ROAS now", "ratio"),
    number_column("marginal_roas_recommended", "Marginal ROAS after", "ratio"),
    text_column("explanation", "Why", minWidth=420, wrapText=True, autoHeight=True),
]
PACING_COLUMNS = [
    text_column("label", "Channel", pinned="left"), number_column("planned", "Planned", "money"),
    number_column("spend_to_date", "Spent to date", "money"), number_column("expected_to_date", "Plan to date", "money"),
    number_column("projected", "Projected month end", "money"), number_column("pace", "Pace", "share"),
    text_column("status", "Status"),
]


TARGETS = {"target_roas": "ROAS", "target_cpa": "CPA (cost per order)"}   # scenarios with a `target`


def _page_params(filters: Filters) -> dict:
    return {k: v for k, v in filters.extra.items() if k in q.PAGE_KEYS}


@_state.with_filters(DEFAULTS)
def layout(filters: Filters, start, end):
    wh = _state.warehouse()
    params = _page_params(filters)
    # a target scenario chosen, its target not given yet: draw the form and ask for it
    needs_target = params.get("scenario") in TARGETS and not params.get("target")
    request, compare = q.request_from_query({k: v for k, v in params.items() if not (needs_target and k == "scenario")})
    if needs_target:
        request = request.model_copy(update={"scenario": params["scenario"]})
    attribution = AttributionOptions(request.attribution, request.lookback)
    report = attribution_report(wh, filters, start, end, attribution)
    sections = [html.H1("Budget", className="h3"),
                filter_bar(filters, dimension_options(wh), comparison=False, defaults=DEFAULTS),
                _source_bar(wh, request), export_toolbar("budget", filters)]
    try:
        responses = q.responses_for(wh, filters, start, end, request)
    except FilterError as error:
        responses = None
        sections.append(input_error(error.field, error.value, error.problem))
    returns = q.with_marginal_roas(report.channels, responses) if responses and request.source == "attribution" \
        else report.channels.assign(marginal_roas=np.nan)
    sections += [_returns_section(returns, report, request)]
    if responses is not None and responses.fits:
        sections += [_curves_section(responses),
                     _optimizer_section(wh, filters, start, end, request, responses, compare, needs_target)]
    sections.append(_pacing_section(wh))
    sections.append(html.A("This view as JSON", href="/api/v1/budget/channels?" + filters.to_query(),
                           id="budget-json", className="small"))
    return html.Div(sections)


# -- sections --------------------------------------------------------------------------------------------

def _source_bar(wh, request: q.OptimizeRequest) -> dbc.Row:
    datasets = list(q.mmm_datasets(wh).name)
    return dbc.Row([
        _select("budget-attribution", "Attribution", [(MODEL_LABELS[m], m) for m in MODELS], request.attribution),
        _select("budget-source", "Curves from", [("Warehouse (attributed revenue)", "attribution")]
                + ([("Imported media-mix table", "mmm")] if datasets or request.source == "mmm" else []),
                request.source),
        _select("budget-dataset", "Media-mix dataset", [("–", "")] + [(d, d) for d in datasets],
                request.dataset or "", hidden=request.source != "mmm"),
        dcc.Store(id="budget-source-shown", data=shown_source(request)),
    ], className="g-2 mb-3 align-items-end")


def shown_source(request: q.OptimizeRequest) -> dict:
    """The source bar's settings as its controls report them (what the view was drawn with), keyed as in the URL."""
    return {"attribution": request.attribution, "source": request.source,
            "dataset": (request.dataset or "") if request.source == "mmm" else ""}


def _select(select_id, title, choices, value, hidden=False) -> dbc.Col:
    return dbc.Col([html.Label(title, className="small text-body-secondary mb-0"),
                    dbc.Select(id=select_id, options=[{"label": a, "value": b} for a, b in choices], value=value,
                               size="sm")], lg=3, xs=6, className="d-none" if hidden else None)


def _returns_section(table: pd.DataFrame, report, request) -> html.Div:
    table = table.sort_values(["paid", "spend"], ascending=[False, False])
    ranks = report.ranks.merge(report.channels[["channel", "label"]], on="channel")
    columns = [text_column("label", "Channel", pinned="left")] + [
        number_column(m, MODEL_LABELS[m].split(" (")[0], "integer") for m in MODELS]
    return html.Div([
        titled(html.H2(f"Spend and return by channel ({MODEL_LABELS[request.attribution].lower()})", className="h5"),
               "budget", "channels"),
        grid("budget-channels", table, RETURN_COLUMNS, getRowId="params.data.channel"),
        titled(html.H2("Channel ranking by attribution model (1 = most revenue)", className="h6 mt-3"), "budget",
               "ranking"),
        grid("budget-ranking", ranks.sort_values("last_click"), columns, getRowId="params.data.channel"),
    ], className="mb-4")


def _curves_section(responses: q.Responses) -> html.Div:
    fits = q.fit_table(responses)
    curves = q.curve_table(responses)
    names = list(responses.fits)
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    figure = make_subplots(rows=rows, cols=cols, subplot_titles=[responses.labels.get(c, c) for c in names])
    for i, channel in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        curve = curves[curves.channel == channel]
        history = responses.history
        figure.add_trace(go.Scatter(x=history["spend"][channel], y=history["outcome"][channel], mode="markers",
                                    marker={"size": 4, "opacity": 0.35, "color": "#6c757d"}, name="history",
                                    showlegend=i == 0), row=r, col=c)
        figure.add_trace(go.Scatter(x=list(curve.spend) + list(curve.spend[::-1]),
                                    y=list(curve.outcome_high) + list(curve.outcome_low[::-1]), fill="toself",
                                    fillcolor="rgba(13,110,253,0.15)", line={"width": 0}, name="90% band",
                                    hoverinfo="skip", showlegend=i == 0), row=r, col=c)
        figure.add_trace(go.Scatter(x=curve.spend, y=curve.outcome, line={"color": "#0d6efd"}, name="curve",
                                    showlegend=i == 0), row=r, col=c)
        fit = responses.fits[channel]
        figure.add_trace(go.Scatter(x=[fit.current_spend], y=[float(fit.curve.outcome(fit.current_spend))],
                                    mode="markers", marker={"size": 11, "color": "#dc3545", "symbol": "diamond"},
                                    name="current spend", showlegend=i == 0), row=r, col=c)
    figure.update_layout(height=300 * rows, margin={"t": 40, "l": 40, "r": 10, "b": 30},
                         title=f"Outcome per {responses.period} against spend per {responses.period}")
    quality = ", ".join(f"{r.label}: R² {r.r2:.2f}, MAPE {r.mape:.0%}" for r in fits.itertuples() if np.isfinite(r.mape))
    return html.Div([titled(html.H2("Response curves", className="h5"), "budget", "curves", "budget-curves"),
                     dcc.Graph(id="budget-curves", figure=figure, config={"displaylogo": False}),
                     html.P(f"Fit quality (MAPE on the last 20% of {responses.period}s, held out): {quality}.",
                            className="small text-body-secondary", id="budget-fit-quality")], className="mb-4")


def _optimizer_section(wh, filters, start, end, request, responses, compare, needs_target=False) -> html.Div:
    form = _optimizer_form(request, responses)
    if needs_target:
        return html.Div([html.H2("Optimizer", className="h5"), form,
                         dbc.Alert(f"Give a target {TARGETS[request.scenario]}: the optimizer finds the largest "
                                   "budget reaching it.",
                                   color="secondary", className="py-2", id="budget-message")], className="mb-4")
    try:
        _, result = q.optimize(wh, filters, start, end, request)
    except FilterError as error:
        return html.Div([html.H2("Optimizer", className="h5"), form, input_error(error.field, error.value, error.problem),
                         html.Div(id="budget-message")], className="mb-4")
    t = result.totals
    totals = (f"Outcome per {responses.period}: {t['outcome_current']:,.0f} now (90%: {t['outcome_current_low']:,.0f}"
              f"–{t['outcome_current_high']:,.0f}), ROAS {t['roas_current']:.2f}; recommended "
              f"{t['outcome_recommended']:,.0f} ({t['outcome_recommended_low']:,.0f}–{t['outcome_recommended_high']:,.0f}), "
              f"ROAS {t['roas_recommended']:.2f}, on {t['recommended_spend']:,.0f} per {responses.period}; "
              f"uplift {t['uplift']:+,.0f} ({t['uplift_low']:+,.0f} to {t['uplift_high']:+,.0f}).")
    if t.get("cpa_current") and t.get("cpa_recommended"):
        totals += (f" Orders per {responses.period}: {t['orders_current']:,.1f} now at a CPA of {t['cpa_current']:,.2f}; "
                   f"recommended {t['orders_recommended']:,.1f} at {t['cpa_recommended']:,.2f}.")
    scenarios = q.saved_scenarios(wh, responses.source, request.dataset)
    shown = {name: scenarios[name] for name in compare if name in scenarios}
    return html.Div([
        html.H2("Optimizer", className="h5"), form,
        dbc.Alert(result.message, color="primary", className="py-2", id="budget-message"),
        html.P(totals, className="small", id="budget-totals"),
        with_menu(grid("budget-plan", result.channels, PLAN_COLUMNS, getRowId="params.data.channel"), "budget", "plan"),
        _what_if_section(responses, result, scenarios, shown),
    ], className="mb-4")


def _optimizer_form(request: q.OptimizeRequest, responses: q.Responses) -> html.Div:
    top = dbc.Row([
        _select("budget-scenario", "Scenario", [("Most outcome for a budget", "max_response"),
                                                ("Largest budget reaching a target ROAS", "target_roas"),
                                                ("Largest budget within a target CPA", "target_cpa")],
                request.scenario),
        _number("budget-total", f"Total budget per {responses.period}", request.total_budget,
                hidden=request.scenario != "max_response"),
        _number("budget-target", "Target " + TARGETS.get(request.scenario, "ROAS"),
                request.target_cpa if request.scenario == "target_cpa" else request.target_roas,
                hidden=request.scenario not in TARGETS),
        _number("budget-max-change", "Max change per channel (fraction; empty: none)", request.max_change),
    ], className="g-2 mb-2 align-items-end")
    rows = [dbc.Row([dbc.Col(html.Small(responses.labels.get(c, c)), width=3),
                     dbc.Col(dbc.Input(id={"type": "budget-min", "channel": c}, size="sm", debounce=True,
                                       placeholder="min (or 0.8x)", value=_bound_text(request, c, 0)), width=3),
                     dbc.Col(dbc.Input(id={"type": "budget-max", "channel": c}, size="sm", debounce=True,
                                       placeholder="max (or 1.5x)", value=_bound_text(request, c, 1)), width=3),
                     dbc.Col(dbc.Checkbox(id={"type": "budget-lock", "channel": c}, label="lock",
                                          value=c in request.locked), width=3)], className="g-1")
            for c in responses.fits]
    return html.Div([top, html.Details([html.Summary("Bounds and locks per channel", className="small"), *rows],
                                       open=bool(request.bounds or request.locked), className="mb-2"),
                     dcc.Store(id="budget-optimizer-shown", data=shown_optimizer(request, list(responses.fits)))])


def shown_optimizer(request: q.OptimizeRequest, channels: list[str]) -> dict:
    """The optimizer's settings as its controls report them (what the view was drawn with), spelt as the
    browser writes them to the URL: numbers as shown in their boxes (rounded to 4 places) in Python's `g`
    format, bounds and locks of the channels with a row, in their order."""
    def number(value) -> str:
        return "" if value is None else f"{round(value, 4):g}"
    target = request.target_cpa if request.scenario == "target_cpa" else request.target_roas
    ends = {c: (_bound_text(request, c, 0), _bound_text(request, c, 1)) for c in channels}
    return {"scenario": request.scenario, "total": number(request.total_budget), "target": number(target),
            "max_change": number(request.max_change) or "none",
            "bounds": ",".join(f"{c}:{low}:{high}" for c, (low, high) in ends.items() if low or high),
            "locked": ",".join(c for c in channels if c in request.locked)}


def _number(input_id, title, value, hidden=False) -> dbc.Col:
    return dbc.Col([html.Label(title, className="small text-body-secondary mb-0"),
                    dbc.Input(id=input_id, type="number", size="sm", debounce=True, min=0,
                              value=None if value is None else round(value, 4))],
                   lg=3, xs=6, className="d-none" if hidden else None)


def _bound_text(request: q.OptimizeRequest, channel: str, end: int) -> str:
    value = request.bounds.get(channel, (None, None))[end]
    return "" if value is None else str(value) if isinstance(value, str) else f"{value:g}"


def _what_if_section(responses, result, scenarios: dict, shown: dict) -> html.Div:
    inputs = [dbc.Col([html.Label(responses.labels.get(c, c), className="small text-body-secondary mb-0"),
                       dbc.Input(id={"type": "budget-whatif", "channel": c}, type="number", size="sm", min=0,
                                 value=round(f.current_spend, 2))], lg=2, xs=4) for c, f in responses.fits.items()]
    comparison = q.scenario_comparison(responses, result, shown)
    columns = [text_column("row", "", pinned="left")] + [number_column(c, c, "money") for c in comparison.columns[1:]]
    return html.Div([
        html.H2(f"What if (spend per {responses.period})", className="h6 mt-3"),
        dbc.Row(inputs, className="g-2"),
        html.P(id="budget-whatif-result", className="small mt-2"),
        dbc.Row([dbc.Col(dbc.Input(id="budget-scenario-name", placeholder="Scenario name", size="sm"), md=3),
                 dbc.Col(dbc.Button("Save scenario", id="budget-save", size="sm", color="secondary"), width="auto"),
                 dbc.Col(dcc.Dropdown([{"label": n, "value": n} for n in scenarios], list(shown), multi=True,
                                      id="budget-compare", placeholder="Compare saved scenarios"), md=5),
                 html.Div(id="budget-save-error")], className="g-2 align-items-center"),
        titled(html.H2("Side by side", className="h6 mt-3"), "budget", "comparison"),
        grid("budget-comparison", comparison, columns, getRowId="params.data.row"),
    ])


def _pacing_section(wh) -> html.Div:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    table = q.pacing(wh, now)
    return html.Div([titled(html.H2(f"Pacing, {now:%B %Y}", className="h5"), "budget", "pacing"),
                     grid("budget-pacing", table, PACING_COLUMNS, getRowId="params.data.channel")], className="mb-4")


# -- callbacks -------------------------------------------------------------------------------------------

# The source bar's and the optimizer's settings become the URL in the browser, so that a setting changed while the
# view redraws is kept (assets/pulse_url.js says why). Only the settings that differ from what the view was drawn
# with (`budget-*-shown`) are applied; a setting at its default is left out of the URL (every view has one URL),
# and nothing is written when the URL already says it all.
_WRITE_SETTINGS = """
    const none = dash_clientside.no_update;
    if (!shown) { return none; }
    const changes = {};
    Object.keys(chosen).filter(key => chosen[key] !== shown[key]).forEach(key => { changes[key] = chosen[key]; });
    if (!Object.keys(changes).length) { return none; }
    const params = new URLSearchParams(search || ''), urlDefaults = %s;
    Object.keys(urlDefaults).forEach(key => {
        if ((key in changes ? changes[key] : params.get(key)) === urlDefaults[key]) { changes[key] = ''; } });
    if (Object.keys(changes).every(key => changes[key] === (params.get(key) || ''))) { return none; }
    return window.pulseSearchWith(search, changes, defaults);  // assets/pulse_url.js
""" % json.dumps(URL_DEFAULTS)

# Media mix needs a dataset: without one chosen, the first imported (the menu's first name).
clientside_callback(
    """function (attribution, source, dataset, datasets, shown, defaults, search) {
        const first = (datasets || []).map(d => d.value).filter(Boolean)[0] || '';
        const chosen = {attribution: attribution, source: source,
                        dataset: source === 'mmm' ? (dataset || first) : ''};""" + _WRITE_SETTINGS + "}",
    Output("url", "search", allow_duplicate=True),
    Input("budget-attribution", "value"), Input("budget-source", "value"), Input("budget-dataset", "value"),
    State("budget-dataset", "options"), State("budget-source-shown", "data"), State("filter-defaults", "data"),
    State("url", "search"), prevent_initial_call=True,
)

# Bounds are channel:min:max for the channels given one (`bounds=paid_search::1.2x`); an empty maximum change
# is written as none (no limit), as the server reads it.
clientside_callback(
    """function (scenario, total, target, maxChange, lows, highs, locks, ids, shown, defaults, search) {
        // an emptied number box reports NaN (null once it reaches the server): no number
        const number = value => value === null || value === undefined || value === '' || Number.isNaN(Number(value))
            ? '' : window.pulseNumber(value);
        const text = value => value === null || value === undefined ? '' : String(value).trim();
        const channels = ids.map(id => id.channel);
        const bounds = channels.map((channel, k) => [channel, text(lows[k]), text(highs[k])])
            .filter(([, low, high]) => low || high).map(parts => parts.join(':')).join(',');
        const chosen = {scenario: scenario || '', total: number(total), target: number(target),
                        max_change: number(maxChange) || 'none', bounds: bounds,
                        locked: channels.filter((channel, k) => locks[k]).join(',')};""" + _WRITE_SETTINGS + "}",
    Output("url", "search", allow_duplicate=True),
    Input("budget-scenario", "value"), Input("budget-total", "value"), Input("budget-target", "value"),
    Input("budget-max-change", "value"), Input({"type": "budget-min", "channel": ALL}, "value"),
    Input({"type": "budget-max", "channel": ALL}, "value"), Input({"type": "budget-lock", "channel": ALL}, "value"),
    State({"type": "budget-min", "channel": ALL}, "id"), State("budget-optimizer-shown", "data"),
    State("filter-defaults", "data"), State("url", "search"), prevent_initial_call=True,
)


@callback(Output("url", "search", allow_duplicate=True), Input("budget-compare", "value"), State("url", "search"),
          prevent_initial_call=True)
def write_comparison_to_url(names, search):
    return _with_changes(search, scenarios=",".join(names or []) or None)


def _with_changes(search, **changes) -> str:
    """The URL with the page's keys changed (None removes one); no_update when nothing changes, so the
    controls rendering with the URL's own values do not redraw the view."""
    try:
        filters = Filters.from_query(search or "", DEFAULTS)
    except FilterError:
        return no_update
    extra = dict(filters.extra)
    for key, value in changes.items():
        if value is None:
            extra.pop(key, None)
        else:
            extra[key] = value
    for key, default in URL_DEFAULTS.items():   # a default is left out, so every view has one URL
        if extra.get(key) == default:
            extra.pop(key)
    if extra == filters.extra:
        return no_update
    return "?" + filters.with_changes(extra=extra).to_query()


def _responses_of(search):
    filters = Filters.from_query(search or "", DEFAULTS)
    request, _ = q.request_from_query(_page_params(filters))
    start, end = filters.resolve(tz=_state.timezone())
    return q.responses_for(_state.warehouse(), filters, start, end, request), request


@callback(Output("budget-whatif-result", "children"), Input({"type": "budget-whatif", "channel": ALL}, "value"),
          State({"type": "budget-whatif", "channel": ALL}, "id"), State("url", "search"))
def predict_what_if(values, ids, search):
    """The what-if split's predicted outcome, live, from the same curves as the optimizer."""
    try:
        responses, _ = _responses_of(search)
    except FilterError:
        return no_update
    try:
        spend = {i["channel"]: float(v) for i, v in zip(ids, values) if v not in (None, "")}
    except (TypeError, ValueError, KeyError):
        return "Enter a number of spend per channel."
    if not spend:
        return no_update  # no channel to predict for (no response curves in this range)
    t = q.what_if(responses, spend)
    return (f"Predicted outcome per {responses.period}: {t['outcome_recommended']:,.0f} "
            f"(90%: {t['outcome_recommended_low']:,.0f}–{t['outcome_recommended_high']:,.0f}), ROAS "
            f"{t['roas_recommended']:.2f} on {t['recommended_spend']:,.0f}; "
            f"{t['uplift']:+,.0f} against the current plan.")


@callback(Output("url", "search", allow_duplicate=True), Output("budget-save-error", "children"),
          Input("budget-save", "n_clicks"), State("budget-scenario-name", "value"),
          State({"type": "budget-whatif", "channel": ALL}, "value"),
          State({"type": "budget-whatif", "channel": ALL}, "id"), State("url", "search"), prevent_initial_call=True)
def save_what_if(clicks, name, values, ids, search):
    """Store the what-if split under its name and add it to the comparison (via the URL)."""
    if not clicks:  # the button drawn anew (the page re-renders as its URL changes), not clicked
        return no_update, no_update
    if not access.allowed("analyst"):
        return no_update, dbc.Alert(f"Saving scenarios needs the analyst role; you are {access.current().describe()}.",
                                    color="danger")
    try:
        responses, request = _responses_of(search)
        spend = {i["channel"]: (float(v) if v not in (None, "") else None) for i, v in zip(ids, values)}
        name, spend = q.check_scenario(name, spend, responses)
    except FilterError as error:
        return no_update, input_error(error.field, error.value, error.problem)
    current_app.extensions["pulse.writer"].call(
        lambda conn: q.save_scenario(conn, name, responses, request.dataset, spend))
    access.audit("scenario.save", name, {"dataset": request.dataset})
    filters = Filters.from_query(search or "", DEFAULTS)
    compare = [c for c in str(filters.extra.get("scenarios", "")).split(",") if c and c != name] + [name]
    return _with_changes(search, scenarios=",".join(compare)), None
