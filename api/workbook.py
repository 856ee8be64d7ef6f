"""The files of the page's exports (api/export.py): an Excel workbook of tables, and the files' names.

Moved here from components/exports.py when the export menus started downloading from the server's
/api/v1/export instead of through a Dash callback: only the endpoint writes files now.
"""
from __future__ import annotations

import io
import re

import pandas as pd

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheet_name(title: str, taken: set[str]) -> str:
    """An Excel sheet name: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:31] or "Sheet"
    name, n = base, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def xlsx_bytes(sheets: list[tuple[str, pd.DataFrame]]) -> bytes:
    """A workbook, one sheet per (title, table) in order; columns sized to their headers."""
    buffer = io.BytesIO()
    taken: set[str] = set()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for title, frame in sheets:
            name = sheet_name(title, taken)
            frame.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            for i, column in enumerate(frame.columns):
                letter = sheet.cell(row=1, column=i + 1).column_letter
                sheet.column_dimensions[letter].width = min(60, max(10, len(str(column)) + 2))
            sheet.freeze_panes = "A2"
    return buffer.getvalue()


def file_stem(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", p).strip("_") for p in parts if p)
