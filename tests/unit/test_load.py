"""The bulk import CLI (`python -m data.load`): real files in tmp_path, a real DuckDB file, and for imports
through the server a real server on a local port."""
from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from app import announced, create_app
from data.load import main
from data.warehouse import Warehouse

KEY = "load-test-key-0123456789"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY = (NOW - timedelta(days=3)).date()          # a whole UTC day inside the accepted window
DAY2 = DAY + timedelta(days=1)
HOUR = (NOW - timedelta(hours=5)).replace(minute=0, second=0)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_INGEST_KEYS", KEY)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    return tmp_path


@pytest.fixture
def wh(data_dir):
    warehouse = Warehouse.open(data_dir)
    warehouse.engine  # noqa: B018 - create the file and its schema
    warehouse.dispose()
    yield warehouse
    warehouse.dispose()


def load(data_dir, *args) -> int:
    return main([*map(str, args), "--data-dir", str(data_dir), "--no-progress"])


def snapshot(wh: Warehouse) -> tuple:
    """Every row of every table an import writes, as an order-independent fingerprint."""
    with wh.driver_connection() as conn:
        fingerprint = tuple(conn.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchone()
                            for table in ("events", "ad_spend", "mmm_datasets", "mmm_observations"))
    wh.dispose()
    return fingerprint


def query(wh: Warehouse, sql: str) -> pd.DataFrame:
    with wh.driver_connection() as conn:
        frame = conn.execute(sql).df()
    wh.dispose()
    return frame


def events_frame(n: int = 40) -> pd.DataFrame:
    local = timezone(timedelta(hours=2))
    rows = []
    for i in range(n):
        purchase = i % 10 == 9
        rows.append({"event_id": f"ev-{i:03d}", "ts": (NOW - timedelta(minutes=3 * i)).astimezone(local).isoformat(),
                     "type": "purchase" if purchase else "page_view", "user_id": f"u{i % 7}",
                     "session_id": f"s{i % 11}", "channel": "email" if i % 3 else None,
                     "utm_source": None if i % 3 else "google", "utm_medium": None if i % 3 else "cpc",
                     "device": "mobile", "region": "DE", "page": f"/product/{i}",
                     "revenue": 19.5 + i if purchase else None, "order_id": f"o-{i}" if purchase else None})
    return pd.DataFrame(rows)


def write_events(frame: pd.DataFrame, path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.assign(ts=pd.to_datetime(frame.ts, format="ISO8601")).to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps({k: v for k, v in r.items() if pd.notna(v)}) + "\n"
                                for r in frame.to_dict("records")))


def read_independently(path) -> pd.DataFrame:
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_json(path, lines=True, dtype=False)
    frame["ts"] = pd.to_datetime(frame.ts, utc=True, format="ISO8601").dt.tz_convert(None)
    return frame.sort_values("event_id").reset_index(drop=True)


# -- events, directly into the warehouse ---------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".ndjson"])
def test_events_file_is_imported_as_it_is_in_the_file(data_dir, wh, capsys, suffix):
    path = data_dir / f"events{suffix}"
    write_events(events_frame(), path)
    assert load(data_dir, "events", path) == 0, capsys.readouterr().err
    assert "40 rows read, 40 inserted, 0 duplicates" in capsys.readouterr().out
    expected = read_independently(path)
    stored = query(wh, "SELECT * FROM events ORDER BY event_id")
    assert list(stored.event_id) == list(expected.event_id)
    assert (stored.ts.astype("datetime64[us]") == expected.ts.astype("datetime64[us]")).all()
    for column in ("type", "user_id", "session_id", "device", "region", "page", "order_id"):
        assert list(stored[column].fillna("")) == list(expected[column].fillna("")), column
    assert stored.revenue.fillna(-1).tolist() == pytest.approx(expected.revenue.fillna(-1).tolist())
    assert list(stored.channel) == [c if isinstance(c, str) else "paid_search" for c in expected.channel]

    assert load(data_dir, "events", path) == 0  # the same file again: all duplicates, nothing changes
    assert "40 rows read, 0 inserted, 40 duplicates" in capsys.readouterr().out
    assert query(wh, "SELECT count(*) AS n FROM events").n[0] == 40


