"""Exports and sharing in a real browser: each view's export menus download CSV and XLSX whose rows equal pandas
over the raw warehouse tables (tests/reference.py, not Pulse's query code) under the URL's filters; the view
workbook has a cover sheet and one sheet per chart and table; chart images are valid PNG and SVG naming the
range; and a permalink copied after setting a view up by clicks reproduces its controls and numbers in a
fresh browser session."""
from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

import pandas as pd
from dash.testing.browser import Browser
from dash.testing import errors as dash_errors  # by module: pytest would collect its Test* class
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import Select

from tests import reference
from tests.browser.conftest import pytest_setup_options
from tests.browser.test_experiments import QUERY as EXPERIMENT_QUERY, expected_counts
from tests.browser.test_funnel import DAY, QUERY as DAY_QUERY, STEPS, reached
from tests.conftest import END

WEEK = (END - timedelta(days=7), END)
WEEK_QUERY = f"from={WEEK[0]:%Y-%m-%dT%H:%M:%S}Z&to={WEEK[1]:%Y-%m-%dT%H:%M:%S}Z"


def item_id(**parts) -> str:
    """The DOM id Dash gives a pattern-matching id (its keys sorted, no spaces)."""
    return json.dumps(dict(sorted(parts.items())), separators=(",", ":"))


def export(duo, view: str, table: str, fmt: str, kind: str = "export", graph: str | None = None) -> str:
    """Open the export menu (of chart `graph`, else of the table) and click an item; the path of the file that
    arrives."""
    before = set(os.listdir(duo.download_path))
    at = "view" if table == "*" else graph or table
    menu = item_id(type="export-menu", view=view, table=table, at=at)
    target = item_id(type="export-image", graph=graph, format=fmt) if kind == "export-image" else \
        item_id(type="export", view=view, table=table, format=fmt, at=at)
    suffix = "." + fmt

    def arrived():
        new = [n for n in set(os.listdir(duo.download_path)) - before if n.endswith(suffix)]
        return os.path.join(duo.download_path, new[0]) if new else None

    def click():
        if table != "*":
            toggle = duo.wait_for_element(f"[id='{menu}'] .dropdown-toggle", timeout=20)
            duo.driver.execute_script("arguments[0].click();", toggle)
        element = until(lambda: duo.driver.execute_script("return document.getElementById(arguments[0]);", target),
                        timeout=10)
        duo.driver.execute_script("arguments[0].click();", element)
    # A view redraws when its URL is normalised after the first paint (defaults written out); a click on the
    # menu it replaced is lost, so a click that brings no file within 30 s (a shared, loaded machine) is made
    # again, once.
    click()
    try:
        path = until(arrived, timeout=30)
    except dash_errors.TestingTimeoutError:
        click()
        path = until(arrived, timeout=60)
    until(lambda: os.path.getsize(path) > 0, timeout=10)
    time.sleep(0.2)  # the browser renames the file when done; its size settles
    return path


def workbook(path: str) -> dict[str, pd.DataFrame]:
    return pd.read_excel(path, sheet_name=None)


def labels(raw) -> dict:
    return raw["channels"].set_index("name").label.to_dict()


# -- monitoring ------------------------------------------------------------------------------------------

