"""Alerts: the rules that watch the KPIs, what is firing now, what fired before, and where it is sent."""
from __future__ import annotations

import json

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from flask import current_app

from analytics.alerting import RuleError
from components.exports import titled
from components.grid import grid, number_column, text_column
from components.kpi_card import KPI_DISPLAY
from data import access
from pages import _state
from pages._exports import toolbar as export_toolbar  # by module name: re-run, callbacks and all, per app
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
    text_column("ts", "Time (UTC)"), text_column("rule_name", "Rule"), text_column("status", "Event"),
    text_column("message", "Message", flex=3),
]


@_state.with_filters(Filters(start="now-1h", end="now"))
def layout(filters: Filters, start, end):
    kpis = [{"label": KPI_DISPLAY[k].label, "value": k} for k in KPI_DISPLAY]
    parts = [
        html.H1("Alerts", className="h3"),
        export_toolbar("alerts", filters, report=False),
        html.Div([dbc.Button("Edit", id="rule-edit", size="sm", color="primary", className="me-2"),
                  dbc.Button("Enable / disable", id="rule-toggle", size="sm", color="secondary", className="me-2"),
                  dbc.Button("Delete", id="rule-delete", size="sm", color="danger"),
                  html.Small(" the rule selected in the table", className="text-body-secondary")],
                 className="mb-2"),
        html.Div(id="alerts-tables", children=tables()),
        html.H2("New rule", className="h5 mt-3", id="rule-form-title"),
        dcc.Store(id="rule-editing", data=None),  # the id of the rule the form edits; None: a new rule
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
        html.Div([dbc.Button("Add rule", id="rule-add", className="mt-2 me-2"),
                  dbc.Button("Cancel editing", id="rule-cancel", color="link", className="mt-2", style={"display": "none"})],
                 className="mb-2"),
        html.Div(id="rule-message"),
        html.H2("Webhooks", className="h5 mt-3"),
        html.Div(id="webhook-list", children=webhook_list()),
        dbc.InputGroup([dbc.Input(id="webhook-url", placeholder="https://hooks.example.com/pulse"),
                        dbc.Button("Add webhook", id="webhook-add")], className="my-2"),
        html.Div(id="webhook-message"),
    ]
    if not access.allowed("admin"):  # the rules, read-only; the callbacks refuse changes whatever is shown
        parts = [parts[0], parts[1], parts[3], html.P("Only an admin can change alert rules and webhooks.",
                                            className="small text-body-secondary", id="rules-read-only")]
    return html.Div(parts)


def _field(label: str, control) -> dbc.Col:
    return dbc.Col([html.Label(label, className="small text-body-secondary mb-0"), control], lg=True, sm=3, xs=6)


def tables() -> list:
    wh = _state.warehouse()
    history = q.history(wh, limit=q.HISTORY_SHOWN)
    if len(history):
        history["ts"] = history["ts"].astype(str)
    return [
        titled(html.H2("Rules", className="h5"), "alerts", "rules"),
        grid("rule-grid", q.rule_table(wh), RULE_COLUMNS, grid_options={"rowSelection": {"mode": "singleRow"}}),
        titled(html.H2("History", className="h5 mt-3"), "alerts", "history"),
        grid("alert-history", history, HISTORY_COLUMNS),
    ]


def webhook_list() -> html.Ul:
    hooks = q.webhooks(_state.warehouse())
    return html.Ul([html.Li(url) for url in hooks.get("url", [])] or [html.Li("None yet", className="text-body-secondary")])


FORM_FIELDS = ("rule-name", "rule-kpi", "rule-kind", "rule-operator", "rule-value", "rule-window", "rule-pending",
               "rule-filters")


def _form_mode(rule_id: int | None) -> tuple:
    """Form title, save button text, cancel button style: adding a rule, or editing rule `rule_id`."""
    if rule_id is None:
        return "New rule", "Add rule", {"display": "none"}
    return f"Edit rule {rule_id}", f"Save rule {rule_id}", {}


@callback(Output("rule-message", "children"), Output("alerts-tables", "children"),
          Output("rule-editing", "data"), Output("rule-form-title", "children"), Output("rule-add", "children"),
          Output("rule-cancel", "style"),
          Input("rule-add", "n_clicks"), *[State(f, "value") for f in FORM_FIELDS], State("rule-editing", "data"),
          prevent_initial_call=True)
def save_rule(_, name, kpi, kind, operator, value, window, pending, filters, editing):
    """Add the rule in the form, or save it over the rule being edited (keeping its on/off state)."""
    if not access.allowed("admin"):
        return _refused("change alert rules"), no_update, no_update, no_update, no_update, no_update
    data = {"name": name or "", "kpi": kpi, "kind": kind, "operator": operator, "window_minutes": window,
            "pending_minutes": pending, "filters": filters or ""}
    data["tolerance" if kind == "pacing" else "value"] = value
    writer = current_app.extensions["pulse.writer"]
    try:
        if editing is not None:
            stored = _stored_rule(editing)
            if stored is None:
                return (dbc.Alert(f"Rule {editing} no longer exists", color="warning"), tables(), None,
                        *_form_mode(None))
            rule = validate_rule({k: v for k, v in data.items() if v is not None} | {"enabled": stored["enabled"]})
            writer.call(lambda conn: q.update_rule(conn, editing, rule.model_dump()))
            access.audit("rule.update", editing, {"name": rule.name})
            return (dbc.Alert(f"Rule {editing} saved: {rule.name}", color="success", duration=4000), tables(), None,
                    *_form_mode(None))
        rule = validate_rule({k: v for k, v in data.items() if v is not None})
    except RuleError as error:
        return (dbc.Alert([html.Div(f"{p['field']}={p['value']!r}: {p['problem']}") for p in error.problems],
                          color="warning"), no_update, no_update, no_update, no_update, no_update)
    rule_id = writer.call(lambda conn: q.insert_rule(conn, rule.model_dump()))
    access.audit("rule.create", rule_id, {"name": rule.name})
    return (dbc.Alert(f"Rule {rule_id} added: {rule.name}", color="success", duration=4000), tables(), None,
            *_form_mode(None))