BAD_EVENTS = [  # (change to one row, field, value shown)
    ({"type": "purchased"}, "type", "purchased"),
    ({"ts": "2026-11-01 10:00:00"}, "ts", "2026-11-01 10:00:00"),   # naive: rejected as the API does
    ({"channel": "carrier_pigeon"}, "channel", "carrier_pigeon"),
    ({"type": "purchase", "order_id": "o-x", "revenue": "-5"}, "revenue", "-5"),
]


@pytest.mark.parametrize("change,field,value", BAD_EVENTS)
def test_a_bad_row_in_the_middle_names_its_line_and_writes_nothing(data_dir, wh, capsys, change, field, value):
    frame = events_frame(30).astype(object)
    frame.loc[3, "page"] = "/search?q=two\nlines"      # a quoted cell spanning two lines of the file
    for column, new in change.items():
        frame.loc[14, column] = new
    path = data_dir / "events.csv"
    frame.to_csv(path, index=False)
    before = snapshot(wh)
    assert load(data_dir, "events", path) == 1
    err = capsys.readouterr().err
    # header = line 1, row 0 = line 2, row 3 takes lines 5-6, so row 14 is on line 17
    assert f"line 17: {field}={value}:" in err, err
    assert "nothing was written" in err
    assert snapshot(wh) == before


def test_every_problem_is_reported_and_ndjson_lines_count_blank_lines(data_dir, wh, capsys):
    lines = [json.dumps(r) for r in events_frame(5).drop(columns=["utm_source", "utm_medium"])
             .assign(channel="email").to_dict("records")]
    lines[1] = lines[1].replace('"page_view"', '"teleport"')
    lines.insert(3, "")
    lines.insert(4, "{not json")
    lines.append(json.dumps({"event_id": "x", "colour": "blue"}))
    (data_dir / "e.ndjson").write_text("\n".join(lines) + "\n")
    before = snapshot(wh)
    assert load(data_dir, "events", data_dir / "e.ndjson") == 1
    err = capsys.readouterr().err
    assert "line 2: type=teleport:" in err and "line 5: {not json: not JSON" in err
    assert "line 8: colour=blue:" in err and "line 8: ts=(missing): Field required" in err
    assert snapshot(wh) == before


def test_unknown_and_missing_columns_are_reported_once(data_dir, wh, capsys):
    events_frame(3).rename(columns={"user_id": "visitor"}).to_csv(data_dir / "e.csv", index=False)
    assert load(data_dir, "events", data_dir / "e.csv") == 1
    err = capsys.readouterr().err
    assert "line 1: visitor=visitor: unknown column" in err and "line 1: user_id=(missing): required column" in err
    assert err.count("\n") == 3


@pytest.mark.parametrize("name,content,message", [
    ("e.xlsx", b"PK\x03\x04", "cannot tell the format"),
    ("e.parquet", b"not parquet at all", "not a readable Parquet file"),
    ("e.csv", b"\xff\xff\xc3\x28,b\nx,y\n", "not UTF-8"),
    ("missing.csv", None, "no such file"),
])
def test_unreadable_files_exit_2_with_a_clear_message(data_dir, wh, capsys, name, content, message):
    if content is not None:
        (data_dir / name).write_bytes(content)
    assert load(data_dir, "events", data_dir / name) == 2
    assert message in capsys.readouterr().err


# -- spend ---------------------------------------------------------------------------------------------
def spend_rows(wh: Warehouse) -> pd.DataFrame:
    return query(wh, "SELECT * FROM ad_spend ORDER BY channel, campaign, ts")


def test_generic_spend_hourly_and_daily_and_restated(data_dir, wh, capsys):
    (data_dir / "spend.csv").write_text(
        "ts,date,channel,campaign,impressions,clicks,cost\n"
        f"{HOUR.isoformat()},,paid_search,brand,1000,50,42.5\n"
        f",{DAY},display,retargeting,2400,48,240\n")
    assert load(data_dir, "spend", data_dir / "spend.csv") == 0, capsys.readouterr().err
    assert "2 rows read, 25 hourly rows: 25 inserted, 0 updated" in capsys.readouterr().out
    stored = spend_rows(wh)
    display = stored[stored.channel == "display"]
    assert len(display) == 24 and display.cost.tolist() == pytest.approx([10.0] * 24)
    assert display.impressions.sum() == 2400 and display.clicks.sum() == 48
    assert display.ts.min() == pd.Timestamp(DAY) and display.ts.max() == pd.Timestamp(DAY) + pd.Timedelta(hours=23)
    assert load(data_dir, "spend", data_dir / "spend.csv") == 0
    assert "0 inserted, 25 updated" in capsys.readouterr().out


