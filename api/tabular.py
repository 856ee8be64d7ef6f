"""`format=csv` on the JSON twins: the same rows as the JSON answer, as CSV (docs/metrics.md, "Exports").

`format` is json (default) or csv; an endpoint with several tables takes `table=` to pick one (the JSON
answer's key, e.g. /api/v1/funnel?format=csv&table=trend). Columns keep the JSON's names; numbers are
written in full precision, missing values empty, times as ISO-8601 UTC. A table over the export row limit
(PULSE_EXPORT_MAX_ROWS, default 100,000) is refused with a 413 naming its row count. The CSV is streamed, in
pieces of 10,000 rows, with its row count in the `X-Pulse-Rows` header.
"""
from __future__ import annotations

import pandas as pd
from flask import Response, current_app, jsonify, request, stream_with_context

from queries.filters import FilterError
from queries.view_tables import MAX_EXPORT_ROWS, ExportTooLarge, check_rows

FORMATS = ("json", "csv")
CHUNK_ROWS = 10_000  # rows per piece of a streamed CSV answer


def wants_csv() -> bool:
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise FilterError("format", fmt, f"must be one of {', '.join(FORMATS)}")
    return fmt == "csv"


def chosen_table(tables: dict, default: str) -> str:
    """The `table` asked for, among `tables` (name -> DataFrame or None)."""
    name = request.args.get("table", default)
    available = [k for k, v in tables.items() if v is not None]
    if name not in available:
        raise FilterError("table", name, f"must be one of {', '.join(available)}")
    return name


def csv_response(frame: pd.DataFrame, name: str) -> Response:
    limit = int(current_app.config.get("PULSE_EXPORT_MAX_ROWS", MAX_EXPORT_ROWS))
    try:
        check_rows(name, frame, limit)
    except ExportTooLarge as error:
        response = jsonify({"status": "error", "error": str(error), **error.as_dict(), "limit": limit})
        response.status_code = 413
        return response
    frame = frame.replace([float("inf"), float("-inf")], float("nan"))  # as the JSON's null
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Response(stream_with_context(csv_chunks(frame)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="pulse-{name}.csv"',
                             "X-Pulse-Rows": str(len(frame))})


def csv_chunks(frame: pd.DataFrame, rows: int = CHUNK_ROWS, date_format: str | None = None):
    """The CSV in pieces of `rows` rows, header first: the answer starts at once and the server never holds
    the whole text of a large table (only the table itself, as the query function returned it).
    `date_format`: how time columns are written (None: pandas' default)."""
    yield frame.iloc[:0].to_csv(index=False)
    for start in range(0, len(frame), rows):
        yield frame.iloc[start:start + rows].to_csv(index=False, header=False, date_format=date_format)


def csv_of(tables: dict, default: str) -> Response:
    name = chosen_table(tables, default)
    return csv_response(tables[name], name)
