"""Alerts: the rules that watch the KPIs, what is firing now, what fired before, and where it is sent."""
from __future__ import annotations

import json

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from flask import current_app

from analytics.alerting import RuleError
from components.grid import grid, number_column, text_column
from components.kpi_card import KPI_DISPLAY
from pages import _state
from queries import alerts as q
from queries.alert_rules import validate_rule, webhook_url_problem
from queries.filters import Filters

dash.register_page(__name__, path="/alerts", name="Alerts", title="Pulse · Alerts", order=4)

RULE_COLUMNS = [
    text_column("id", "Id", maxWidth=70), text_column("name", "Rule"), text_column("enabled", "On", maxWidth=80),
    text_column("kpi", "KPI"),
    text_column("condition", "Condition"), text_column("filters", "Filters"),
    number_column("pending_minutes", "Pending (min)", "integer"), text_column("state", "State"),
]
HISTORY_COLUMNS = [
    text_column("ts", "Time (UTC)"), text_column("rule_name", "Rule"), text_column("state", "Event"),
    text_column("message", "Message", flex=3),
]


@_state.with_filters(Filters(start="now-1h", end="now"))
def layout(filters: Filters, start, end):
    kpis = [{"label": KPI_DISPLAY[k].label, "value": k} for k in KPI_DISPLAY]
    return html.Div([
        html.H1("Alerts", className="h3"),
        html.Div([dbc.Button("Enable / disable", id="rule-toggle", size="sm", color="secondary", className="me-2"),
                  dbc.Button("Delete", id="rule-delete", size="sm", color="danger"),
                  html.Small(" the rule selected in the table", className="text-body-secondary")],
                 className="mb-2"),
        html.Div(id="alerts-tables", children=tables()),
        html.H2("New rule", className="h5 mt-3"),
        dbc.Row([
            _field("Name", dcc.Input(id="rule-name", className="form-control", maxLength=200)),
            _field("KPI", dbc.Select(id="rule-kpi", options=kpis, value="conversion_rate")),
            _field("Kind", dbc.Select(id="rule-kind", value="threshold",
                                      options=[{"label": k, "value": k} for k in ("threshold", "baseline", "pacing")])),
            _field("Operator", dbc.Select(id="rule-operator", value="<",
                                          options=[{"label": o, "value": o} for o in ("<", "<=", ">", ">=")])),
            _field("Value", dcc.Input(id="rule-value", type="number", value=0.01, className="form-control")),
            _field("Window (min)", dcc.Input(id="rule-window", type="number", value=60, className="form-control")),
            _field("Pending (min)", dcc.Input(id="rule-pending", type="number", value=5, className="form-control")),
            _field("Filters", dcc.Input(id="rule-filters", placeholder="channel=email&device=mobile",
                                        className="form-control")),
        ], className="g-2"),
        html.Small("Threshold: the KPI over the window against the value. Baseline: value is the drop (0.4 = 40 %) "
                   "against the same window of the previous 4 weeks. Pacing (spend): value is the tolerance "
                   "above the day's plan.", className="text-body-secondary"),
        html.Div(dbc.Button("Add rule", id="rule-add", className="mt-2"), className="mb-2"),
        html.Div(id="rule-message"),
        html.H2("Webhooks", className="h5 mt-3"),
        html.Div(id="webhook-list", children=webhook_list()),
        dbc.InputGroup([dbc.Input(id="webhook-url", placeholder="https://hooks.example.com/pulse"),
                        dbc.Button("Add webhook", id="webhook-add")], className="my-2"),
        html.Div(id="webhook-message"),
    ])


def _field(label: str, control) -> dbc.Col:
    return dbc.Col([html.Label(label, className="small text-body-secondary mb-0"), control], lg=True, sm=3, xs=6)


def tables() -> list:
    wh = _state.warehouse()
    rules = q.rules(wh)
    state_of = q.states(wh).set_index("rule_id")["state"].to_dict()
    if len(rules):
        rules["condition"] = [_condition(r) for r in rules.to_dict("records")]
        rules["state"] = [state_of.get(i, "normal") for i in rules["id"]]
    history = q.history(wh, limit=50)
    if len(history):
        history["ts"] = history["ts"].astype(str)
    return [
        html.H2("Rules", className="h5"),
        grid("rule-grid", rules, RULE_COLUMNS, grid_options={"rowSelection": {"mode": "singleRow"}}),
        html.H2("History", className="h5 mt-3"),
        grid("alert-history", history, HISTORY_COLUMNS),
    ]


