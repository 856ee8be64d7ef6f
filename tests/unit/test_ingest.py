"""The ingest API in process (Flask test client) over a real DuckDB file and the real writer."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from app import create_app
from data.warehouse import Warehouse

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def pulse(tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_INGEST_KEYS", f"another-key,{KEY}")
    wh = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")
    app = create_app(wh, data_dir=tmp_path)
    yield app.server.test_client(), wh
    app.server.extensions["pulse.writer"].stop()
    wh.dispose()


def event(n: int, **fields) -> dict:
    row = {"event_id": f"ev-{n}", "ts": (NOW - timedelta(minutes=n % 50)).isoformat(), "type": "page_view",
           "user_id": f"u{n % 7}", "session_id": f"s{n % 11}", "channel": "email", "device": "mobile",
           "region": "DE", "page": "/"}
    row.update(fields)
    return {k: v for k, v in row.items() if v is not None}


def post(client, path, rows, content_type="application/json", headers=AUTH):
    data = rows if isinstance(rows, (bytes, str)) else json.dumps(rows)
    return client.post(path, data=data, headers={**headers, "Content-Type": content_type})


def snapshot(wh: Warehouse) -> tuple:
    """Every row of every table the API writes, as an order-independent fingerprint."""
    with wh.driver_connection() as conn:
        return tuple(conn.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchone()
                     for table in ("events", "ad_spend", "channels"))


def stored_events(wh: Warehouse):
    with wh.driver_connection() as conn:
        return conn.execute("SELECT * FROM events ORDER BY event_id").df()


def test_accepts_a_batch_and_counts_duplicates(pulse):
    client, wh = pulse
    rows = [event(i) for i in range(5)]
    response = post(client, "/api/v1/events", rows)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["inserted"] == 5 and response.get_json()["duplicates"] == 0
    again = post(client, "/api/v1/events", rows[3:] + [event(5), event(5)])  # 2 re-sent, 1 new sent twice
    assert again.get_json()["inserted"] == 1 and again.get_json()["duplicates"] == 3
    stored = stored_events(wh)
    assert list(stored.event_id) == [f"ev-{i}" for i in range(6)]
    first = stored.iloc[0]
    assert first.ts == pd_ts(rows[0]["ts"]) and first.channel == "email" and first.campaign == "(none)"


def pd_ts(iso: str):
    import pandas as pd
    return pd.Timestamp(datetime.fromisoformat(iso).astimezone(timezone.utc).replace(tzinfo=None))


def test_accepts_ndjson_and_converts_offsets_to_utc(pulse):
    client, wh = pulse
    local = (NOW - timedelta(hours=1)).astimezone(timezone(timedelta(hours=8)))
    lines = "\n".join(json.dumps(event(i, ts=local.isoformat())) for i in range(3)) + "\n"
    response = post(client, "/api/v1/events", lines, content_type="application/x-ndjson")
    assert response.status_code == 200 and response.get_json()["inserted"] == 3
    stored = stored_events(wh)
    assert (stored.ts == pd_ts(local.isoformat())).all()
    assert pd_ts(local.isoformat()).hour == (NOW - timedelta(hours=1)).hour  # stored as UTC wall time


# Hand-checked against GA4's default channel grouping.
CHANNEL_CASES = [
    ({}, "direct"),
    ({"referrer": "https://www.google.com/search?q=shoes"}, "organic_search"),
    ({"referrer": "https://m.facebook.com/"}, "organic_social"),
    ({"referrer": "https://blog.example.org/best-shoes"}, "referral"),
    ({"utm_source": "google", "utm_medium": "cpc"}, "paid_search"),
    ({"utm_source": "baidu", "utm_medium": "ppc"}, "paid_search"),
    ({"utm_source": "facebook", "utm_medium": "paid_social"}, "paid_social"),
    ({"utm_source": "tiktok", "utm_medium": "cpm"}, "paid_social"),
    ({"utm_source": "youtube", "utm_medium": "cpv"}, "video"),
    ({"utm_source": "dsp", "utm_medium": "display"}, "display"),
    ({"utm_source": "awin", "utm_medium": "affiliate"}, "affiliate"),
    ({"utm_source": "newsletter", "utm_medium": "email"}, "email"),
    ({"utm_source": "bing", "utm_medium": "organic"}, "organic_search"),
    ({"utm_source": "instagram", "utm_medium": "social"}, "organic_social"),
    ({"utm_source": "partner", "utm_medium": "referral"}, "referral"),
    ({"utm_source": "mystery", "utm_medium": "cpc"}, "unassigned"),
    ({"utm_source": "mystery", "utm_medium": "carrier-pigeon"}, "unassigned"),
]


def test_derives_the_channel_from_utm_tags_and_referrer(pulse):
    client, wh = pulse
    rows = [event(i, channel=None, utm_campaign="autumn" if i == 4 else None, **tags)
            for i, (tags, _) in enumerate(CHANNEL_CASES)]
    assert post(client, "/api/v1/events", rows).status_code == 200
    stored = stored_events(wh).set_index("event_id")
    for i, (tags, expected) in enumerate(CHANNEL_CASES):
        assert stored.loc[f"ev-{i}", "channel"] == expected, tags
    assert stored.loc["ev-4", "campaign"] == "autumn"


BAD_ROWS = [
    ({"event_id": None}, "event_id", None),
    ({"ts": "2026-11-01 10:00"}, "ts", "2026-11-01 10:00"),  # no offset
    ({"ts": (NOW + timedelta(hours=1)).isoformat()}, "ts", None),
    ({"ts": (NOW - timedelta(days=401)).isoformat()}, "ts", None),
    ({"type": "purchased"}, "type", "purchased"),
    ({"channel": "carrier_pigeon"}, "channel", "carrier_pigeon"),
    ({"device": "fridge"}, "device", "fridge"),
    ({"type": "purchase", "revenue": 10.0}, "order_id", None),
    ({"type": "purchase", "order_id": "o1", "revenue": -5}, "revenue", -5),
    ({"experiment": "checkout_redesign"}, "variant", None),
    ({"colour": "blue"}, "colour", "blue"),
]


@pytest.mark.parametrize("change,field,value", BAD_ROWS)
def test_an_invalid_row_rejects_the_batch_and_names_it(pulse, change, field, value):
    client, wh = pulse
    post(client, "/api/v1/events", [event(100)])
    before = snapshot(wh)
    rows = [event(1), event(2), event(3, **change)]
    response = post(client, "/api/v1/events", rows)
    assert response.status_code == 422
    problems = response.get_json()["problems"]
    assert any(p["row"] == 2 and p["field"] == field for p in problems), problems
    if value is not None:
        assert any(p["value"] == value for p in problems)
    assert snapshot(wh) == before


@pytest.mark.parametrize("headers,status", [({}, 401), ({"Authorization": "Bearer wrong"}, 401),
                                            ({"Authorization": f"Basic {KEY}"}, 401)])
def test_a_missing_or_wrong_key_is_401(pulse, headers, status):
    client, wh = pulse
    before = snapshot(wh)
    response = post(client, "/api/v1/events", [event(1)], headers=headers)
    assert response.status_code == status and "WWW-Authenticate" in response.headers
    assert snapshot(wh) == before


def test_wrong_content_type_is_415_and_oversize_is_413(pulse):
    client, wh = pulse
    before = snapshot(wh)
    assert post(client, "/api/v1/events", json.dumps([event(1)]), content_type="text/plain").status_code == 415
    too_many = [event(i) for i in range(10_001)]
    assert post(client, "/api/v1/events", too_many).status_code == 413
    huge = json.dumps([event(1, page="/" + "x" * 2000) for _ in range(3000)])  # over 5 MB
    assert len(huge) > 5 * 1024 * 1024
    assert post(client, "/api/v1/events", huge).status_code == 413
    for broken in ("{not json", json.dumps({"rows": []}), "[1, 2]"):
        assert post(client, "/api/v1/events", broken).status_code == 422
    assert post(client, "/api/v1/events", '{"a": 1}\nnot json\n', "application/x-ndjson").status_code == 422
    assert snapshot(wh) == before


def test_spend_hourly_daily_and_restated(pulse):
    client, wh = pulse
    hour = (NOW - timedelta(hours=3)).replace(minute=0, second=0)
    day = (NOW - timedelta(days=2)).date()
    rows = [{"ts": hour.isoformat(), "channel": "paid_search", "campaign": "brand", "impressions": 1000,
             "clicks": 50, "cost": 42.5},
            {"date": day.isoformat(), "channel": "display", "impressions": 1000, "clicks": 30, "cost": 240.0}]
    response = post(client, "/api/v1/spend", rows)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ok", "rows": 25, "inserted": 25, "updated": 0}
    with wh.driver_connection() as conn:
        daily = conn.execute("SELECT count(*), sum(impressions), sum(clicks), sum(cost), min(ts), max(ts) "
                             "FROM ad_spend WHERE channel = 'display'").fetchone()
    assert daily[:4] == (24, 1000, 30, pytest.approx(240.0))
    assert (daily[4], daily[5]) == (datetime(day.year, day.month, day.day),
                                    datetime(day.year, day.month, day.day, 23))
    restated = post(client, "/api/v1/spend", [{**rows[0], "cost": 50.0}])
    assert restated.get_json()["updated"] == 1
    with wh.driver_connection() as conn:
        assert conn.execute("SELECT cost FROM ad_spend WHERE channel = 'paid_search'").fetchall() == [(50.0,)]


@pytest.mark.parametrize("row,field", [
    ({"ts": "2026-11-20T10:30:00+00:00", "channel": "paid_search", "cost": 1}, "ts"),
    ({"channel": "paid_search", "cost": 1}, "date"),
    ({"ts": "2026-11-20T10:00:00+00:00", "date": "2026-11-20", "channel": "paid_search", "cost": 1}, "date"),
    ({"date": "2026-11-20", "channel": "email", "cost": 1}, "channel"),
    ({"date": "2026-11-20", "channel": "display", "cost": "lots"}, "cost"),
    ({"date": "2026-11-20", "channel": "display", "cost": 1, "clicks": -1}, "clicks"),
])
def test_bad_spend_is_422_and_writes_nothing(pulse, row, field):
    client, wh = pulse
    before = snapshot(wh)
    response = post(client, "/api/v1/spend", [row])
    assert response.status_code == 422
    assert any(p["field"] == field for p in response.get_json()["problems"]), response.get_json()
    assert snapshot(wh) == before


def test_ingested_events_show_in_the_kpis_as_soon_as_acknowledged(pulse):
    client, wh = pulse
    session = [event(1, session_id="live-1", ts=(NOW - timedelta(minutes=2)).isoformat()),
               event(2, session_id="live-1", type="purchase", order_id="o-1", revenue=99.5,
                     ts=(NOW - timedelta(minutes=1)).isoformat())]
    before = client.get("/api/v1/kpis?from=now-15m&to=now%2B1m&channel=email").get_json()["kpis"]
    assert post(client, "/api/v1/events", session).status_code == 200
    after = client.get("/api/v1/kpis?from=now-15m&to=now%2B1m&channel=email").get_json()["kpis"]
    assert after["sessions"]["value"] == before["sessions"]["value"] + 1
    assert after["orders"]["value"] == before["orders"]["value"] + 1
    assert after["revenue"]["value"] == pytest.approx(before["revenue"]["value"] + 99.5)


def test_health_reports_ingest_rate_and_queue(pulse):
    client, _ = pulse
    post(client, "/api/v1/events", [event(i) for i in range(30)])
    body = client.get("/api/v1/health").get_json()
    assert body["events_per_second_last_minute"] == pytest.approx(30 / 60, abs=1e-3)
    assert body["writer_queue_depth"] == 0
    assert body["row_counts"]["events"] == 30
