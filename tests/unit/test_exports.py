"""Exports: `format=csv` on the JSON twins (the JSON's rows, as CSV), the export row limit, the view tables and
workbooks behind the pages' export menus, and /api/v1/export that the menus download from, in process (Flask's
test client, the real warehouse)."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from app import create_app
from api.workbook import sheet_name, xlsx_bytes
from queries.view_tables import MAX_EXPORT_ROWS, view_tables
from tests import reference
from tests.access_fixtures import table_counts
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


# -- /api/v1/export: the page menus' files ---------------------------------------------------------------

EXPORT = "/api/v1/export?view=monitoring&format=csv&table="
TWO_DAYS = (datetime(2026, 11, 18), datetime(2026, 11, 20))  # RANGE: hourly buckets, as the page draws them


def test_the_menus_csv_is_streamed_with_the_raw_revenue_per_hour_and_channel(client, raw):
    query = RANGE + "&channel=email,direct&compare=none"
    response = client.get(EXPORT + "revenue&" + query, buffered=False)
    assert response.status_code == 200 and response.is_streamed and response.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="pulse-monitoring-revenue-\d{8}-\d{6}\.csv"',
                        response.headers["Content-Disposition"])
    pieces = [p if isinstance(p, bytes) else p.encode() for p in response.response]
    assert len(pieces) >= 2  # the header on its own, then the rows
    table = pd.read_csv(io.StringIO(b"".join(pieces).decode()))
    assert list(table.columns) == ["Bucket start (UTC)", "Channel", "Revenue ($)"]
    assert response.headers["X-Pulse-Rows"] == str(len(table))
    # pandas over the raw events: purchases of email and direct sessions, by hour and session channel
    events = reference.scoped(raw["events"], *TWO_DAYS, channel=("email", "direct"))
    purchases = events[events.type == "purchase"]
    labels = raw["channels"].set_index("name").label
    want = purchases.groupby([purchases.ts.dt.floor("h"), purchases.session_channel.map(labels)]).revenue.sum()
    got = table.assign(hour=pd.to_datetime(table["Bucket start (UTC)"])).groupby(["hour", "Channel"])["Revenue ($)"].sum()
    assert sorted(table.Channel.unique()) == sorted(labels[["email", "direct"]])
    assert set(want.index) <= set(got.index) and len(want) > 20
    both = pd.concat([got.rename("got"), want.rename("want")], axis=1).fillna(0)
    assert ((both.got - both.want).abs() < 1e-6).all()
    assert pd.to_datetime(table["Bucket start (UTC)"]).min() == pd.Timestamp(TWO_DAYS[0])


def test_the_menus_workbooks_have_a_cover_and_a_length(client, raw):
    query = RANGE + "&channel=paid_search"
    response = client.get(EXPORT.replace("csv", "xlsx") + "campaigns&" + query)
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert int(response.headers["Content-Length"]) == len(response.data) > 0
    sheets = pd.read_excel(io.BytesIO(response.data), sheet_name=None)
    assert list(sheets) == ["About this export", "Top campaigns"]
    cover = dict(sheets["About this export"].values)
    assert cover["View"] == "Monitoring" and cover["Channel"] == "paid_search"
    sessions = reference.counted_sessions(raw["events"], *TWO_DAYS, channel=("paid_search",))
    got = sheets["Top campaigns"].set_index("Campaign")["Sessions"]
    want = sessions.groupby("campaign").size()
    assert len(got) > 2 and all(got[c] == want[c] for c in got.index)

    whole = client.get("/api/v1/export?view=funnel&table=*&format=xlsx&" + RANGE)
    assert whole.status_code == 200
    assert re.search(r'filename="pulse-funnel-\d{8}-\d{6}\.xlsx"', whole.headers["Content-Disposition"])
    names = list(pd.read_excel(io.BytesIO(whole.data), sheet_name=None))
    assert names == ["About this export", "Steps", "Conversion by entry time", "Time to convert",
                     "Time to convert, histogram"]


def test_check_answers_the_row_counts_without_a_file(client, raw):
    answer = client.get(EXPORT + "kpis&check=1&" + RANGE)
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.get_json()["rows"] == {"kpis": 13}  # the 13 KPIs of docs/metrics.md, one row each
    assert answer.get_json()["file"].startswith("pulse-monitoring-kpis-")


def test_the_menus_endpoint_refuses_over_the_limit_and_bad_input_by_name(warehouse):
    app = create_app(warehouse)
    app.server.config["PULSE_EXPORT_MAX_ROWS"] = 12
    client = app.server.test_client()
    before = table_counts(warehouse)
    for url in (EXPORT + "kpis&" + RANGE, EXPORT + "kpis&check=1&" + RANGE):
        over = client.get(url)
        assert over.status_code == 413
        body = over.get_json()
        assert body["table"] == "KPIs" and body["field"] == "rows" and body["value"] == 13 and body["limit"] == 12
        assert "'KPIs' has 13 rows, over the export limit of 12 rows" in body["error"] and "narrow" in body["problem"]
    bad = {"/api/v1/export?view=nowhere&table=kpis&format=csv": ("view", "nowhere"),
           "/api/v1/export?table=kpis&format=csv": ("view", None),
           EXPORT.replace("csv", "docx") + "kpis": ("format", "docx"),
           "/api/v1/export?view=monitoring&table=*&format=csv": ("format", "csv"),
           EXPORT + "nope&" + RANGE: ("table", "nope"),
           EXPORT + "kpis&from=yesterday-ish": ("from", "yesterday-ish"),
           EXPORT + "kpis&" + RANGE + "&compare=sideways": ("compare", "sideways")}
    for url, (field, value) in bad.items():
        answer = client.get(url)
        assert answer.status_code == 400, (url, answer.get_data(as_text=True))
        body = answer.get_json()
        assert body["field"] == field and str(value) in str(body["value"]), (url, body)
        assert f"{field}=" in body["error"], body
    assert "campaigns" in client.get(EXPORT + "nope&" + RANGE).get_json()["problem"]  # the tables it has
    assert table_counts(warehouse) == before
