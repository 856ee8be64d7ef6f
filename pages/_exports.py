"""The export menus' messages and the permalink, for every view: why a file was not made (the row limit, the
analyst role, a bad filter), and the view's link, optionally frozen to absolute times.

The files themselves come from /api/v1/export (api/export.py), which the menus' links download from;
assets/pulse_export.js asks it first and hands a refusal to the Store `export-problem`, shown here.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, no_update

from components.exports import view_toolbar
from data import access
from pages import _state
from queries.filters import FilterError, Filters
from queries.view_tables import DEFAULTS, PATHS, view_caption, experiment_name

VIEW_OF_PATH = {path: view for view, path in PATHS.items()}


def toolbar(view: str, filters: Filters, report: bool = True) -> object:
    """The view's sharing bar (components/exports.py), captioned with the URL's filters and time range;
    `report`: with the link to the whole view as a PDF rendered in the server."""
    try:
        caption = view_caption(view, filters.to_query(), _state.timezone())
    except FilterError:
        caption = ""
    return view_toolbar(view, caption, "/api/v1/report?" + urlencode(
        [("view", view), ("format", "pdf")], safe="/,:") + "&" + filters.to_query() if report else None)


def _note(text: str, **extra) -> dbc.Alert:
    return dbc.Alert(text, color="warning", className="py-2 small mt-2", dismissable=True, **extra)


@callback(Output("export-message", "children"), Input("export-problem", "data"), prevent_initial_call=True)
def refusal_note(problem):
    """What /api/v1/export said when asked whether a file may be made (assets/pulse_export.js): nothing when
    it may (an earlier message goes), else why not. The refusal of a role is worded here, from who the
    asker is, not from the text the browser passed on."""
    if not isinstance(problem, dict):
        return no_update
    status = problem.get("status")
    if status == "ok":
        return None
    if status in (401, 403):
        return _note(f"Exports need the analyst role; you are {access.current().describe()}.", id="export-refused")
    if status == 413:
        return _note(f"Not exported: {problem.get('problem')}.", id="export-too-large")
    return _note(f"Not exported: {problem.get('error') or 'the server answered ' + str(status)}")


@callback(Output("permalink", "value"), Input("permalink-freeze", "value"), State("url", "href"))
def permalink(freeze, href):
    """The view's link; frozen, its relative time range (now-24h, now/d) becomes the absolute times it
    resolves to now, so the link shows the same numbers tomorrow."""
    if not href:
        return no_update
    parts = urlsplit(href)
    view = VIEW_OF_PATH.get(parts.path.rstrip("/") or "/")
    try:
        filters = Filters.from_query(parts.query, DEFAULTS.get(view))
        if view == "experiments" and not filters.extra.get("experiment"):
            # the view's default is the most recent experiment: name it, so a newer one does not change the link
            name = experiment_name(_state.warehouse(), filters)
            filters = filters.with_changes(extra={**filters.extra, "experiment": name})
        if freeze:
            start, end = filters.resolve(datetime.now(timezone.utc), _state.timezone())
            filters = filters.with_changes(start=f"{start:%Y-%m-%dT%H:%M:%S}Z", end=f"{end:%Y-%m-%dT%H:%M:%S}Z")
    except FilterError:
        return href
    return urlunsplit(parts._replace(query=filters.to_query()))
