"""The export menus' and the permalink's callbacks, for every view: a table's data as CSV or XLSX, the whole
view as one workbook (a first sheet stating view, filters, time range, time zone and export time, then one
sheet per chart and table), and the view's link, optionally frozen to absolute times.

The tables come from queries/view_tables.py, which calls the query functions the charts call.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update
from flask import current_app

from components.exports import WHOLE_VIEW, XLSX_TYPE, csv_text, file_stem, view_toolbar, xlsx_bytes
from data import access
from pages import _state
from queries.filters import FilterError, Filters
from queries.view_tables import (DEFAULTS, MAX_EXPORT_ROWS, PATHS, ExportTooLarge, check_rows, view_caption,
                                 view_tables, experiment_name)

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


def row_limit() -> int:
    return int(current_app.config.get("PULSE_EXPORT_MAX_ROWS", MAX_EXPORT_ROWS))


@callback(Output("export-download", "data"), Output("export-message", "children"),
          Input({"type": "export", "view": ALL, "table": ALL, "format": ALL, "at": ALL}, "n_clicks"),
          State("url", "search"), prevent_initial_call=True)
def export(clicks, search):
    """A menu item clicked: that table (or, for table "*", every table of the view) as a file."""
    trigger = ctx.triggered_id
    if not trigger or not any(clicks) or not ctx.triggered[0]["value"]:
        return no_update, no_update  # a menu drawn anew, not clicked
    view, key, fmt = trigger["view"], trigger["table"], trigger["format"]
    if not access.allowed("analyst"):
        return no_update, dbc.Alert(f"Exports need the analyst role; you are {access.current().describe()}.",
                                    color="warning", className="py-2 small mt-2", id="export-refused", dismissable=True)
    access.audit("export", key, {"view": view, "format": fmt})
    try:
        tables = view_tables(view, _state.warehouse(), search or "", _state.timezone())
        limit = row_limit()
        stamp = f"{tables.exported_at:%Y%m%d-%H%M}"
        if key == WHOLE_VIEW:
            sheets = [("About this export", tables.cover())]
            sheets += [(t.title, check_rows(t.title, t.frame, limit)) for t in tables.tables]
            return dcc.send_bytes(xlsx_bytes(sheets), file_stem("pulse", view, stamp) + ".xlsx",
                                  type=XLSX_TYPE), None
        table = tables.table(key)
        frame = check_rows(table.title, table.frame, limit)
        name = file_stem("pulse", view, key, stamp)
        if fmt == "csv":
            return dcc.send_string(csv_text(frame), name + ".csv", type="text/csv"), None
        return dcc.send_bytes(xlsx_bytes([("About this export", tables.cover()), (table.title, frame)]),
                              name + ".xlsx", type=XLSX_TYPE), None
    except ExportTooLarge as error:
        return no_update, dbc.Alert(f"Not exported: {error.problem}.", color="warning", className="py-2 small mt-2",
                                    id="export-too-large", dismissable=True)
    except FilterError as error:
        return no_update, dbc.Alert(f"Not exported: {error}", color="warning", className="py-2 small mt-2",
                                    dismissable=True)


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