def test_generic_spend_for_the_same_hour_twice_names_both_lines(data_dir, wh, capsys):
    (data_dir / "spend.csv").write_text(
        "date,channel,campaign,cost\n"
        f"{DAY},display,a,10\n{DAY2},display,a,10\n{DAY},display,a,12\n")
    before = snapshot(wh)
    assert load(data_dir, "spend", data_dir / "spend.csv") == 1
    err = capsys.readouterr().err
    assert f"line 2: ts={DAY} 00:00: another row" in err and f"line 4: ts={DAY} 00:00" in err
    assert "line 3" not in err
    assert snapshot(wh) == before


def google_ads_export() -> str:
    return (
        "Campaign report\n"
        f"\"{DAY:%B} {DAY.day}, {DAY.year} - {DAY2:%B} {DAY2.day}, {DAY2.year}\"\n"
        "Campaign,Campaign type,Day,Currency code,Impr.,Clicks,Cost\n"
        f"Brand - Exact,Search,{DAY},USD,\"12,000\",480,\"1,200.00\"\n"
        f"Brand - Exact,Search,{DAY2},USD,\"6,000\",240,600.00\n"
        f"Brand - Exact,Search,{DAY2},USD,\"6,000\",240,600.00\n"      # a second segment of the same day
        f"YouTube Launch,Video,{DAY:%b} {DAY.day}, {DAY.year},USD,\"24,000\",--,$480.00\n".replace(
            f"{DAY:%b} {DAY.day}, {DAY.year}", f"\"{DAY:%b} {DAY.day}, {DAY.year}\"")
        + "Total: Campaigns,,,USD,\"48,000\",960,\"2,880.00\"\n")


def meta_ads_export() -> str:
    return ("\ufeffReporting starts,Reporting ends,Campaign name,Impressions,Link clicks,Amount spent (EUR)\n"
            f"{DAY},{DAY},Autumn Retargeting,9600,,\"1.234,56\"\n"
            f"{DAY2},{DAY2},Autumn Retargeting,4800,96,\"€ 240.00\"\n")


def tiktok_ads_export() -> str:
    return ("By Day\tCampaign name\tImpression\tClicks\tCost\n"
            f"{DAY} 00:00:00\tSpring Creators\t24,000\t240\t48.00\n")


@pytest.mark.parametrize("fmt,text,expected", [
    # (channel, campaign) -> (days, impressions, clicks, cost) summed over the file
    ("google_ads", google_ads_export(), {("paid_search", "Brand - Exact"): (2, 24000, 960, 2400.0),
                                        ("video", "YouTube Launch"): (1, 24000, 0, 480.0)}),
    ("meta_ads", meta_ads_export(), {("paid_social", "Autumn Retargeting"): (2, 14400, 96, 1474.56)}),
    ("tiktok_ads", tiktok_ads_export(), {("paid_social", "Spring Creators"): (1, 24000, 240, 48.0)}),
])
def test_ad_platform_exports_become_hourly_spend(data_dir, wh, capsys, fmt, text, expected):
    path = data_dir / ("export.tsv" if fmt == "tiktok_ads" else "export.csv")
    path.write_text(text)
    assert load(data_dir, "spend", path, "--format", fmt) == 0, capsys.readouterr().err
    stored = spend_rows(wh)
    for (channel, campaign), (days, impressions, clicks, cost) in expected.items():
        rows = stored[(stored.channel == channel) & (stored.campaign == campaign)]
        assert len(rows) == 24 * days, (channel, campaign)
        assert (rows.impressions.sum(), rows.clicks.sum()) == (impressions, clicks)
        assert rows.cost.sum() == pytest.approx(cost)
        first_day = rows[rows.ts.dt.date == DAY]
        assert first_day.cost.nunique() == 1  # a day's cost spread evenly: cost / 24 each hour
    assert len(stored) == 24 * sum(v[0] for v in expected.values())


