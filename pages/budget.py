"""Budget: what each channel costs and returns (last-click), the basis for moving budget between them."""
from __future__ import annotations

import dash
import dash_ag_grid as dag
from dash import html

from components.filter_bar import filter_bar
from pages import _state
from queries.channels import channel_performance
from queries.dimensions import dimension_options
from queries.filters import Filters

dash.register_page(__name__, path="/budget", name="Budget", title="Pulse · Budget", order=2)

DEFAULTS = Filters(start="now-30d", end="now")
_MONEY = {"function": "params.value == null ? '–' : d3.format('$,.0f')(params.value)"}
_RATIO = {"function": "params.value == null ? '–' : d3.format('.2f')(params.value) + '×'"}
_INT = {"function": "params.value == null ? '–' : d3.format(',.0f')(params.value)"}
COLUMNS = [
    {"field": "label", "headerName": "Channel", "pinned": "left"},
    {"field": "spend", "headerName": "Spend", "valueFormatter": _MONEY, "type": "rightAligned"},
    {"field": "sessions", "headerName": "Sessions", "valueFormatter": _INT, "type": "rightAligned"},
    {"field": "orders", "headerName": "Orders", "valueFormatter": _INT, "type": "rightAligned"},
    {"field": "revenue", "headerName": "Revenue", "valueFormatter": _MONEY, "type": "rightAligned"},
    {"field": "roas", "headerName": "ROAS", "valueFormatter": _RATIO, "type": "rightAligned"},
    {"field": "cpa", "headerName": "CPA", "valueFormatter": _MONEY, "type": "rightAligned"},
]


@_state.with_filters(DEFAULTS)
def layout(filters: Filters, start, end):
    wh = _state.warehouse()
    table = channel_performance(wh, filters, start, end)
    table = table.sort_values(["paid", "spend"], ascending=[False, False])
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    return html.Div([
        html.H1("Budget", className="h3"),
        filter_bar(filters, dimension_options(wh), comparison=False),
        html.H2("Spend and return by channel (last click)", className="h5"),
        dag.AgGrid(id="channel-grid", rowData=rows, columnDefs=COLUMNS, columnSize="sizeToFit",
                   defaultColDef={"sortable": True, "resizable": True},
                   dashGridOptions={"domLayout": "autoHeight"}, style={"height": None}),
    ])
