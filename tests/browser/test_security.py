"""Hostile stored strings (issue 9): a campaign named `<img src=x onerror=alert(1)>`, an annotation and an
alert rule carrying script tags, shown on every view in headless Chromium. They must appear as text and no
script of theirs may run: `alert` is replaced before any page script by a recorder, and the browser logs
nothing. Also: signing in through the login page, a display token showing the wall only, and exports needing
the analyst role."""
from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import NoAlertPresentException

from app import create_app
from tests.access_fixtures import PASSWORD, make_warehouse
from tests.browser.conftest import PORT

CAMPAIGN = "<img src=x onerror=alert(1)>"
ANNOTATION = "<script>alert(2)</script><b onmouseover=alert(3)>outage</b>"
RULE = "<svg onload=alert(4)> revenue rule"
END = datetime(2026, 11, 20, 14, 37)
QUERY = f"from={END - timedelta(days=6):%Y-%m-%dT%H:%M:%S}Z&to={END:%Y-%m-%dT%H:%M:%S}Z"
VIEWS = ("/", "/funnel", "/experiments", "/budget", "/alerts", "/wall", "/admin")
RECORDER = "window.__alerts = []; window.alert = window.confirm = window.prompt = " \
           "function (m) { window.__alerts.push(String(m)); };"


@pytest.fixture
def hostile_warehouse(tmp_path):
    wh = make_warehouse(tmp_path)
    with wh.driver_connection() as conn:
        # The campaign with the most revenue, so it is in the top-campaigns table, renamed everywhere.
        top = conn.execute("SELECT campaign FROM events WHERE revenue IS NOT NULL AND campaign <> '(none)' "
                           "GROUP BY campaign ORDER BY sum(revenue) DESC LIMIT 1").fetchone()[0]
        for table, column in (("campaigns", "name"), ("events", "campaign"), ("ad_spend", "campaign"),
                              ("sessions", "campaign"), ("rollup_hourly", "campaign")):
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [CAMPAIGN, top])
        conn.execute("INSERT INTO annotations (ts, kind, text) VALUES (?, 'incident', ?)",
                     [END - timedelta(days=2), ANNOTATION])
    yield wh, tmp_path
    wh.dispose()


def _no_script_ran(duo) -> None:
    try:
        dialog = duo.driver.switch_to.alert
        text = dialog.text
        dialog.dismiss()
        raise AssertionError(f"a dialog opened: {text!r}")
    except NoAlertPresentException:
        pass
    assert duo.driver.execute_script("return window.__alerts") == []


def test_stored_markup_renders_as_text_on_every_view(dash_duo, hostile_warehouse):
    wh, data_dir = hostile_warehouse
    app = create_app(wh, data_dir=data_dir)
    rule = {"name": RULE, "kpi": "revenue", "kind": "threshold", "operator": "<", "value": 1, "window_minutes": 60,
            "pending_minutes": 0}
    assert app.server.test_client().post("/api/v1/alerts/rules", json=rule).status_code == 201  # open local demo
    dash_duo.start_server(app, port=PORT, navigate=False)
    dash_duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
    base = dash_duo.server.url
    for path in VIEWS:
        dash_duo.wait_for_page(url=f"{base}{path}?{QUERY}", timeout=20)
        dash_duo.wait_for_element("#page", timeout=20)
        until(lambda: dash_duo.driver.execute_script(
            "return !document.querySelector('[data-dash-is-loading=\"true\"]')"), timeout=30)
        _no_script_ran(dash_duo)
        if path == "/":
            until(lambda: CAMPAIGN in dash_duo.find_element("body").text, timeout=20)  # shown, as text
            assert dash_duo.find_element("#open-mode-banner").text.startswith("Open local demo")
        if path in ("/alerts", "/admin"):  # the rule, and its creation in the audit log
            until(lambda: RULE in dash_duo.find_element("body").text, timeout=20)
    # The annotation's text is in the monitoring chart's hover label: drawn as SVG text, never as markup.
    dash_duo.wait_for_page(url=f"{base}/?{QUERY}", timeout=20)
    until(lambda: dash_duo.driver.execute_script("return document.querySelectorAll('.js-plotly-plot').length") > 0,
          timeout=20)
    assert dash_duo.driver.execute_script("return document.querySelectorAll('img[src=\"x\"], svg[onload]').length") == 0
    _no_script_ran(dash_duo)
    assert dash_duo.get_logs() == []


