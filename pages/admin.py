"""Admin: users and their roles, display tokens for wall displays, and the audit log.

The same stores as the command line (`python app.py users|tokens|audit`, data/users.py); every callback
checks the admin role itself (data/access.py), whatever the page shows, and every change is audited with
the admin's name."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from flask import current_app

from data import access
from data.users import DISPLAY_VIEWS, ROLES, UserError

# Not in the navbar: admins reach it from the access bar above the view (pages/_access.py).
dash.register_page(__name__, path="/admin", name="Admin", title="Pulse · Admin", order=6, nav=False)

AUDIT_ROWS = 200


def _users():
    return current_app.extensions["pulse.users"]


def _tokens():
    return current_app.extensions["pulse.tokens"]


def _refused() -> dbc.Alert:
    return dbc.Alert(f"Only an admin can manage users, display tokens and the audit log; you are "
                     f"{access.current().describe()}.", color="danger")


def _table(columns: list[tuple[str, str]], rows: list[dict]) -> dbc.Table:
    head = html.Thead(html.Tr([html.Th(label) for _, label in columns]))
    body = html.Tbody([html.Tr([html.Td(_cell(row.get(key))) for key, _ in columns]) for row in rows]
                      or [html.Tr(html.Td("None yet", colSpan=len(columns), className="text-body-secondary"))])
    return dbc.Table([head, body], size="sm", striped=True, className="small")


def _cell(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else ""
    return "" if value is None else str(value)


def users_table():
    return _table([("name", "Name"), ("role", "Role"), ("disabled", "Disabled"), ("created", "Created")], _users().list())


def tokens_table():
    return _table([("id", "Id"), ("name", "Display"), ("views", "Views"), ("created_at", "Created"),
                   ("revoked_at", "Revoked")], _tokens().list())


def audit_table():
    entries = current_app.extensions["pulse.audit"].recent(AUDIT_ROWS)
    return _table([("ts", "When (UTC)"), ("actor", "Who"), ("action", "Action"), ("target", "On"),
                   ("detail", "Detail"), ("ip", "From")], entries)


def layout(**_query):
    if not access.allowed("admin"):
        return _refused()
    user_names = [u["name"] for u in _users().list()]
    return html.Div([
        html.H1("Admin", className="h4"),
        html.H2("Users", className="h5 mt-3"),
        html.Div(users_table(), id="admin-users"),
        dbc.Row([
            dbc.Col(dbc.Input(id="admin-user-name", placeholder="name", maxLength=64), md=2),
            dbc.Col(dbc.Select(id="admin-user-role", options=[{"label": r, "value": r} for r in ROLES], value="viewer"), md=2),
            dbc.Col(dbc.Input(id="admin-user-password", type="password", placeholder="password (10+ characters)",
                              autocomplete="new-password", maxLength=1024), md=3),
            dbc.Col(dbc.Button("Create user", id="admin-user-create", size="sm"), md="auto"),
        ], className="g-2 my-1"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="admin-user-pick", options=user_names, placeholder="user"), md=2),
            dbc.Col(dbc.Select(id="admin-user-new-role", options=[{"label": r, "value": r} for r in ROLES],
                               value="viewer"), md=2),
            dbc.Col(dbc.Button("Set role", id="admin-user-set-role", size="sm", className="me-2"), md="auto"),
            dbc.Col(dbc.Button("Disable", id="admin-user-disable", size="sm", color="warning", className="me-2"), md="auto"),
            dbc.Col(dbc.Button("Enable", id="admin-user-enable", size="sm", color="secondary"), md="auto"),
        ], className="g-2 my-1"),
        html.Div(id="admin-user-message"),
        html.H2("Display tokens", className="h5 mt-4"),
        html.Div(tokens_table(), id="admin-tokens"),
        dbc.Row([
            dbc.Col(dbc.Input(id="admin-token-name", placeholder="display name, e.g. lobby-tv", maxLength=100), md=3),
            dbc.Col(dcc.Dropdown(id="admin-token-views", options=list(DISPLAY_VIEWS), value=["wall"], multi=True), md=4),
            dbc.Col(dbc.Button("Create token", id="admin-token-create", size="sm"), md="auto"),
        ], className="g-2 my-1"),
        dbc.Row([
            dbc.Col(dbc.Input(id="admin-token-id", placeholder="token id", maxLength=16), md=2),
            dbc.Col(dbc.Button("Revoke", id="admin-token-revoke", size="sm", color="warning"), md="auto"),
        ], className="g-2 my-1"),
        html.Div(id="admin-token-message"),
        html.H2("Audit log", className="h5 mt-4"),
        dbc.Button("Refresh", id="admin-audit-refresh", size="sm", color="secondary", className="mb-2"),
        html.Div(audit_table(), id="admin-audit"),
    ])


@callback(Output("admin-user-message", "children"), Output("admin-users", "children"),
          Output("admin-user-password", "value"),
          Input("admin-user-create", "n_clicks"), State("admin-user-name", "value"), State("admin-user-role", "value"),
          State("admin-user-password", "value"), prevent_initial_call=True)
def create_user(_, name, role, password):
    if not access.allowed("admin"):
        return _refused(), no_update, None
    try:
        _users().create((name or "").strip(), role, password or "", actor=access.current().actor)
    except UserError as error:
        return dbc.Alert(str(error), color="warning"), no_update, None
    return dbc.Alert(f"Created {role} {name}", color="success", duration=4000), users_table(), None


@callback(Output("admin-user-message", "children", allow_duplicate=True),
          Output("admin-users", "children", allow_duplicate=True),
          Input("admin-user-set-role", "n_clicks"), Input("admin-user-disable", "n_clicks"),
          Input("admin-user-enable", "n_clicks"), State("admin-user-pick", "value"),
          State("admin-user-new-role", "value"), prevent_initial_call=True)
def change_user(_, __, ___, name, role):
    if not access.allowed("admin"):
        return _refused(), no_update
    if not name:
        return dbc.Alert("Pick a user first", color="warning", duration=4000), no_update
    actor = access.current().actor
    try:
        if dash.ctx.triggered_id == "admin-user-set-role":
            _users().set_role(name, role, actor=actor)
            message = f"{name} is now {role}"
        else:
            disable = dash.ctx.triggered_id == "admin-user-disable"
            _users().set_disabled(name, disable, actor=actor)
            message = f"{name} {'disabled' if disable else 'enabled'}"
    except UserError as error:
        return dbc.Alert(str(error), color="warning"), no_update
    return dbc.Alert(message, color="success", duration=4000), users_table()


@callback(Output("admin-token-message", "children"), Output("admin-tokens", "children"),
          Input("admin-token-create", "n_clicks"), State("admin-token-name", "value"),
          State("admin-token-views", "value"), prevent_initial_call=True)
def create_token(_, name, views):
    if not access.allowed("admin"):
        return _refused(), no_update
    try:
        token_id, token = _tokens().create((name or "").strip(), list(views or []), actor=access.current().actor)
    except UserError as error:
        return dbc.Alert(str(error), color="warning"), no_update
    playlist = ",".join(views)
    url = f"{DISPLAY_VIEWS[views[0]]}?kiosk=1&token={token}" + (
        f"&playlist={playlist}&interval=60" if len(views) > 1 else "")
    return dbc.Alert([html.Div(f"Display token {token_id} created; it is shown only now. Open on the display:"),
                      html.Code(url)], color="success"), tokens_table()


@callback(Output("admin-token-message", "children", allow_duplicate=True),
          Output("admin-tokens", "children", allow_duplicate=True),
          Input("admin-token-revoke", "n_clicks"), State("admin-token-id", "value"), prevent_initial_call=True)
def revoke_token(_, token_id):
    if not access.allowed("admin"):
        return _refused(), no_update
    if not token_id or not _tokens().revoke(token_id.strip(), actor=access.current().actor):
        return dbc.Alert(f"id={token_id!r}: no active display token with this id", color="warning"), no_update
    return dbc.Alert(f"Revoked display token {token_id}", color="success", duration=4000), tokens_table()


@callback(Output("admin-audit", "children"), Input("admin-audit-refresh", "n_clicks"), prevent_initial_call=True)
def refresh_audit(_):
    if not access.allowed("admin"):
        return _refused()
    return audit_table()