def _condition(rule: dict) -> str:
    if rule["kind"] == "threshold":
        return f"{rule['operator']} {rule['value']:g} over {rule['window_minutes']} min"
    if rule["kind"] == "baseline":
        return f"{rule['value']:g} {rule['method']} {rule['direction']} the last {rule['weeks']} weeks"
    return f"spend > plan by {rule['tolerance']:.0%}"


def webhook_list() -> html.Ul:
    hooks = q.webhooks(_state.warehouse())
    return html.Ul([html.Li(url) for url in hooks.get("url", [])] or [html.Li("None yet", className="text-body-secondary")])


@callback(Output("rule-message", "children"), Output("alerts-tables", "children"),
          Input("rule-add", "n_clicks"),
          State("rule-name", "value"), State("rule-kpi", "value"), State("rule-kind", "value"),
          State("rule-operator", "value"), State("rule-value", "value"), State("rule-window", "value"),
          State("rule-pending", "value"), State("rule-filters", "value"), prevent_initial_call=True)
def add_rule(_, name, kpi, kind, operator, value, window, pending, filters):
    data = {"name": name or "", "kpi": kpi, "kind": kind, "operator": operator, "window_minutes": window,
            "pending_minutes": pending, "filters": filters or ""}
    if kind == "pacing":
        data["tolerance"] = value
    else:
        data["value"] = value
    try:
        rule = validate_rule({k: v for k, v in data.items() if v is not None})
    except RuleError as error:
        return dbc.Alert([html.Div(f"{p['field']}={p['value']!r}: {p['problem']}") for p in error.problems],
                         color="warning"), no_update
    writer = current_app.extensions["pulse.writer"]
    rule_id = writer.call(lambda conn: q.insert_rule(conn, rule.model_dump()))
    return dbc.Alert(f"Rule {rule_id} added: {rule.name}", color="success", duration=4000), tables()


@callback(Output("webhook-message", "children"), Output("webhook-list", "children"),
          Input("webhook-add", "n_clicks"), State("webhook-url", "value"), prevent_initial_call=True)
def add_webhook(_, url):
    problem = webhook_url_problem(url)
    if problem:
        return dbc.Alert(f"url={url!r}: {problem}", color="warning"), no_update
    current_app.extensions["pulse.writer"].call(lambda conn: q.insert_webhook(conn, url.strip()))
    return dbc.Alert("Webhook added", color="success", duration=4000), webhook_list()


@callback(Output("rule-message", "children", allow_duplicate=True),
          Output("alerts-tables", "children", allow_duplicate=True),
          Input("rule-toggle", "n_clicks"), Input("rule-delete", "n_clicks"), State("rule-grid", "selectedRows"),
          prevent_initial_call=True)
def change_rule(_, __, selected):
    """Enable/disable or delete the rule selected in the grid (its history stays)."""
    if not selected:
        return dbc.Alert("Select a rule in the table first", color="warning", duration=4000), no_update
    rule_id = int(selected[0]["id"])
    writer = current_app.extensions["pulse.writer"]
    if dash.ctx.triggered_id == "rule-delete":
        writer.call(lambda conn: q.delete_rule(conn, rule_id))
        return dbc.Alert(f"Rule {rule_id} deleted", color="success", duration=4000), tables()
    stored = q.rule(_state.warehouse(), rule_id)
    if stored.empty:
        return dbc.Alert(f"Rule {rule_id} no longer exists", color="warning"), tables()
    row = json.loads(stored.iloc[[0]].to_json(orient="records"))[0]  # plain Python values
    rule = validate_rule({k: row[k] for k in q.RULE_FIELDS} | {"enabled": not bool(row["enabled"])})
    writer.call(lambda conn: q.update_rule(conn, rule_id, rule.model_dump()))
    state = "enabled" if rule.enabled else "disabled"
    return dbc.Alert(f"Rule {rule_id} {state}", color="success", duration=4000), tables()
