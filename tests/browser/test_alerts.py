"""An alert rule made in the UI fires on ingested data, shows the banner on every page, and reaches a
webhook receiver (a real HTTP server started here)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
from dash.testing.wait import until
from selenium.webdriver.support.ui import Select

from api.alerting import start_alerting
from app import create_app
from data.warehouse import Warehouse
from data.writer import make_writer


def receiver():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def sessions_now(count: int) -> pd.DataFrame:
    now = pd.Timestamp(datetime.now(timezone.utc).replace(tzinfo=None)).as_unit("us")
    rows = pd.DataFrame([{"event_id": f"spike-{i}", "ts": now, "type": "page_view", "user_id": f"u{i}",
                          "session_id": f"spike-s{i}", "channel": "email", "campaign": "(none)", "device": "mobile",
                          "region": "DE", "page": "/", "revenue": None, "order_id": None, "experiment": None,
                          "variant": None} for i in range(count)])
    rows["revenue"] = rows["revenue"].astype(float)
    return rows


def type_into(duo, selector: str, text: str):
    element = duo.find_element(selector)
    element.clear()
    element.send_keys(text)


def click(duo, selector: str):
    element = duo.find_element(selector)
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def test_a_rule_made_in_the_ui_fires_shows_the_banner_and_reaches_the_webhook(dash_duo, tmp_path):
    http, received = receiver()
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")
    app = create_app(warehouse, data_dir=tmp_path)
    evaluator = start_alerting(app, interval_seconds=1, backoff=(0.2, 0.2))
    dash_duo.start_server(app)
    duo = dash_duo
    duo.wait_for_page(url=duo.server_url + "/alerts", timeout=20)

    type_into(duo, "#rule-name", "Email traffic spike")
    Select(duo.find_element("#rule-kpi")).select_by_visible_text("Sessions")
    Select(duo.find_element("#rule-operator")).select_by_visible_text(">")
    type_into(duo, "#rule-value", "2")
    type_into(duo, "#rule-window", "10")
    type_into(duo, "#rule-pending", "0")
    type_into(duo, "#rule-filters", "channel=email")
    click(duo, "#rule-add")
    duo.wait_for_contains_text("#rule-message", "added: Email traffic spike", timeout=20)
    duo.wait_for_contains_text("#rule-grid", "Email traffic spike", timeout=20)

    hook = f"http://127.0.0.1:{http.server_address[1]}/pulse-alerts"
    type_into(duo, "#webhook-url", hook)
    click(duo, "#webhook-add")
    duo.wait_for_contains_text("#webhook-list", hook, timeout=20)

    writer = make_writer(warehouse)
    writer.write("events", sessions_now(3))   # 3 email sessions now: above the rule's 2
    writer.stop()

    duo.wait_for_page(url=duo.server_url + "/", timeout=20)   # the banner is on every page
    duo.wait_for_contains_text("#alert-banner", "Email traffic spike", timeout=40)
    until(lambda: any(p["status"] == "firing" for p in received), timeout=30)
    firing = next(p for p in received if p["status"] == "firing")
    assert firing["rule"]["name"] == "Email traffic spike" and firing["observed"] == 3

    # Disable the rule from the page: the alert resolves and the banner goes; then delete it.
    duo.wait_for_page(url=duo.server_url + "/alerts", timeout=20)
    duo.wait_for_contains_text("#rule-grid", "Email traffic spike", timeout=20)
    duo.find_element("#rule-grid .ag-row[row-index='0'] .ag-cell").click()  # a real click selects the row
    click(duo, "#rule-toggle")
    duo.wait_for_contains_text("#rule-message", "disabled", timeout=20)
    until(lambda: any(p["status"] == "resolved" for p in received), timeout=30)
    duo.find_element("#rule-grid .ag-row[row-index='0'] .ag-cell").click()
    click(duo, "#rule-delete")
    duo.wait_for_contains_text("#rule-message", "deleted", timeout=20)
    until(lambda: "Email traffic spike" not in duo.find_element("#rule-grid").text, timeout=20)
    assert duo.get_logs() == []
    evaluator.stop()
    http.shutdown()
    warehouse.dispose()


def test_a_rule_is_edited_in_place_from_the_page(dash_duo, tmp_path):
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")
    app = create_app(warehouse, data_dir=tmp_path)
    dash_duo.start_server(app)
    duo = dash_duo
    duo.wait_for_page(url=duo.server_url + "/alerts", timeout=20)
    type_into(duo, "#rule-name", "Checkout conversion")
    type_into(duo, "#rule-value", "0.02")
    click(duo, "#rule-add")
    duo.wait_for_contains_text("#rule-grid", "< 0.02 over 60 min", timeout=20)

    duo.find_element("#rule-grid .ag-row[row-index='0'] .ag-cell").click()
    click(duo, "#rule-edit")
    duo.wait_for_text_to_equal("#rule-add", "Save rule 1", timeout=20)
    assert duo.find_element("#rule-name").get_attribute("value") == "Checkout conversion"
    assert float(duo.find_element("#rule-value").get_attribute("value")) == 0.02
    type_into(duo, "#rule-value", "0.015")
    type_into(duo, "#rule-window", "30")
    click(duo, "#rule-add")
    duo.wait_for_contains_text("#rule-message", "Rule 1 saved", timeout=20)
    duo.wait_for_contains_text("#rule-grid", "< 0.015 over 30 min", timeout=20)
    duo.wait_for_text_to_equal("#rule-add", "Add rule", timeout=20)

    stored = warehouse.read("SELECT id, value, window_minutes, enabled FROM alert_rules")
    assert stored.to_dict("records") == [{"id": 1, "value": 0.015, "window_minutes": 30, "enabled": True}]
    assert duo.get_logs() == []
    app.server.extensions["pulse.writer"].stop()
    warehouse.dispose()
