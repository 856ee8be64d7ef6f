"""The page's export menus download from here: a view's table as CSV or Excel, or the whole view as one
workbook, under the view's own query string (docs/metrics.md, "Exports").

    GET /api/v1/export?view=<view>&table=<key or *>&format=csv|xlsx&<the view's query string>[&check=1]

The tables are the ones the page draws: queries/view_tables.py `view_tables`, the same call the view makes
(one code path per number). The browser's own download manager fetches the file, so the user sees its
progress and no Dash callback thread waits for it:
- CSV is streamed in pieces of 10,000 rows (api/tabular.py), header first;
- XLSX is written whole (a workbook is a zip: it cannot be sent before it is finished) and sent with its
  Content-Length, so the browser shows how much has arrived; its first sheet is "About this export".
A table over the export row limit (PULSE_EXPORT_MAX_ROWS) is a 413 naming the table and its row count; a
bad view, table, format or filter a 400 naming the parameter and its value. `check=1` answers the same
checks (and the row counts) as JSON without the file: the menu asks it first, so a refusal shows as a
message in the page instead of an error page in place of the download.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask import Response, current_app, jsonify, request

from api import blueprint
from api.tabular import csv_chunks
from api.workbook import XLSX_TYPE, file_stem, xlsx_bytes
from data import access
from data.warehouse import current
from queries.filters import FilterError
from queries.view_tables import MAX_EXPORT_ROWS, PATHS, ExportTooLarge, Table, ViewTables, check_rows, view_tables

FORMATS = {"csv": "text/csv", "xlsx": XLSX_TYPE}
WHOLE_VIEW = "*"
OWN_KEYS = ("view", "table", "format", "check", "token")  # this endpoint's parameters, not the view's
COVER = "About this export"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # the tables' times are wall-clock times of the display time zone


@blueprint.get("/export")
def export():
    view, key, fmt = request.args.get("view"), request.args.get("table", WHOLE_VIEW), request.args.get("format", "csv")
    if view not in PATHS:
        raise FilterError("view", view, f"must be one of {', '.join(PATHS)}")
    if fmt not in FORMATS:
        raise FilterError("format", fmt, f"must be one of {', '.join(FORMATS)}")
    if key == WHOLE_VIEW and fmt != "xlsx":
        raise FilterError("format", fmt, "the whole view (table=*) is one workbook: format=xlsx")
    access.require("analyst", "exporting data")  # the guard checked it too (api/auth.py POLICY)
    tables = view_tables(view, current(), view_query(), current_app.config.get("PULSE_TIMEZONE", "UTC"))
    chosen = tables.tables if key == WHOLE_VIEW else [tables.table(key)]
    try:
        limit = int(current_app.config.get("PULSE_EXPORT_MAX_ROWS", MAX_EXPORT_ROWS))
        for table in chosen:
            check_rows(table.title, table.frame, limit)
    except ExportTooLarge as error:
        return too_large(error)
    name = file_name(tables, key, fmt)
    if request.args.get("check"):
        return jsonify({"status": "ok", "view": view, "table": key, "format": fmt, "file": name,
                        "rows": {table.key: len(table.frame) for table in chosen}})
    access.audit("export", key, {"view": view, "format": fmt})
    headers = {"Content-Disposition": f'attachment; filename="{name}"',
               "X-Pulse-Rows": str(sum(len(table.frame) for table in chosen))}
    if fmt == "csv":
        # a plain generator: the pieces need only the table, not the request (which ends before they are sent)
        return Response(csv_chunks(chosen[0].frame, date_format=TIME_FORMAT), mimetype=FORMATS[fmt], headers=headers)
    body = workbook(tables, chosen)
    return Response(body, mimetype=FORMATS[fmt], headers={**headers, "Content-Length": str(len(body))})


def view_query() -> str:
    """The view's own query string: this request's, without the endpoint's parameters."""
    pairs = parse_qsl(request.query_string.decode(errors="replace"), keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k not in OWN_KEYS], safe="/,:")


def file_name(tables: ViewTables, key: str, fmt: str) -> str:
    """pulse-<view>[-<table>]-<YYYYmmdd-HHMMSS>.<format>: to the second, as Chromium left a second file of the same
    name (the same table exported twice in a minute) unsaved."""
    stamp = f"{tables.exported_at:%Y%m%d-%H%M%S}"  # to the second: two exports of a table never share a name
    return file_stem("pulse", tables.view, "" if key == WHOLE_VIEW else key, stamp) + "." + fmt


def workbook(tables: ViewTables, chosen: list[Table]) -> bytes:
    return xlsx_bytes([(COVER, tables.cover())] + [(table.title, table.frame) for table in chosen])


def too_large(error: ExportTooLarge) -> Response:
    response = jsonify({"status": "error", "error": str(error), **error.as_dict(), "table": error.table,
                        "limit": error.limit})
    response.status_code = 413
    return response
