"""The access line above every view: who is signed in (with a sign-out button), or, with no users configured,
a small banner saying the local demo is open to anyone on this machine; for admins, the link to the Admin
page. Nothing on a wall display."""
from __future__ import annotations

from dash import Input, Output, callback, dcc, html

from data import access


def access_bar() -> html.Div:
    return html.Div(id="access-bar", className="access-bar small pulse-chrome")


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