def test_google_ads_hourly_export_and_bad_values_name_the_export_column(data_dir, wh, capsys):
    (data_dir / "g.csv").write_text(
        "Day,Hour of day,Campaign,Impr.,Clicks,Cost\n"
        f"{HOUR.date()},{HOUR.hour},Brand,100,5,2.50\n")
    assert load(data_dir, "spend", data_dir / "g.csv", "--format", "google_ads") == 0, capsys.readouterr().err
    assert spend_rows(wh)[["ts", "cost"]].values.tolist() == [[pd.Timestamp(HOUR.replace(tzinfo=None)), 2.5]]
    (data_dir / "g.csv").write_text("Day,Campaign,Impr.,Clicks,Cost\n"
                                    f"{DAY},Brand,100,5,lots\n{DAY},Other,100,5,1\n")
    before = snapshot(wh)
    assert load(data_dir, "spend", data_dir / "g.csv", "--format", "google_ads") == 1
    assert "line 2: Cost=lots:" in capsys.readouterr().err
    assert snapshot(wh) == before


def test_meta_rows_spanning_several_days_are_refused(data_dir, wh, capsys):
    (data_dir / "m.csv").write_text("Reporting starts,Reporting ends,Campaign name,Amount spent (USD)\n"
                                    f"{DAY},{DAY2},Autumn,100\n")
    assert load(data_dir, "spend", data_dir / "m.csv", "--format", "meta_ads") == 1
    assert "line 2: Reporting ends=" in capsys.readouterr().err


def test_a_file_that_is_not_the_platforms_export_exits_2(data_dir, wh, capsys):
    (data_dir / "x.csv").write_text("when,what,amount\n2026-11-01,a,1\n")
    assert load(data_dir, "spend", data_dir / "x.csv", "--format", "tiktok_ads") == 2
    assert "needs the columns" in capsys.readouterr().err


# -- media-mix datasets --------------------------------------------------------------------------------
MMM_ARGS = ("--name", "weekly_2025", "--date", "week", "--outcome", "revenue",
            "--spend", "tv_spend,search_spend,social_cost", "--controls", "promo")


def mmm_csv(weeks: int = 6, start: str = "2025-01-06", step: int = 7) -> str:
    first = datetime.fromisoformat(start)
    lines = ["week,revenue,tv_spend,search_spend,social_cost,promo,ignored"]
    for i in range(weeks):
        day = (first + timedelta(days=step * i)).date()
        lines.append(f"{day},{10000 + 100 * i},{500 + i},\"1,200\",{300.5 + i},{i % 2},x")
    return "\n".join(lines) + "\n"


def test_mmm_dataset_is_stored_and_replaced(data_dir, wh, capsys):
    (data_dir / "mmm.csv").write_text(mmm_csv())
    assert load(data_dir, "mmm", data_dir / "mmm.csv", *MMM_ARGS) == 0, capsys.readouterr().err
    assert "weekly dataset stored: 6 periods, 30 observations" in capsys.readouterr().out
    dataset = query(wh, "SELECT * FROM mmm_datasets").iloc[0]
    assert (dataset["name"], dataset.granularity, dataset.date_column, dataset.outcome) == \
        ("weekly_2025", "week", "week", "revenue")
    assert json.loads(dataset.spend_columns) == ["tv_spend", "search_spend", "social_cost"]
    assert json.loads(dataset.control_columns) == ["promo"] and dataset.rows == 6
    observations = query(wh, "SELECT * FROM mmm_observations ORDER BY period, variable")
    channels = observations[observations.role == "spend"].groupby("variable").channel.first().to_dict()
    assert channels == {"tv_spend": "tv", "search_spend": "search", "social_cost": "social"}
    assert observations[observations.role != "spend"].channel.isna().all()
    tv = observations[observations.variable == "tv_spend"]
    assert tv.value.tolist() == [500.0 + i for i in range(6)]
    assert observations[observations.variable == "search_spend"].value.eq(1200.0).all()

    (data_dir / "mmm.csv").write_text(mmm_csv(weeks=4, start="2025-03-03"))
    assert load(data_dir, "mmm", data_dir / "mmm.csv", *MMM_ARGS) == 0
    assert "weekly dataset replaced: 4 periods" in capsys.readouterr().out
    assert query(wh, "SELECT count(*) AS n, min(period) AS p FROM mmm_observations").values.tolist() == \
        [[20, pd.Timestamp("2025-03-03")]]
    assert query(wh, "SELECT count(*) AS n FROM mmm_datasets").n[0] == 1


