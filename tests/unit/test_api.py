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
    assert body["newest_event"] == raw["events"].ts.max().isoformat() + "Z"


def test_pages_are_served(warehouse):
    client = create_app(warehouse).server.test_client()
    for path in ("/", "/funnel", "/budget"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"00-bootstrap-5.3.9.min.css" in response.data  # the theme comes from assets/, not a CDN
        assert b"cdn." not in response.data and b"unpkg" not in response.data