def test_monitoring_exports_equal_the_raw_tables(start_pulse, raw):
    dims = {"channel": ("paid_search", "email")}
    duo = start_pulse("/?" + WEEK_QUERY + "&channel=paid_search,email&compare=none")
    duo.wait_for_element("#campaign-grid .ag-row", timeout=30)
    names = labels(raw)

    # top campaigns, CSV: sessions of the campaign's sessions, orders and revenue of their purchases, spend
    campaigns = pd.read_csv(export(duo, "monitoring", "campaigns", "csv"))
    assert list(campaigns.columns) == ["Campaign", "Channel", "Sessions", "Orders", "Revenue ($)", "Spend ($)",
                                       "ROAS (revenue / spend)", "CPA ($ per order)"]
    sessions = reference.counted_sessions(raw["events"], *WEEK, **dims)
    events = reference.scoped(raw["events"], *WEEK, **dims)
    purchases = events[events.type == "purchase"]
    spend = reference.spend(raw["ad_spend"], *WEEK, **dims)
    by = campaigns.set_index(["Channel", "Campaign"])
    want_sessions = sessions.groupby(["channel", "campaign"]).size()
    assert len(by) == len(want_sessions) > 2
    for (channel, campaign), count in want_sessions.items():
        row = by.loc[(names[channel], campaign)]
        assert row["Sessions"] == count
        mine = purchases[(purchases.session_channel == channel) & (purchases.session_campaign == campaign)]
        assert row["Orders"] == mine.order_id.nunique()
        assert abs(row["Revenue ($)"] - mine.revenue.sum()) < 1e-6
        cost = spend[(spend.channel == channel) & (spend.campaign == campaign)]
        assert abs(row["Spend ($)"] - (cost.cost * cost.share).sum()) < 1e-6

    # revenue by channel over time, XLSX: a cover sheet, then the chart's rows; per channel they add up
    sheets = workbook(export(duo, "monitoring", "revenue", "xlsx", graph="chart-revenue"))
    assert list(sheets) == ["About this export", "Revenue by channel"]
    cover = dict(sheets["About this export"].values)
    assert cover["View"] == "Monitoring" and cover["Channel"] == "paid_search, email" and cover["Time zone"] == "UTC"
    assert cover["Time range from"] == f"{WEEK[0]:%Y-%m-%d %H:%M:%S}"
    revenue = sheets["Revenue by channel"]
    assert list(revenue.columns) == ["Bucket start (UTC)", "Channel", "Revenue ($)"]
    assert pd.api.types.is_datetime64_any_dtype(revenue["Bucket start (UTC)"])
    got = revenue.groupby("Channel")["Revenue ($)"].sum()
    want = purchases.groupby("session_channel").revenue.sum().rename(index=names)
    assert sorted(got.index) == sorted(want.index)
    for channel, amount in want.items():
        assert abs(got[channel] - amount) < 1e-6

    kpis = pd.read_csv(export(duo, "monitoring", "kpis", "csv")).set_index("KPI")
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK, **dims)
    assert kpis.loc["Sessions", "This period"] == expected["sessions"]
    assert abs(kpis.loc["Conversion rate", "This period"] - expected["conversion_rate"]) < 1e-12
    assert kpis.loc["Conversion rate", "Unit"] == "fraction (0-1)"
    assert duo.get_logs() == []


# -- funnel ----------------------------------------------------------------------------------------------

def test_funnel_exports_and_the_view_workbook(start_pulse, raw):
    duo = start_pulse("/funnel?" + DAY_QUERY + "&steps=" + ",".join(STEPS) + "&window=1h&device=mobile,desktop")
    dims = {"device": ("mobile", "desktop")}
    entities = reference.funnel_entities(raw["events"], *DAY, STEPS, "sessions", timedelta(hours=1), "indirect",
                                         pd.Timestamp.now("UTC").tz_localize(None).to_pydatetime(), **dims)
    counts = [row["reached"] for row in reference.funnel_counts(entities, len(STEPS))]
    until(lambda: reached(duo) == counts, timeout=30)

    steps = pd.read_csv(export(duo, "funnel", "steps", "csv"))
    assert list(steps["Sessions reaching the step"]) == counts
    assert list(steps["Event"]) == list(STEPS)
    assert abs(steps["Conversion from the first step (fraction)"].iloc[-1] - counts[-1] / counts[0]) < 1e-12

    sheets = workbook(export(duo, "funnel", "*", "xlsx"))
    # one sheet per chart and table of the page: steps (chart and grid), trend, time histogram, times
    assert list(sheets) == ["About this export", "Steps", "Conversion by entry time", "Time to convert",
                            "Time to convert, histogram"]
    cover = dict(sheets["About this export"].values)
    assert cover["View"] == "Funnel" and cover["Device"] == "mobile, desktop" and cover["Steps"] == ", ".join(STEPS)
    assert cover["Conversion window"] == "1h"
    assert list(sheets["Steps"]["Sessions reaching the step"]) == counts
    trend = sheets["Conversion by entry time"]
    first = trend[trend["Step"] == 1]["Sessions reaching the step"].sum()
    assert first == counts[0]  # each session enters in one bucket

    # A choice made after the menus were drawn (the URL changes, the menus stay): the next file follows it.
    choose(duo, "#funnel-count", "users", "count")
    users = reference.funnel_entities(raw["events"], *DAY, STEPS, "users", timedelta(hours=1), "indirect",
                                      pd.Timestamp.now("UTC").tz_localize(None).to_pydatetime(), **dims)
    steps = pd.read_csv(export(duo, "funnel", "steps", "csv"))
    assert list(steps["Users reaching the step"]) == [row["reached"] for row in reference.funnel_counts(users, 3)]
    assert duo.get_logs() == []