def _refused(what: str):
    """The message a role below admin gets (the check is here, in the callback, not only in hidden buttons)."""
    return dbc.Alert(f"Only an admin can {what}; you are {access.current().describe()}.", color="danger")


def _stored_rule(rule_id: int) -> dict | None:
    stored = q.rule(_state.warehouse(), rule_id)
    return None if stored.empty else json.loads(stored.iloc[[0]].to_json(orient="records", date_format="iso"))[0]  # plain values


@callback(*[Output(f, "value", allow_duplicate=True) for f in FORM_FIELDS],
          Output("rule-editing", "data", allow_duplicate=True),
          Output("rule-form-title", "children", allow_duplicate=True),
          Output("rule-add", "children", allow_duplicate=True), Output("rule-cancel", "style", allow_duplicate=True),
          Output("rule-message", "children", allow_duplicate=True),
          Input("rule-edit", "n_clicks"), State("rule-grid", "selectedRows"), prevent_initial_call=True)
def edit_rule(_, selected):
    """Load the selected rule into the form; saving then changes it in place."""
    keep = [no_update] * (len(FORM_FIELDS) + 4)
    if not selected:
        return *keep, dbc.Alert("Select a rule in the table first", color="warning", duration=4000)
    rule_id = int(selected[0]["id"])
    row = _stored_rule(rule_id)
    if row is None:
        return *keep, dbc.Alert(f"Rule {rule_id} no longer exists", color="warning")
    value = row["tolerance"] if row["kind"] == "pacing" else row["value"]
    return (row["name"], row["kpi"], row["kind"], row["operator"], value, row["window_minutes"],
            row["pending_minutes"], row["filters"], rule_id, *_form_mode(rule_id), None)


@callback(Output("rule-editing", "data", allow_duplicate=True),
          Output("rule-form-title", "children", allow_duplicate=True),
          Output("rule-add", "children", allow_duplicate=True), Output("rule-cancel", "style", allow_duplicate=True),
          Input("rule-cancel", "n_clicks"), prevent_initial_call=True)
def cancel_editing(_):
    return None, *_form_mode(None)


@callback(Output("webhook-message", "children"), Output("webhook-list", "children"),
          Input("webhook-add", "n_clicks"), State("webhook-url", "value"), prevent_initial_call=True)
def add_webhook(_, url):
    if not access.allowed("admin"):
        return _refused("add webhooks"), no_update
    problem = webhook_url_problem(url)
    if problem:
        return dbc.Alert(f"url={url!r}: {problem}", color="warning"), no_update
    current_app.extensions["pulse.writer"].call(lambda conn: q.insert_webhook(conn, url.strip()))
    access.audit("webhook.create", None, {"url": url.strip()[:200]})
    return dbc.Alert("Webhook added", color="success", duration=4000), webhook_list()


@callback(Output("rule-message", "children", allow_duplicate=True),
          Output("alerts-tables", "children", allow_duplicate=True),
          Input("rule-toggle", "n_clicks"), Input("rule-delete", "n_clicks"), State("rule-grid", "selectedRows"),
          prevent_initial_call=True)
def change_rule(_, __, selected):
    """Enable/disable or delete the rule selected in the grid (its history stays)."""
    if not access.allowed("admin"):
        return _refused("change alert rules"), no_update
    if not selected:
        return dbc.Alert("Select a rule in the table first", color="warning", duration=4000), no_update
    rule_id = int(selected[0]["id"])
    writer = current_app.extensions["pulse.writer"]
    if dash.ctx.triggered_id == "rule-delete":
        writer.call(lambda conn: q.delete_rule(conn, rule_id))
        access.audit("rule.delete", rule_id)
        return dbc.Alert(f"Rule {rule_id} deleted", color="success", duration=4000), tables()
    row = _stored_rule(rule_id)
    if row is None:
        return dbc.Alert(f"Rule {rule_id} no longer exists", color="warning"), tables()
    rule = validate_rule({k: row[k] for k in q.RULE_FIELDS} | {"enabled": not bool(row["enabled"])})
    writer.call(lambda conn: q.update_rule(conn, rule_id, rule.model_dump()))
    state = "enabled" if rule.enabled else "disabled"
    access.audit("rule.enable" if rule.enabled else "rule.disable", rule_id)
    return dbc.Alert(f"Rule {rule_id} {state}", color="success", duration=4000), tables()