def test_daily_mmm_parquet(data_dir, wh, capsys):
    frame = pd.DataFrame({"day": pd.date_range("2025-05-01", periods=10, freq="D"), "sales": range(10),
                          "tv": [1.0] * 10, "radio": [2.0] * 10})
    frame.to_parquet(data_dir / "d.parquet")
    assert load(data_dir, "mmm", data_dir / "d.parquet", "--name", "d", "--date", "day", "--outcome", "sales",
                "--spend", "tv,radio") == 0, capsys.readouterr().err
    assert query(wh, "SELECT granularity FROM mmm_datasets").granularity[0] == "day"


def with_line(text: str, line: int, new: str) -> str:
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("content,args,expected", [
    (with_line(mmm_csv(), 4, "2025-01-13,1,1,1,1,0,x"), MMM_ARGS, "line 4: week=2025-01-13: the same date"),
    (with_line(mmm_csv(), 5, "2025-01-27,1,-1,1,1,0,x"), MMM_ARGS, "line 5: tv_spend=-1: spend must be ≥ 0"),
    (with_line(mmm_csv(), 3, "2025-01-13,lots,1,1,1,0,x"), MMM_ARGS, "line 3: revenue=lots: is not a number"),
    (with_line(mmm_csv(), 6, "someday,1,1,1,1,0,x"), MMM_ARGS, "line 6: week=someday: is not a date"),
    (with_line(mmm_csv(), 3, "2025-01-13,1,,1,1,0,x"), MMM_ARGS, "line 3: tv_spend=(missing): is missing"),
    (mmm_csv(step=8), MMM_ARGS, "line 3: week=2025-01-14: is 8 days after the previous date"),
    (mmm_csv(), ("--name", "n", "--date", "week", "--outcome", "revenue", "--spend", "tv_spend,radio_spend"),
     "line 1: radio_spend=(missing): no such column"),
    (mmm_csv(), ("--name", "n", "--date", "week", "--outcome", "revenue", "--spend", "tv_spend"),
     "spend=tv_spend: give at least 2 spend columns"),
    (mmm_csv(weeks=1), MMM_ARGS, "needs at least 2 rows"),
])
def test_bad_mmm_files_are_rejected_with_line_numbers(data_dir, wh, capsys, content, args, expected):
    (data_dir / "mmm.csv").write_text(content)
    before = snapshot(wh)
    assert load(data_dir, "mmm", data_dir / "mmm.csv", *args) == 1
    assert expected in capsys.readouterr().err
    assert snapshot(wh) == before


# -- through the running server -------------------------------------------------------------------------
class QuietHandler(WSGIRequestHandler):
    def log(self, *args) -> None:  # no request log on the (captured) stderr
        pass