def test_chart_images_are_valid_png_and_svg_naming_the_range(start_pulse):
    duo = start_pulse("/funnel?" + DAY_QUERY + "&steps=" + ",".join(STEPS) + "&window=1h")
    duo.wait_for_element("#funnel-chart .bars", timeout=30)
    png = export(duo, "funnel", "steps", "png", kind="export-image", graph="funnel-chart")
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    svg = export(duo, "funnel", "steps", "svg", kind="export-image", graph="funnel-chart")
    text = open(svg, encoding="utf-8").read()
    root = ElementTree.fromstring(text)
    assert root.tag.endswith("svg")
    assert f"{DAY[0]:%Y-%m-%d %H:%M} to {DAY[1]:%Y-%m-%d %H:%M} (UTC)" in text  # the caption under the title
    assert "reaching each step" in text
    assert duo.get_logs() == []


# -- experiments -----------------------------------------------------------------------------------------

def test_experiment_exports_equal_pandas(start_pulse, warehouse, raw):
    duo = start_pulse("/experiments?" + EXPERIMENT_QUERY)
    duo.wait_for_element("#variant-grid .ag-row", timeout=30)
    summary, multi = expected_counts(warehouse, raw)
    variants = pd.read_csv(export(duo, "experiments", "variants", "csv")).set_index("Variant")
    for variant, row in summary.iterrows():
        assert variants.loc[variant, "Exposed users"] == row.users
        assert variants.loc[variant, "Users converting (purchase)"] == row.conversions
        assert abs(variants.loc[variant, "Conversion rate (fraction)"] - row.conversions / row.users) < 1e-12
    sheets = workbook(export(duo, "experiments", "*", "xlsx"))
    assert list(sheets) == ["About this export", "Variants", "Funnel by variant"]
    cover = dict(sheets["About this export"].values)
    assert cover["Experiment"] == "checkout_redesign" and cover["Users excluded (saw two variants)"] == multi
    funnels = sheets["Funnel by variant"]
    first = funnels[funnels["Step"] == "page_view"].set_index("Variant")["Users reaching the step"]
    assert set(first.index) == set(summary.index)
    assert duo.get_logs() == []


# -- budget ----------------------------------------------------------------------------------------------

def test_budget_exports_equal_the_raw_spend(start_pulse, raw):
    duo = start_pulse("/budget?" + WEEK_QUERY)
    duo.wait_for_element("#budget-channels .ag-row", timeout=30)
    channels = pd.read_csv(export(duo, "budget", "channels", "csv")).set_index("Channel")
    rows = reference.spend(raw["ad_spend"], *WEEK)
    cost = (rows.cost * rows.share).groupby(rows.channel).sum().rename(index=labels(raw))
    for channel, amount in cost.items():
        assert abs(channels.loc[channel, "Spend ($)"] - amount) < 1e-6
    sheets = workbook(export(duo, "budget", "*", "xlsx"))
    names = list(sheets)
    assert names[0] == "About this export" and names[1:3] == ["Spend and return by channel", "Channel ranking by model"]
    assert names[-1] == "Pacing this month"
    for section in names[1:]:
        assert len(sheets[section]) > 0
    assert dict(sheets["About this export"].values)["Attribution"] == "Last click"
    assert duo.get_logs() == []


# -- permalinks ------------------------------------------------------------------------------------------

def funnel_state(driver) -> dict:
    """Every control of the funnel view, and every number of its steps table."""
    return driver.execute_script("""
        const value = id => document.getElementById(id).value;
        const steps = Array.from(document.querySelectorAll('select[id*="funnel-step"]')).map(s => s.value);
        const cells = Array.from(document.querySelectorAll('#funnel-table .ag-row'))
            .sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))
            .map(row => Array.from(row.querySelectorAll('.ag-cell')).map(c => c.innerText));
        return {steps: steps, count: value('funnel-count'), window: value('funnel-window'),
                order: value('funnel-order'), breakdown: value('funnel-breakdown'),
                interval: value('funnel-interval'), range: document.getElementById('filter-range').innerText,
                device: document.getElementById('filter-device').innerText, table: cells,
                deviation: (document.getElementById('funnel-deviation') || {}).innerText || null};""")


