"""The access line above every view: who is signed in (with a sign-out button), or, with no users configured,
a small banner saying the local demo is open to anyone on this machine; for admins, the link to the Admin
page. Nothing on a wall display."""
from __future__ import annotations

from dash import Input, Output, callback, clientside_callback, dcc, html

from data import access


CHECK_SECONDS = 15


def access_bar() -> html.Div:
    return html.Div([
        dcc.Interval(id="access-check", interval=CHECK_SECONDS * 1000),
        dcc.Store(id="access-state"),
        html.Div(id="access-bar", className="access-bar small pulse-chrome"),
    ])


# A session that ended (signed out elsewhere, disabled, expired, a display token revoked) gets nothing from the
# callbacks any more (401); every CHECK_SECONDS the page asks for itself and, when the server would send it
# to the login page, reloads so that it shows that page instead of numbers going stale. An unreachable
# server changes nothing here (the connection badge of components/kiosk.py says so).
clientside_callback(
    """async function (_) {
        try {
            var answer = await fetch(window.location.pathname, {method: "HEAD", redirect: "manual",
                                                                cache: "no-store", credentials: "same-origin"});
            if (answer.type === "opaqueredirect" || answer.status === 401) { window.location.reload(); }
        } catch (error) { /* unreachable: keep the view */ }
        return window.dash_clientside.no_update;
    }""",
    Output("access-state", "data"), Input("access-check", "n_intervals"), prevent_initial_call=True)


@callback(Output("access-bar", "children"), Input("url", "pathname"))
def show_access(_pathname):
    identity = access.current()
    admin_link = [dcc.Link("Admin", href="/admin", className="mx-3", id="admin-link")] if identity.at_least("admin") else []
    if identity.kind == "open":
        return html.Div([
            html.Strong("Open local demo: "),
            "no users exist, so anyone on this machine can see and change everything. To require sign-in, create "
            "an admin: ", html.Code("python app.py users create NAME --role admin"), *admin_link,
        ], className="alert alert-info py-1 px-2 my-1", id="open-mode-banner")
    if identity.kind == "user":
        return html.Form([
            *admin_link,
            html.Span(["Signed in as ", html.Strong(identity.name), f" ({identity.role})"], className="me-2"),
            html.Button("Sign out", type="submit", className="btn btn-link btn-sm p-0 align-baseline",
                        id="sign-out"),
        ], action="/logout", method="POST", className="text-end my-1")
    return None
