"""Tables of numbers (dash-ag-grid): columns that sort as numbers and read as money, counts or ratios."""
from __future__ import annotations

import dash_ag_grid as dag
import pandas as pd

_FORMATS = {
    "money": "params.value == null ? '–' : d3.format('$,.0f')(params.value)",
    "integer": "params.value == null ? '–' : d3.format(',.0f')(params.value)",
    "ratio": "params.value == null ? '–' : d3.format('.2f')(params.value) + '×'",
    "percent": "params.value == null ? '–' : d3.format('.2%')(params.value)",
    "share": "params.value == null ? '–' : d3.format('.0%')(params.value)",
    "p_value": "params.value == null ? '–' : params.value < 0.001 ? '<0.001' : d3.format('.3f')(params.value)",
    # as the experiment verdicts say it: nothing is certain, so never 100.0% or 0.0%
    "chance": "params.value == null ? '–' : params.value > 0.999 ? '>99.9%' : params.value < 0.001 ? '<0.1%' "
              ": d3.format('.1%')(params.value)",
}
# An estimate with its interval from two more fields of the row: "+6.2% (1.1% to 11.3%)".
_INTERVAL_FORMATS = {
    "percent": "d3.format('+.1%')(params.value) + ' (' + d3.format('.1%')(params.data.{low}) + ' to ' + "
               "d3.format('.1%')(params.data.{high}) + ')'",
    "points": "d3.format('+.2f')(100 * params.value) + ' pp (' + d3.format('.2f')(100 * params.data.{low}) + "
              "' to ' + d3.format('.2f')(100 * params.data.{high}) + ')'",
}


def text_column(field: str, header: str, **options) -> dict:
    return {"field": field, "headerName": header, **options}


def number_column(field: str, header: str, kind: str) -> dict:
    return {"field": field, "headerName": header, "type": "rightAligned",
            "valueFormatter": {"function": _FORMATS[kind]}}


def interval_column(field: str, low: str, high: str, header: str, kind: str = "percent") -> dict:
    """`field` with its interval [`low`, `high`] (other fields of the row); sorts by `field`. `kind`:
    percent (relative changes) or points (differences of rates, in percentage points)."""
    text = _INTERVAL_FORMATS[kind].format(low=low, high=high)
    return {"field": field, "headerName": header, "type": "rightAligned", "minWidth": 210,
            "valueFormatter": {"function": f"params.value == null ? '–' : {text}"}}


def rows(table: pd.DataFrame) -> list[dict]:
    """Records for rowData: missing values as null (shown "–"), numbers as numbers."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


def grid(grid_id: str, table: pd.DataFrame, columns: list[dict], **options) -> dag.AgGrid:
    return dag.AgGrid(id=grid_id, rowData=rows(table), columnDefs=columns, columnSize="sizeToFit",
                      defaultColDef={"sortable": True, "resizable": True, "filter": True},
                      dashGridOptions={"domLayout": "autoHeight", **options.pop("grid_options", {})},
                      style={"height": None}, **options)
