"""The top bar: the product name and one link per registered page (but those registered with nav=False)."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc


def navbar() -> dbc.Navbar:
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact",
                                id=f"nav-{page['module'].split('.')[-1]}"))
        for page in dash.page_registry.values() if page.get("nav", True)  # nav=False: linked elsewhere
    ]
    return dbc.Navbar(
        dbc.Container([dbc.NavbarBrand("Pulse", href="/", className="fw-bold"), dbc.Nav(links, navbar=True)],
                      fluid=True),
        color="dark", dark=True, className="mb-3", id="navbar",
    )
