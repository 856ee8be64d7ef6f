"""Wall displays: kiosk mode on any view, the /wall summary, the playlist, and riding out a server restart,
in headless Chromium with a 1920x1080 screen."""
from __future__ import annotations

import re
import shutil
import time

import pandas as pd

from dash.testing.wait import until

from components import formatting
from tests import reference
from tests.conftest import END
from tests.load.server import PulseProcess

TODAY = (END.replace(hour=0, minute=0), END)
TODAY_QUERY = f"from={TODAY[0]:%Y-%m-%dT%H:%M:%S}Z&to={TODAY[1]:%Y-%m-%dT%H:%M:%S}Z"
CONTROLS = "select, input, button, textarea, .dash-dropdown, .DateRangePicker, details, .btn, #page a"


def full_hd(duo) -> None:
    """A 1920x1080 screen (the viewport itself, not the window around it)."""
    duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})


def visible(duo, selector: str) -> list:
    """Elements matching `selector` that are drawn, outside charts and data grids."""
    return duo.driver.execute_script("""
        return Array.from(document.querySelectorAll(arguments[0])).filter(function (el) {
            if (el.closest('.js-plotly-plot, .ag-root-wrapper')) { return false; }
            var box = el.getBoundingClientRect();
            return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden';
        }).map(function (el) { return el.outerHTML.slice(0, 80); });""", selector)


def fits_the_screen(duo) -> bool:
    size = duo.driver.execute_script(
        "var d = document.documentElement; return [d.scrollWidth, d.scrollHeight, innerWidth, innerHeight];")
    return size[0] <= size[2] and size[1] <= size[3]


def test_kiosk_views_show_the_data_only_and_fit_a_full_hd_screen(start_pulse, raw):
    newest = raw["events"].ts.max()
    duo = start_pulse("/wall?kiosk=1&" + TODAY_QUERY)
    full_hd(duo)
    for path, ready in (("/wall?kiosk=1&" + TODAY_QUERY, "#wall-revenue .scatterlayer .trace"),
                        ("/?kiosk=1&" + TODAY_QUERY, "#chart-mix .bars .point path"),
                        ("/funnel?kiosk=1&" + TODAY_QUERY, "#funnel-chart .bars .point path")):
        duo.driver.get(duo.server.url + path)
        duo.wait_for_element(ready, timeout=30)
        assert duo.driver.execute_script("return document.documentElement.getAttribute('data-bs-theme')") == "dark"
        assert visible(duo, "#navbar") == [], path
        assert visible(duo, CONTROLS) == [], path

        assert fits_the_screen(duo), path
        assert re.fullmatch(r"\d\d:\d\d", duo.find_element("#kiosk-clock").text), path
        # Views without a "Data as of" line of their own get one under the clock: the newest event's time.
        expected = f"Data as of {newest:%H:%M}" if path.startswith("/funnel") else ""
        duo.wait_for_text_to_equal("#kiosk-data-as-of", expected, timeout=15)
    # One piece of chrome asked back: the time range, and nothing else.
    duo.driver.get(duo.server.url + "/?kiosk=1&show=timerange&" + TODAY_QUERY)
    duo.wait_for_element("#chart-mix .bars .point path", timeout=30)
    until(lambda: visible(duo, "#filter-range"), timeout=10)  # once the kiosk classes follow the new URL
    assert not visible(duo, "#filter-channel") and not visible(duo, "#navbar")
    # Without kiosk=1 the same view has its chrome, in the light theme.
    duo.driver.get(duo.server.url + "/?" + TODAY_QUERY)
    duo.wait_for_element("#chart-mix .bars .point path", timeout=30)
    assert visible(duo, "#navbar") and visible(duo, "#filter-channel") and not visible(duo, "#kiosk-clock")
    assert duo.get_logs() == []


def wall_expectations(raw, warehouse) -> tuple[dict, dict, dict, list]:
    """Today's KPIs, last week's same time, the plan to date per KPI and the firing alerts, from the raw tables."""
    today = reference.kpis(raw["events"], raw["ad_spend"], *TODAY)
    week_ago = [t.replace(day=t.day - 7) for t in TODAY]
    before = reference.kpis(raw["events"], raw["ad_spend"], *week_ago)
    # Spend's plan: November's budgets spread evenly over the month, for the 14 h 37 min of the range.
    with warehouse.driver_connection() as conn:
        november = conn.execute("SELECT sum(planned) FROM budgets WHERE month = DATE '2026-11-01'").fetchone()[0]
        targets = dict(conn.execute("SELECT kpi, target FROM targets WHERE month = DATE '2026-11-01'").fetchall())
        firing = conn.execute("SELECT rule_name FROM alert_states WHERE state = 'firing'").fetchall()
    plans = {"spend": november * (TODAY[1] - TODAY[0]).total_seconds() / (30 * 86400),
             "conversion_rate": targets["conversion_rate"], "roas": targets["roas"]}
    # Revenue's and orders': a day's share of November's target, times the share of the same day last
    # week's total that was in by 14:37 (the 14:00 hour counted for 37 of its 60 minutes).
    purchases = raw["events"][raw["events"].type == "purchase"].drop_duplicates("order_id")
    last_week = purchases[(purchases.ts >= week_ago[0]) & (purchases.ts < week_ago[0] + pd.Timedelta(days=1))]
    cut = week_ago[1]
    hour = (last_week.ts >= cut.replace(minute=0)) & (last_week.ts < cut.replace(minute=0) + pd.Timedelta(hours=1))
    for kpi, weights in (("revenue", last_week.revenue), ("orders", pd.Series(1.0, index=last_week.index))):
        done = (weights[last_week.ts < cut.replace(minute=0)].sum() + weights[hour].sum() * cut.minute / 60) / weights.sum()
        plans[kpi] = targets[kpi] / 30 * done
    return today, before, plans, firing