def choose(duo, selector: str, value: str, key: str):
    """Pick `value` and wait for the URL to carry it; picked again if the view redrew under the pointer."""
    def in_url():
        return value in ",".join(parse_qs(urlparse(duo.driver.current_url).query).get(key, []))
    for attempt in range(4):
        try:
            Select(duo.wait_for_element(selector, timeout=20)).select_by_value(value)
            until(in_url, timeout=8)
            # the view redraws from the new URL: wait until it has, so that the next choice is made on it
            until(lambda: duo.driver.execute_script(
                "return !document.querySelector('[data-dash-is-loading=\"true\"]');"), timeout=30)
            time.sleep(1)
            until(lambda: Select(duo.find_element(selector)).first_selected_option.get_attribute("value") == value,
                  timeout=20)
            return
        except (dash_errors.TestingTimeoutError, StaleElementReferenceException):
            if attempt == 3:
                raise


def test_a_copied_link_reproduces_the_view_in_a_fresh_session(start_pulse, tmp_path):
    duo = start_pulse("/funnel?" + DAY_QUERY + "&steps=" + ",".join(STEPS) + "&window=1h")
    duo.wait_for_element("#funnel-table .ag-row", timeout=30)
    # set the view up by clicks: a filter, the count, the window, the trend interval, a breakdown and a step
    duo.select_dcc_dropdown("#filter-device", value="Mobile")
    until(lambda: "device=mobile" in duo.driver.current_url, timeout=15)
    for selector, value, key in (("#funnel-count", "users", "count"), ("#funnel-window", "30m", "window"),
                                 ("#funnel-interval", "hour", "interval"), ("#funnel-breakdown", "region", "breakdown"),
                                 ('[id=\'{"slot":1,"type":"funnel-step"}\']', "product_view", "steps")):
        choose(duo, selector, value, key)
    duo.wait_for_element("#funnel-segments .bars", timeout=30)
    # the link box follows the URL (its parameters; it writes them in its own order, defaults included)
    until(lambda: parse_qs(urlparse(duo.find_element("#permalink").get_attribute("value")).query).items()
          >= parse_qs(urlparse(duo.driver.current_url).query).items(), timeout=15)
    time.sleep(1)  # the view settles
    before = funnel_state(duo.driver)
    assert before["count"] == "users" and before["breakdown"] == "region" and before["interval"] == "hour"
    assert len(before["table"]) == 6 and before["table"][-1][0] != "0"  # 3 steps (pinned label, numbers); some buy

    duo.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": duo.server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    duo.driver.execute_script("arguments[0].click();", duo.find_element("#permalink-copy"))
    link = until(lambda: duo.driver.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, () => done(null));"), timeout=10)
    query = parse_qs(urlparse(link).query)
    assert query["count"] == ["users"] and query["window"] == ["30m"] and query["interval"] == ["hour"]
    assert query["device"] == ["mobile"] and query["breakdown"] == ["region"]
    assert query["steps"] == ["page_view,product_view,purchase"]
    assert duo.get_logs() == []

    download = tmp_path / "fresh"
    download.mkdir()
    with Browser("chrome", headless=True, options=[pytest_setup_options()], download_path=str(download),
                 percy_run=False, wait_timeout=20) as fresh:
        fresh.driver.get(link)
        fresh.wait_for_element("#funnel-segments .bars", timeout=30)
        until(lambda: funnel_state(fresh.driver)["table"] == before["table"], timeout=30)
        assert funnel_state(fresh.driver) == before
        assert fresh.get_logs() == []


def test_freeze_turns_a_relative_range_into_absolute_times(start_pulse):
    duo = start_pulse("/?from=now-24h&to=now&compare=none&channel=email")
    until(lambda: "from=now-24h" in (duo.find_element("#permalink").get_attribute("value") or ""), timeout=20)
    duo.driver.execute_script("arguments[0].click();", duo.find_element("#permalink-freeze"))
    until(lambda: "now" not in duo.find_element("#permalink").get_attribute("value"), timeout=20)
    query = parse_qs(urlparse(duo.find_element("#permalink").get_attribute("value")).query)
    start, end = (pd.Timestamp(query[k][0]) for k in ("from", "to"))
    assert end - start == pd.Timedelta(hours=24)
    assert abs(end - pd.Timestamp.now("UTC")) < pd.Timedelta(minutes=2)
    assert query["channel"] == ["email"] and query["compare"] == ["none"]
    assert duo.get_logs() == []