@pytest.fixture
def server(data_dir):
    warehouse = Warehouse.open(data_dir)
    app = create_app(warehouse, data_dir=data_dir)
    http = make_server("127.0.0.1", 0, app.server, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    with announced(data_dir, "127.0.0.1", http.server_port):
        yield warehouse, app
    http.shutdown()
    thread.join(5)
    app.server.extensions["pulse.writer"].stop()
    warehouse.dispose()


def stages(data_dir) -> list:
    root = data_dir / "imports"
    return list(root.iterdir()) if root.exists() else []


def test_events_go_through_the_running_server(data_dir, server, capsys):
    warehouse, app = server
    path = data_dir / "events.parquet"
    write_events(events_frame(), path)
    assert load(data_dir, "events", path) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "40 inserted" in out and "through the server at http://127.0.0.1:" in out
    assert app.server.extensions["pulse.writer"].last_commit is not None  # the server's writer wrote them
    stored = warehouse.read("SELECT event_id, ts FROM events ORDER BY event_id")
    expected = read_independently(path)
    assert list(stored.event_id) == list(expected.event_id)
    assert (pd.to_datetime(stored.ts) == expected.ts).all()
    assert stages(data_dir) == []


def test_a_bad_file_through_the_server_writes_nothing_and_deletes_the_stage(data_dir, server, capsys,
                                                                           monkeypatch):
    warehouse, _ = server
    monkeypatch.setattr("data.load.CHUNK_ROWS", 10)  # several batches: problems mapped back across them
    frame = events_frame(40).astype(object)
    frame.loc[25, "device"] = "fridge"
    frame.to_csv(data_dir / "e.csv", index=False)
    before = snapshot(warehouse)
    assert load(data_dir, "events", data_dir / "e.csv") == 1
    assert "line 27: device=fridge:" in capsys.readouterr().err
    assert snapshot(warehouse) == before and stages(data_dir) == []


def test_duplicate_hours_across_batches_are_found_at_commit(data_dir, server, capsys, monkeypatch):
    warehouse, _ = server
    monkeypatch.setattr("data.load.CHUNK_ROWS", 2)
    (data_dir / "s.csv").write_text("date,channel,campaign,cost\n"
                                    f"{DAY},display,a,1\n{DAY2},display,a,1\n{DAY},display,b,1\n{DAY},display,a,2\n")
    before = snapshot(warehouse)
    assert load(data_dir, "spend", data_dir / "s.csv") == 1
    err = capsys.readouterr().err
    assert "line 2: ts=" in err and "line 5: ts=" in err and "line 4" not in err
    assert snapshot(warehouse) == before and stages(data_dir) == []


def test_spend_and_mmm_through_the_server(data_dir, server, capsys):
    warehouse, _ = server
    (data_dir / "g.csv").write_text(google_ads_export())
    assert load(data_dir, "spend", data_dir / "g.csv", "--format", "google_ads") == 0, capsys.readouterr().err
    assert warehouse.read("SELECT sum(cost) AS c FROM ad_spend").c[0] == pytest.approx(2880.0)
    (data_dir / "mmm.csv").write_text(mmm_csv())
    assert load(data_dir, "mmm", data_dir / "mmm.csv", *MMM_ARGS) == 0, capsys.readouterr().err
    assert "through the server" in capsys.readouterr().out
    assert warehouse.read("SELECT count(*) AS n FROM mmm_observations").n[0] == 30
    (data_dir / "mmm.csv").write_text(with_line(mmm_csv(), 4, "2025-01-13,1,1,1,1,0,x"))
    assert load(data_dir, "mmm", data_dir / "mmm.csv", *MMM_ARGS) == 1
    assert "line 4: week=2025-01-13: the same date" in capsys.readouterr().err
    assert warehouse.read("SELECT count(*) AS n FROM mmm_observations").n[0] == 30 and stages(data_dir) == []


def test_a_wrong_key_exits_2(data_dir, server, capsys):
    write_events(events_frame(3), data_dir / "e.csv")
    assert load(data_dir, "events", data_dir / "e.csv", "--key", "wrong") == 2
    assert "401" in capsys.readouterr().err


def test_stale_server_file_means_direct_mode(data_dir, wh, capsys):
    (data_dir / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 2**22 + 12345}))
    write_events(events_frame(3), data_dir / "e.csv")
    assert load(data_dir, "events", data_dir / "e.csv") == 0
    assert "directly" in capsys.readouterr().out


def test_import_api_needs_a_key_and_expires_abandoned_stages(data_dir, wh):
    app = create_app(wh, data_dir=data_dir)
    client = app.server.test_client()
    auth = {"Authorization": f"Bearer {KEY}"}
    assert client.post("/api/v1/imports", json={"kind": "events"}).status_code == 401
    assert client.post("/api/v1/imports", json={"kind": "orders"}, headers=auth).status_code == 422
    bad_mmm = client.post("/api/v1/imports", json={"kind": "mmm", "name": "x", "date": "d", "outcome": "y",
                                                   "spend": ["tv"]}, headers=auth)
    assert bad_mmm.status_code == 422 and bad_mmm.get_json()["problems"][0]["field"] == "spend"
    old = client.post("/api/v1/imports", json={"kind": "events"}, headers=auth).get_json()["id"]
    assert client.post(f"/api/v1/imports/{old}/rows", json=[{}] * 10_001, headers=auth).status_code == 413
    assert client.post(f"/api/v1/imports/{old}/rows", json=[{"event_id": "e"}],
                       headers=auth).get_json()["problems"][0]["row"] == 0
    assert client.post(f"/api/v1/imports/{old}/commit", headers={"Authorization": "Bearer x"}).status_code == 401
    past = time.time() - 2 * 3600
    os.utime(data_dir / "imports" / old, (past, past))
    fresh = client.post("/api/v1/imports", json={"kind": "spend"}, headers=auth).get_json()["id"]
    assert [p.name for p in stages(data_dir)] == [fresh]
    assert client.post(f"/api/v1/imports/{old}/commit", headers=auth).status_code == 404
    assert client.delete(f"/api/v1/imports/{fresh}", headers=auth).status_code == 200
    assert stages(data_dir) == []
    app.server.extensions["pulse.writer"].stop()
