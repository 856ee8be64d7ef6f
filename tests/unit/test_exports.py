"""Exports: `format=csv` on the JSON twins (the JSON's rows, as CSV), the export row limit, and the view
tables and workbooks behind the pages' export menus, in process (Flask's test client, the real warehouse)."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from app import create_app
from components.exports import sheet_name, xlsx_bytes
from queries.view_tables import MAX_EXPORT_ROWS, view_tables
from tests import reference
from tests.conftest import END

DOCS = Path(__file__).resolve().parents[2] / "docs"
RANGE = "from=2026-11-18T00:00:00Z&to=2026-11-20T00:00:00Z"
LO, HI = datetime(2026, 11, 18), datetime(2026, 11, 20)


@pytest.fixture(scope="module")
def client(warehouse):
    return create_app(warehouse).server.test_client()


def csv_of(client, url: str) -> pd.DataFrame:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return pd.read_csv(io.StringIO(response.get_data(as_text=True)))


def same_rows(table: pd.DataFrame, rows: list[dict]):
    """The CSV's rows are the JSON's: same columns, same values (numbers as numbers, null as empty; a
    relative 1e-6 for the pacing's plan to date, which moves with the clock between the two requests)."""
    expected = pd.DataFrame(rows)
    assert sorted(table.columns) == sorted(expected.columns)  # JSON objects' keys come sorted
    expected = expected[list(table.columns)]
    assert len(table) == len(expected) > 0
    for column in expected.columns:
        want, got = expected[column], table[column]
        if pd.api.types.is_numeric_dtype(got) and not pd.api.types.is_bool_dtype(got):
            assert pd.api.types.is_numeric_dtype(want.dropna()) or want.isna().all(), column
            close = (got - want.astype(float)).abs() <= 1e-9 + 1e-6 * want.astype(float).abs()
            assert (close | (got.isna() & want.isna())).all(), column
        else:
            assert [None if pd.isna(v) else str(v) for v in got] == \
                   [None if v is None else str(v) for v in want], column


def test_kpis_and_timeseries_as_csv_are_the_json_rows_and_the_reference(client, raw):
    query = RANGE + "&channel=email,direct&compare=none"
    kpis = csv_of(client, "/api/v1/kpis?format=csv&" + query)
    body = client.get("/api/v1/kpis?" + query).get_json()["kpis"]
    assert list(kpis.columns) == ["kpi", "value", "previous", "change"]
    assert sorted(kpis.kpi) == sorted(body)
    expected = reference.kpis(raw["events"], raw["ad_spend"], LO, HI, channel=("email", "direct"))
    values = kpis.set_index("kpi")["value"]
    for kpi in ("sessions", "users", "orders", "signups"):
        assert values[kpi] == expected[kpi] == body[kpi]["value"]
    assert abs(values["revenue"] - expected["revenue"]) < 1e-6

    series = csv_of(client, "/api/v1/timeseries?format=csv&step=hour&" + query)
    same_rows(series, client.get("/api/v1/timeseries?step=hour&" + query).get_json()["rows"])
    totals = series[series.channel == "(all)"]
    assert len(totals) == 48 and totals.sessions.sum() == expected["sessions"]
    assert totals.bucket.iloc[0] == "2026-11-18T00:00:00Z"


def test_funnel_experiment_and_budget_twins_answer_csv(client):
    funnel = "/api/v1/funnel?" + RANGE + "&steps=page_view,add_to_cart,purchase&breakdown=device"
    body = client.get(funnel).get_json()
    for table in ("steps", "breakdown", "trend", "times", "time_histogram"):
        same_rows(csv_of(client, f"{funnel}&format=csv&table={table}"), body[table])
    same_rows(csv_of(client, funnel + "&format=csv"), body["steps"])  # the default table

    experiment = "/api/v1/experiments/checkout_redesign?from=2026-10-20&to=2026-11-20"
    body = client.get(experiment).get_json()
    same_rows(csv_of(client, experiment + "&format=csv"), body["variants"])
    same_rows(csv_of(client, experiment + "&format=csv&table=funnel"), body["funnel"])

    channels = "/api/v1/budget/channels?from=2026-11-01&to=2026-11-20&attribution=linear"
    body = client.get(channels).get_json()
    for table in ("channels", "models", "ranks"):
        same_rows(csv_of(client, f"{channels}&format=csv&table={table}"), body[table])
    pacing = "/api/v1/budget/pacing"  # this month: its plan to date moves a little between the two calls
    same_rows(csv_of(client, pacing + "?format=csv"), client.get(pacing).get_json()["channels"])


def test_a_bad_format_or_table_names_the_field(client):
    bad = client.get("/api/v1/kpis?format=xml")
    assert bad.status_code == 400 and bad.get_json()["field"] == "format" and bad.get_json()["value"] == "xml"
    bad = client.get("/api/v1/funnel?format=csv&table=nope&" + RANGE)
    assert bad.status_code == 400 and bad.get_json()["field"] == "table"
    assert "steps" in bad.get_json()["problem"]


def test_an_export_over_the_row_limit_is_refused_with_a_clear_message(warehouse):
    app = create_app(warehouse)
    app.server.config["PULSE_EXPORT_MAX_ROWS"] = 20
    client = app.server.test_client()
    response = client.get("/api/v1/timeseries?format=csv&step=hour&" + RANGE)
    assert response.status_code == 413
    body = response.get_json()
    assert body["field"] == "rows" and body["value"] > 20 and body["limit"] == 20
    assert "over the export limit of 20 rows" in body["problem"] and "narrow" in body["problem"]
    assert client.get("/api/v1/kpis?format=csv&" + RANGE).status_code == 200  # 13 rows: under it


def test_a_large_csv_is_streamed_in_pieces_with_the_json_rows(client):
    """Five-minute buckets over a week, per channel: more rows than one piece holds."""
    from api.tabular import CHUNK_ROWS

    url = "/api/v1/timeseries?step=5min&from=2026-11-13T00:00:00Z&to=2026-11-20T00:00:00Z"
    rows = client.get(url).get_json()["rows"]
    assert len(rows) > CHUNK_ROWS  # else this would not test the pieces
    response = client.get(url + "&format=csv", buffered=False)
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["X-Pulse-Rows"] == str(len(rows))
    pieces = [piece for piece in response.response]
    assert len(pieces) == 1 + -(-len(rows) // CHUNK_ROWS)  # the header, then the rows in pieces
    body = b"".join(p if isinstance(p, bytes) else p.encode() for p in pieces).decode()
    same_rows(pd.read_csv(io.StringIO(body)), rows)


def test_the_row_limit_is_documented():
    text = (DOCS / "metrics.md").read_text()
    assert "## Exports" in text
    assert f"{MAX_EXPORT_ROWS:,}" in text and "PULSE_EXPORT_MAX_ROWS" in text
    readme = (DOCS.parent / "README.md").read_text()
    assert "format=csv" in readme and "PULSE_EXPORT_MAX_ROWS" in readme


def test_every_view_table_has_readable_columns_and_numbers(warehouse):
    now = END.replace(tzinfo=timezone.utc)
    queries = {"monitoring": "from=now-7d&to=now", "funnel": "from=now-7d&to=now&breakdown=device",
               "experiments": "from=2026-10-20&to=2026-11-20", "budget": "from=now-21d&to=now",
               "wall": "from=now/d&to=now"}
    for view, query in queries.items():
        tables = view_tables(view, warehouse, query, "Europe/Berlin", now)
        assert len(tables.tables) >= 2, view
        for table in tables.tables:
            assert len(table.frame) > 0, (view, table.key)
            for column in table.frame.columns:
                assert not re.fullmatch(r"[a-z_]+", column), (view, table.key, column)  # no machine names
            numbers = table.frame.select_dtypes("number")
            assert len(numbers.columns) > 0, (view, table.key)
        cover = dict(tables.cover().values)
        assert cover["View"] == view.capitalize() and cover["Time zone"] == "Europe/Berlin"
        assert cover["Exported at"].startswith("2026-11-20 15:37")  # 14:37 UTC in Berlin


def test_the_workbook_has_a_cover_and_one_sheet_per_table():
    sheets = [("About this export", pd.DataFrame({"Setting": ["View"], "Value": ["Monitoring"]})),
              ("Revenue by channel", pd.DataFrame({"Revenue ($)": [1.5, 2.25]})),
              ("Revenue by channel", pd.DataFrame({"Sessions": [3]})),
              ("A very long title: with / odd [characters] in it", pd.DataFrame({"x": [1]}))]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(sheets)))
    assert book.sheetnames == ["About this export", "Revenue by channel", "Revenue by channel (2)",
                               "A very long title  with   odd  c"[:31]]
    assert all(len(name) <= 31 for name in book.sheetnames)
    assert book["Revenue by channel"]["A2"].value == 1.5  # a number, not text
    assert sheet_name("x" * 40, set()) == "x" * 31


def test_the_report_endpoint_names_a_bad_view_or_format(client):
    bad = client.get("/api/v1/report?view=nowhere")
    assert bad.status_code == 400 and bad.get_json()["field"] == "view" and bad.get_json()["value"] == "nowhere"
    bad = client.get("/api/v1/report?view=funnel&format=docx")
    assert bad.status_code == 400 and bad.get_json()["field"] == "format"