def test_an_export_over_the_row_limit_says_so_instead(dash_duo, warehouse, raw):
    from app import create_app
    from tests.browser.conftest import PORT

    app = create_app(warehouse)
    app.server.config["PULSE_EXPORT_MAX_ROWS"] = 3
    dash_duo.start_server(app, port=PORT, navigate=False)
    dash_duo.wait_for_page(url=dash_duo.server.url + "/?" + WEEK_QUERY + "&compare=none", timeout=20)
    dash_duo.wait_for_element("#campaign-grid .ag-row", timeout=30)
    target = item_id(type="export", view="monitoring", table="campaigns", format="csv", at="campaigns")
    toggle = dash_duo.wait_for_element(
        f"[id='{item_id(type='export-menu', view='monitoring', table='campaigns', at='campaigns')}'] .dropdown-toggle")
    dash_duo.driver.execute_script("arguments[0].click();", toggle)
    element = until(lambda: dash_duo.driver.execute_script("return document.getElementById(arguments[0]);", target),
                    timeout=10)
    dash_duo.driver.execute_script("arguments[0].click();", element)
    message = dash_duo.wait_for_element("#export-too-large", timeout=30).text
    rows = len(campaigns_of(raw, WEEK))
    assert f"'Top campaigns' has {rows} rows, over the export limit of 3 rows" in message
    assert "narrow the time range or the filters" in message
    time.sleep(1)  # nothing arrives later either
    assert os.listdir(dash_duo.download_path) == []
    assert only_refusals(dash_duo.get_logs(), 413) == 1  # the check the menu made first; nothing else logged


def campaigns_of(raw, period) -> pd.Index:
    """The top-campaigns table's rows, by pandas over the raw events: campaigns with sessions in the period,
    at most 25 (the table's length on the page)."""
    sessions = reference.counted_sessions(raw["events"], *period)
    return sessions.groupby(["channel", "campaign"]).size().index[:25]


def only_refusals(logs: list[dict], status: int) -> int:
    """How many of the browser's log entries are the export check answering `status` (Chromium logs any
    answer of 400 or more); fails on any other entry."""
    others = [e for e in logs if not ("/api/v1/export?" in e["message"] and "check=1" in e["message"]
                                      and f"status of {status}" in e["message"])]
    assert others == []
    return len(logs)


def test_the_whole_view_renders_in_the_server_as_pdf_and_png(start_pulse):
    from urllib.request import urlopen

    query = DAY_QUERY + "&steps=" + ",".join(STEPS) + "&window=1h"
    duo = start_pulse("/funnel?" + query)
    link = duo.wait_for_element("#view-report", timeout=30).get_attribute("href")
    assert "/api/v1/report?view=funnel&format=pdf&" in link and "window=1h" in link
    with urlopen(link, timeout=180) as response:
        assert response.headers["Content-Type"] == "application/pdf"
        pdf = response.read()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000
    with urlopen(link.replace("format=pdf", "format=png"), timeout=180) as response:
        png = response.read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    assert duo.get_logs() == []


# -- wall ------------------------------------------------------------------------------------------------

def test_wall_exports_equal_the_raw_tables_and_plan(start_pulse, raw, warehouse):
    from tests.browser.test_wall import TODAY, TODAY_QUERY, wall_expectations

    duo = start_pulse("/wall?" + TODAY_QUERY)
    duo.wait_for_element('[id*="wall-value"]', timeout=30)
    today, before, plans, _ = wall_expectations(raw, warehouse)
    kpis = pd.read_csv(export(duo, "wall", "kpis", "csv")).set_index("KPI")
    assert list(kpis.index) == ["Revenue", "Orders", "Conversion rate", "Spend", "ROAS"]
    names = {"Revenue": "revenue", "Orders": "orders", "Conversion rate": "conversion_rate", "Spend": "spend",
             "ROAS": "roas"}
    for name, kpi in names.items():
        assert abs(kpis.loc[name, "Today so far"] - today[kpi]) < 1e-6 * max(1, abs(today[kpi])), name
        assert abs(kpis.loc[name, "Same time last week"] - before[kpi]) < 1e-6 * max(1, abs(before[kpi])), name
        assert abs(kpis.loc[name, "Plan to date"] - plans[kpi]) < 1e-6 * max(1, plans[kpi]), name
        assert abs(kpis.loc[name, "Against plan (fraction)"] - (today[kpi] / plans[kpi] - 1)) < 1e-9, name

    sheets = workbook(export(duo, "wall", "*", "xlsx"))
    assert list(sheets) == ["About this export", "Today vs last week and plan",
                            "Revenue so far through the day", "Revenue by channel (today)"]
    cover = dict(sheets["About this export"].values)
    assert cover["View"] == "Wall" and cover["Comparison"] == "week"
    assert cover["Time range from"] == f"{TODAY[0]:%Y-%m-%d %H:%M:%S}"
    revenue = sheets["Revenue so far through the day"]
    ours = revenue[revenue["Series"] == "Today"]["Revenue so far ($)"]
    assert ours.is_monotonic_increasing and abs(ours.iloc[-1] - today["revenue"]) < 1e-6
    purchases = reference.scoped(raw["events"], *TODAY)
    purchases = purchases[purchases.type == "purchase"]
    want = purchases.groupby("session_channel").revenue.sum().rename(index=labels(raw))
    mix = sheets["Revenue by channel (today)"].set_index("Channel")["Revenue ($)"]
    assert sorted(mix.index) == sorted(want[want > 0].index)
    for channel, amount in want[want > 0].items():
        assert abs(mix[channel] - amount) < 1e-6
    assert duo.get_logs() == []


