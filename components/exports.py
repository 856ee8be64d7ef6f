"""Exports and sharing, the pieces every view shows: an export menu per chart and table (CSV, XLSX, and PNG
and SVG of a chart), and the view's toolbar (the whole view as one XLSX workbook, a permalink with a "copy
link" button and a "freeze" option).

The data items are links to the server's /api/v1/export (api/export.py), which writes the file from the
tables of queries/view_tables.py: the browser downloads it itself (its download manager shows progress,
no Dash callback waits for the file). assets/pulse_export.js adds the page's current query string when one
is clicked (the filters change without the menu being drawn again) and asks the endpoint first whether the
file may be made; if not, it hands the reason to the Store `export-problem`, which pages/_exports.py shows
in the toolbar (the row limit, the analyst role).

Ids are pattern-matching (the tests and the script find the items by them):
    {"type": "export", "view": ..., "table": ..., "format": "csv" | "xlsx", "at": ...}   a table's data
    {"type": "export", "view": ..., "table": "*", "format": "xlsx", "at": "view"}        the view's workbook
    {"type": "export-image", "graph": ..., "format": "png" | "svg"}             a chart's image (in the browser)
"""
from __future__ import annotations

from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, clientside_callback, dcc, html

WHOLE_VIEW = "*"
EXPORT_LINK = "pulse-export"  # the class assets/pulse_export.js looks for


def export_href(view: str, table: str, fmt: str) -> str:
    """The endpoint's address for one file, without the page's query string (added on click)."""
    return "/api/v1/export?" + urlencode({"view": view, "table": table, "format": fmt}, safe="*")


def export_menu(view: str, table: str, graph: str | None = None, label: str = "Export") -> dbc.DropdownMenu:
    """The menu beside a chart or grid: its data as CSV or XLSX and, for a chart (`graph`: its dcc.Graph's
    id), its image as PNG or SVG with the filters and time range in the title. Ids carry `at` (the chart's id,
    else the table's key), so a chart and a grid of the same data each have their own menu."""
    at = graph or table
    items = [dbc.DropdownMenuItem(text, href=export_href(view, table, fmt), external_link=True, class_name=EXPORT_LINK,
                                  id={"type": "export", "view": view, "table": table, "format": fmt, "at": at})
             for text, fmt in (("CSV (data)", "csv"), ("Excel (data)", "xlsx"))]
    if graph:
        items += [dbc.DropdownMenuItem(divider=True),
                  dbc.DropdownMenuItem("PNG image", id={"type": "export-image", "graph": graph, "format": "png"}),
                  dbc.DropdownMenuItem("SVG image", id={"type": "export-image", "graph": graph, "format": "svg"})]
    return dbc.DropdownMenu(items, label=label, size="sm", color="link", align_end=True,
                            id={"type": "export-menu", "view": view, "table": table, "at": at},
                            className="export-menu d-inline-block pulse-chrome")


def titled(heading, view: str, table: str, graph: str | None = None) -> html.Div:
    """A heading with the export menu at its right."""
    return html.Div([heading, export_menu(view, table, graph)],
                    className="d-flex justify-content-between align-items-center")


def with_menu(content, view: str, table: str, graph: str | None = None) -> html.Div:
    """A chart or grid with its export menu above its right corner."""
    return html.Div([html.Div(export_menu(view, table, graph), className="text-end export-bar pulse-chrome"), content])


def view_toolbar(view: str, caption: str, report: str | None = None) -> html.Div:
    """The view's sharing bar: workbook of every chart, the whole view as a PDF rendered in the server
    (`report`: its address), the permalink with copy and freeze. `caption` (filters and time range in
    words) titles the chart images."""
    return html.Div([
        dbc.Button("Download view (Excel)", href=export_href(view, WHOLE_VIEW, "xlsx"), external_link=True,
                   id={"type": "export", "view": view, "table": WHOLE_VIEW, "format": "xlsx", "at": "view"},
                   size="sm", color="secondary", outline=True, className="me-2 " + EXPORT_LINK),
        html.A("PDF", href=report, id="view-report", className="btn btn-sm btn-outline-secondary me-2",
               title="The whole view as a PDF, rendered in the server (takes a few seconds)",
               **({} if report else {"hidden": True})),
        dbc.InputGroup([
            dbc.InputGroupText("Link", className="small"),
            dbc.Input(id="permalink", readonly=True, size="sm", style={"minWidth": "18rem"}),
            dbc.InputGroupText(dcc.Clipboard(target_id="permalink", id="permalink-copy", title="Copy link",
                                             className="permalink-copy")),
        ], size="sm", className="w-auto flex-grow-1 me-2", style={"maxWidth": "40rem"}),
        html.Span(dbc.Checkbox(id="permalink-freeze", label="Freeze time range", value=False, className="small mb-0"),
                  title="The link names the absolute times shown now instead of a relative range like now-24h"),
        dcc.Store(id="export-problem"),  # why a file was not made: set by assets/pulse_export.js
        dcc.Store(id="export-caption", data=caption),
        dcc.Store(id="export-image-done"),
        html.Div(id="export-message", className="w-100"),
    ], className="d-flex flex-wrap align-items-center gap-1 mb-2 export-toolbar pulse-chrome", id="export-toolbar")


# -- chart images, drawn by plotly.js in the browser -----------------------------------------------------

clientside_callback(
    """function (clicks, caption) {
        const trigger = dash_clientside.callback_context.triggered_id;
        if (!trigger || !clicks.some(Boolean)) { return dash_clientside.no_update; }
        const holder = document.getElementById(trigger.graph);
        const gd = holder && (holder.classList.contains('js-plotly-plot') ? holder
                                                                         : holder.querySelector('.js-plotly-plot'));
        if (!gd || !window.Plotly) { return dash_clientside.no_update; }
        const layout = JSON.parse(JSON.stringify(gd.layout || {}));
        const title = (layout.title && (layout.title.text || layout.title)) || '';
        layout.title = {text: (typeof title === 'string' ? title : '') + '<br><sub>' + caption + '</sub>',
                        x: 0.02, xanchor: 'left'};
        layout.margin = Object.assign({}, layout.margin || {}, {t: Math.max(70, (layout.margin || {}).t || 0)});
        const width = (gd._fullLayout && gd._fullLayout.width) || 900;
        const height = ((gd._fullLayout && gd._fullLayout.height) || 400) + 30;
        const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
        const filename = 'pulse-' + trigger.graph + '-' + stamp;
        Plotly.toImage({data: gd.data, layout: layout}, {format: trigger.format, width: width, height: height})
            .then(function (url) {
                const link = document.createElement('a');
                link.href = url;
                link.download = filename + '.' + trigger.format;
                document.body.appendChild(link);
                link.click();
                link.remove();
            });
        return trigger.format + ':' + Date.now();
    }""",
    Output("export-image-done", "data"),
    Input({"type": "export-image", "graph": ALL, "format": ALL}, "n_clicks"),
    State("export-caption", "data"),
    prevent_initial_call=True,
)
