"""Tables of numbers (dash-ag-grid): columns that sort as numbers and read as money, counts or ratios."""
from __future__ import annotations

import dash_ag_grid as dag
import pandas as pd

_FORMATS = {
    "money": "params.value == null ? '–' : d3.format('$,.0f')(params.value)",
    "integer": "params.value == null ? '–' : d3.format(',.0f')(params.value)",
    "ratio": "params.value == null ? '–' : d3.format('.2f')(params.value) + '×'",
    "percent": "params.value == null ? '–' : d3.format('.2%')(params.value)",
}


def text_column(field: str, header: str, **options) -> dict:
    return {"field": field, "headerName": header, **options}


def number_column(field: str, header: str, kind: str) -> dict:
    return {"field": field, "headerName": header, "type": "rightAligned",
            "valueFormatter": {"function": _FORMATS[kind]}}


def rows(table: pd.DataFrame) -> list[dict]:
    """Records for rowData: missing values as null (shown "–"), numbers as numbers."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


def grid(grid_id: str, table: pd.DataFrame, columns: list[dict], **options) -> dag.AgGrid:
    return dag.AgGrid(id=grid_id, rowData=rows(table), columnDefs=columns, columnSize="sizeToFit",
                      defaultColDef={"sortable": True, "resizable": True, "filter": True},
                      dashGridOptions={"domLayout": "autoHeight", **options.pop("grid_options", {})},
                      style={"height": None}, **options)