# -- alerts ----------------------------------------------------------------------------------------------

def test_alert_exports_equal_the_rules_and_history_tables(dash_duo, tmp_path):
    """Rules and history of a warehouse of its own (the demo rules, 60 events written with plain SQL): the
    exports hold the rules as stored and the 50 newest events, as plain SQL over the tables reads them."""
    from datetime import datetime

    from api.alerting import seed_demo_rules
    from app import create_app
    from data.generate import generate
    from data.warehouse import Warehouse
    from tests.browser.conftest import PORT

    wh = Warehouse(f"duckdb:///{tmp_path / 'a.duckdb'}")
    generate(wh, days=1, scale=0.02, seed=3, end=datetime(2026, 11, 20, 12))
    app = create_app(wh)
    app.server.extensions["pulse.writer"].call(seed_demo_rules)
    with wh.driver_connection() as conn:
        for i in range(60):
            conn.execute("INSERT INTO alert_events (rule_id, rule_name, kpi, status, ts, started_at, observed, expected,"
                         " message, rule) VALUES (1, 'Conversion rate collapse', 'conversion_rate', ?, ?, ?, ?, 0.005,"
                         " ?, '{}')", ["firing" if i % 2 == 0 else "resolved", datetime(2026, 11, 19, i // 6, i % 6 * 7),
                                       datetime(2026, 11, 19, 0), 0.001 * i, f"event {i}"])
        stored = conn.execute("SELECT id, name, kpi, kind, pending_minutes FROM alert_rules ORDER BY id").df()
        newest = conn.execute("SELECT ts, rule_name, status, observed, message FROM alert_events "
                              "ORDER BY ts DESC, id DESC LIMIT 50").df()
    dash_duo.start_server(app, port=PORT, navigate=False)
    dash_duo.wait_for_page(url=dash_duo.server.url + "/alerts", timeout=20)
    dash_duo.wait_for_element("#alert-history .ag-row", timeout=30)

    rules = pd.read_csv(export(dash_duo, "alerts", "rules", "csv"))
    assert len(stored) == 3
    assert list(rules["Id"]) == list(stored.id) and list(rules["Rule"]) == list(stored.name)
    assert list(rules["KPI"]) == list(stored.kpi) and list(rules["Kind"]) == list(stored.kind)
    assert list(rules["Pending (minutes)"]) == list(stored.pending_minutes)
    assert list(rules["State now"]) == ["normal"] * 3

    sheets = workbook(export(dash_duo, "alerts", "history", "xlsx"))
    assert list(sheets) == ["About this export", "History"]
    history = sheets["History"]
    assert len(history) == 50
    assert list(history["Time (UTC)"]) == list(newest.ts)
    assert list(history["Message"]) == list(newest.message)
    assert list(history["Event (firing or resolved)"]) == list(newest.status)
    assert max(abs(a - b) for a, b in zip(history["Observed"], newest.observed)) < 1e-12
    cover = dict(sheets["About this export"].values)
    assert cover["View"] == "Alerts" and "Time range from" not in cover  # the tables take no time range

    whole = workbook(export(dash_duo, "alerts", "*", "xlsx"))
    assert list(whole) == ["About this export", "Rules", "History"]
    assert dash_duo.get_logs() == []
    wh.dispose()