def test_login_page_and_display_token(dash_duo, hostile_warehouse):
    from data.users import TokenStore, UserStore

    wh, data_dir = hostile_warehouse
    UserStore(data_dir).create("ada", "viewer", PASSWORD, actor="test")
    token_id, token = TokenStore(data_dir).create("lobby", ["wall"], actor="test")
    app = create_app(wh, data_dir=data_dir)
    dash_duo.start_server(app, port=PORT, navigate=False)
    base = dash_duo.server.url
    dash_duo.driver.get(f"{base}/funnel?{QUERY}")  # not signed in: the login page, then back here
    until(lambda: "/login" in dash_duo.driver.current_url, timeout=10)
    dash_duo.find_element("#name").send_keys("ada")
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("button[type=submit]").click()
    until(lambda: "/funnel" in dash_duo.driver.current_url, timeout=10)
    dash_duo.wait_for_contains_text("#access-bar", "Signed in as ada (viewer)", timeout=20)
    dash_duo.find_element("#sign-out").click()
    until(lambda: dash_duo.driver.current_url.endswith("/login"), timeout=10)
    dash_duo.driver.delete_all_cookies()
    dash_duo.wait_for_page(url=f"{base}/wall?kiosk=1&token={token}", timeout=20)
    until(lambda: "token" not in dash_duo.driver.current_url, timeout=10)
    dash_duo.wait_for_element("#wall-numbers", timeout=20)
    until(lambda: dash_duo.find_element("#wall-numbers").text.strip() != "", timeout=20)
    dash_duo.driver.get(f"{base}/budget")
    assert "This display may show only /wall" in dash_duo.find_element("body").text
    assert [e for e in dash_duo.get_logs() if "403" not in e["message"]] == []  # the refused /budget only
    dash_duo.wait_for_page(url=f"{base}/wall?kiosk=1", timeout=20)
    # Revoked: the display gets nothing more (its callbacks are refused, which the renderer logs), notices by
    # itself and shows the login page.
    TokenStore(data_dir).revoke(token_id, actor="test")
    until(lambda: "/login" in dash_duo.driver.current_url, timeout=40)


def _sign_in(duo, base: str, name: str, path: str) -> None:
    duo.driver.delete_all_cookies()
    duo.driver.get(f"{base}{path}")
    until(lambda: "/login" in duo.driver.current_url, timeout=10)
    duo.find_element("#name").send_keys(name)
    duo.find_element("#password").send_keys(PASSWORD)
    duo.find_element("button[type=submit]").click()
    until(lambda: path.split("?")[0] in duo.driver.current_url and "/login" not in duo.driver.current_url, timeout=10)
    duo.wait_for_contains_text("#access-bar", f"Signed in as {name}", timeout=20)


def test_exports_need_the_analyst_role(dash_duo, hostile_warehouse):
    """A viewer clicking "Download view (Excel)" is told why in the page and gets no file; an analyst gets
    the workbook, and the audit log names them."""
    from data.audit import AuditLog
    from data.users import UserStore

    wh, data_dir = hostile_warehouse
    users = UserStore(data_dir)
    users.create("ada", "viewer", PASSWORD, actor="test")
    users.create("bo", "analyst", PASSWORD, actor="test")
    app = create_app(wh, data_dir=data_dir)
    dash_duo.start_server(app, port=PORT, navigate=False)
    base, button = dash_duo.server.url, '[id=\'{"at":"view","format":"xlsx","table":"*","type":"export","view":"funnel"}\']'

    _sign_in(dash_duo, base, "ada", f"/funnel?{QUERY}")
    dash_duo.driver.execute_script("arguments[0].click();", dash_duo.wait_for_element(button, timeout=20))
    message = dash_duo.wait_for_element("#export-refused", timeout=20).text
    assert "Exports need the analyst role; you are ada (viewer)." in message
    assert os.listdir(dash_duo.download_path) == []
    logs = dash_duo.get_logs()  # the check the button made first, refused by the server
    assert len(logs) == 1 and "/api/v1/export?" in logs[0]["message"] and "status of 403" in logs[0]["message"]

    _sign_in(dash_duo, base, "bo", f"/funnel?{QUERY}")
    dash_duo.driver.execute_script("arguments[0].click();", dash_duo.wait_for_element(button, timeout=20))
    until(lambda: [n for n in os.listdir(dash_duo.download_path) if n.endswith(".xlsx")], timeout=30)
    [name] = [n for n in os.listdir(dash_duo.download_path) if n.endswith(".xlsx")]
    assert name.startswith("pulse-funnel-")
    exports = [e for e in AuditLog(data_dir).recent(50) if e["action"] == "export"]
    assert [(e["actor"], e["target"]) for e in exports] == [("bo", "*")]
    assert dash_duo.find_elements("#export-refused") == []
    assert dash_duo.get_logs() == []