def test_the_wall_shows_today_against_last_week_and_plan_as_the_raw_tables_say(start_pulse, raw, warehouse):
    duo = start_pulse("/wall?" + TODAY_QUERY)
    today, before, plans, firing = wall_expectations(raw, warehouse)
    shown = {"revenue": formatting.money, "orders": formatting.integer, "conversion_rate": formatting.percent,
             "spend": formatting.money, "roas": formatting.ratio}
    for kpi, fmt in shown.items():
        selector = f'#\\{{\\"kpi\\"\\:\\"{kpi}\\"\\,\\"type\\"\\:\\"wall-value\\"\\}}'
        duo.wait_for_text_to_equal(selector, fmt(today[kpi]), timeout=30)
        change = today[kpi] / before[kpi] - 1
        assert duo.find_element(selector.replace("wall-value", "wall-change")).text == (
            formatting.change(change) + " vs last week"), kpi
    for kpi, plan in plans.items():
        selector = f'#\\{{\\"kpi\\"\\:\\"{kpi}\\"\\,\\"type\\"\\:\\"wall-plan\\"\\}}'
        assert duo.find_element(selector).text == (
            f"{formatting.change(today[kpi] / plan - 1)} vs plan ({shown[kpi](plan)})"), kpi
    top = duo.find_element("#wall-top-alert").text
    assert (firing[0][0] in top) if firing else (top == "No alert firing")
    assert duo.get_logs() == []


def test_the_playlist_moves_through_its_views_without_reloading(start_pulse):
    duo = start_pulse("/wall?kiosk=1&interval=5&playlist=wall,monitoring,funnel&" + TODAY_QUERY)
    duo.wait_for_element("#wall-numbers .card", timeout=30)
    duo.driver.execute_script("window.notReloaded = true;")
    seen = []
    for path in ("/", "/funnel", "/wall"):
        until(lambda: duo.driver.current_url.split("?")[0] == duo.server.url + path, timeout=15)
        seen.append(path)
        assert "playlist=wall,monitoring,funnel" in duo.driver.current_url and "kiosk=1" in duo.driver.current_url
        assert duo.driver.execute_script("return window.notReloaded === true")  # the same page, navigated
        assert duo.driver.execute_script("return document.documentElement.classList.contains('kiosk')")
    assert seen == ["/", "/funnel", "/wall"]
    duo.wait_for_element("#wall-numbers .card", timeout=30)


def test_a_server_restart_ends_with_fresh_numbers_and_no_reload(dash_duo, warehouse_path, tmp_path):
    shutil.copy(warehouse_path, tmp_path / "pulse.duckdb")
    server = PulseProcess(tmp_path).start()
    try:
        duo = dash_duo
        full_hd(duo)
        duo.driver.get(server.url + "/wall?kiosk=1&refresh=2&" + TODAY_QUERY)
        duo.wait_for_element("#wall-numbers .card", timeout=30)
        duo.driver.execute_script("window.notReloaded = true;")
        until(lambda: duo.find_element("#wall-as-of-text").text.startswith("Updated"), timeout=20)
        revenue = duo.find_element("#wall-numbers .wall-value").text
        server.kill()
        killed_at = time.time()
        until(lambda: "Reconnecting" in duo.find_element("#connection-badge").text, timeout=20)
        assert "stale since" in duo.find_element("#connection-badge").text
        assert duo.find_element("#wall-numbers .wall-value").text == revenue   # the last numbers stay up
        time.sleep(max(0.0, 5 - (time.time() - killed_at)))
        before = duo.find_element("#wall-as-of-text").text
        server.start()
        back = time.monotonic()
        until(lambda: duo.find_element("#wall-as-of-text").text != before
              and not duo.find_element("#connection-badge").text, timeout=30)
        assert time.monotonic() - back <= 30
        assert duo.find_element("#wall-numbers .wall-value").text == revenue
        assert duo.driver.execute_script("return window.notReloaded === true")
    finally:
        server.stop()
