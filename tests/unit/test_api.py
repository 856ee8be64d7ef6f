"""The HTTP API, in process through Flask's test client."""
from app import create_app
from tests.conftest import count_rows


def test_health_reports_row_counts_and_newest_event(warehouse, raw):
    client = create_app(warehouse).server.test_client()
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    for table in ("events", "ad_spend", "channels", "campaigns", "budgets", "annotations"):
        assert body["row_counts"][table] == count_rows(warehouse, table) > 0
    with warehouse.driver_connection() as conn:
        newest = conn.execute("SELECT max(ts) FROM events").fetchone()[0]
    assert body["newest_event"] == newest.isoformat() + "Z"


def test_ping_says_how_fresh_the_data_is_for_kiosk_screens(warehouse, raw):
    body = create_app(warehouse).server.test_client().get("/api/v1/ping").get_json()
    assert body == {"status": "ok", "newest_event": raw["events"].ts.max().isoformat() + "Z", "timezone": "UTC"}


def test_pages_are_served(warehouse):
    client = create_app(warehouse).server.test_client()
    for path in ("/", "/funnel", "/budget"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"00-bootstrap-5.3.9.min.css" in response.data  # the theme comes from assets/, not a CDN
        assert b"cdn." not in response.data and b"unpkg" not in response.data


def test_json_twins_match_the_query_functions(warehouse, raw):
    """/api/v1/kpis and /api/v1/timeseries return what the page shows for the same query string; checked
    against the pandas reference for an absolute range (a relative one would move with the clock)."""
    from datetime import datetime
    from tests import reference
    client = create_app(warehouse).server.test_client()
    query = "from=2026-11-18T00:00:00Z&to=2026-11-20T00:00:00Z&channel=email,direct&compare=none"
    body = client.get("/api/v1/kpis?" + query).get_json()
    lo, hi = datetime(2026, 11, 18), datetime(2026, 11, 20)
    expected = reference.kpis(raw["events"], raw["ad_spend"], lo, hi, channel=("email", "direct"))
    for kpi in ("sessions", "users", "orders", "bounce_rate", "signups"):
        assert body["kpis"][kpi]["value"] == expected[kpi] or abs(body["kpis"][kpi]["value"] - expected[kpi]) < 1e-9
    series = client.get("/api/v1/timeseries?" + query + "&step=hour").get_json()["rows"]
    totals = [r for r in series if r["channel"] == "(all)"]
    assert len(totals) == 48 and sum(r["sessions"] for r in totals) == expected["sessions"]
    assert client.get("/api/v1/timeseries?" + query + "&step=week").status_code == 400
    bad = client.get("/api/v1/kpis?from=yesterday")
    assert bad.status_code == 400 and bad.get_json()["field"] == "from"
