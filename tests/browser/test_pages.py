"""Each page in a real browser: it shows the warehouse's numbers, follows its URL, and logs no errors."""
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pandas as pd
from dash.testing import errors as dash_errors
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains

from components import formatting
from tests import reference
from tests.conftest import END

# Absolute ranges, so what the page shows does not depend on the clock of the test machine.
WEEK = (END - timedelta(days=7), END)
WEEK_QUERY = f"from={WEEK[0]:%Y-%m-%dT%H:%M:%S}Z&to={WEEK[1]:%Y-%m-%dT%H:%M:%S}Z"


def text_of(duo, selector: str) -> str:
    return duo.find_element(selector).text


def kpi_selector(kpi: str) -> str:
    return f'[id=\'{{"kpi":"{kpi}","type":"kpi-value"}}\']'


def test_monitoring_shows_the_warehouse_kpis(start_pulse, raw):
    duo = start_pulse("/?" + WEEK_QUERY)
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK)
    duo.wait_for_text_to_equal(kpi_selector("sessions"), formatting.integer(expected["sessions"]), timeout=20)
    assert text_of(duo, kpi_selector("orders")) == formatting.integer(expected["orders"])
    assert text_of(duo, kpi_selector("revenue")) == formatting.money(expected["revenue"])
    assert text_of(duo, kpi_selector("conversion_rate")) == formatting.percent(expected["conversion_rate"])
    assert text_of(duo, kpi_selector("spend")) == formatting.money(expected["spend"])
    assert text_of(duo, kpi_selector("roas")) == formatting.ratio(expected["roas"])
    assert duo.get_logs() == []


def test_changing_a_filter_writes_the_url_and_updates_the_tiles(start_pulse, raw):
    duo = start_pulse("/?" + WEEK_QUERY)
    duo.wait_for_element(kpi_selector("sessions"), timeout=20)
    duo.select_dcc_dropdown("#filter-device", value="Mobile")
    until(lambda: "device=mobile" in duo.driver.current_url, timeout=10)
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK, device=("mobile",))
    duo.wait_for_text_to_equal(kpi_selector("sessions"), formatting.integer(expected["sessions"]), timeout=20)
    query = parse_qs(urlparse(duo.driver.current_url).query)
    assert query["device"] == ["mobile"] and query["from"] == [f"{WEEK[0]:%Y-%m-%dT%H:%M:%S}Z"]
    assert text_of(duo, kpi_selector("spend")) == formatting.MISSING  # spend is not split by device
    assert duo.get_logs() == []


def test_a_link_with_filters_restores_the_view(start_pulse, raw):
    dims = {"channel": ("paid_search", "email"), "region": ("US",)}
    duo = start_pulse("/?" + WEEK_QUERY + "&channel=paid_search,email&region=US&compare=week")
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK, **dims)
    duo.wait_for_text_to_equal(kpi_selector("sessions"), formatting.integer(expected["sessions"]), timeout=20)
    # Dash 4's multi-select shows the first choice and a count; the tiles above prove both apply.
    assert duo.find_element("#filter-channel").text.split("\n") == ["Paid search", "2 selected"]
    assert duo.find_element("#filter-region").text.split("\n") == ["US"]
    assert "week" in duo.find_element("#filter-compare").text.lower()
    assert duo.get_logs() == []


def test_budget_page_shows_spend_by_channel(start_pulse, raw):
    duo = start_pulse("/budget?" + WEEK_QUERY)
    rows = reference.spend(raw["ad_spend"], *WEEK)
    cost = (rows.cost * rows.share).groupby(rows.channel).sum()
    duo.wait_for_element("#budget-channels .ag-row", timeout=20)
    grid_text = duo.find_element("#budget-channels").text
    labels = raw["channels"].set_index("name").label
    for channel, amount in cost.items():
        assert labels[channel] in grid_text
        assert f"${amount:,.0f}" in grid_text
    assert duo.get_logs() == []


def test_navbar_links_reach_every_page(start_pulse):
    duo = start_pulse("/?" + WEEK_QUERY)
    for link, marker in (("#nav-funnel", "#funnel-chart"), ("#nav-budget", "#budget-channels"),
                         ("#nav-monitoring", "#kpi-row")):
        duo.find_element(link).click()
        duo.wait_for_element(marker, timeout=20)
    assert duo.get_logs() == []


def test_a_view_opened_without_parameters_is_drawn_once_with_its_own_defaults(start_pulse):
    """The funnel, budget and experiments views default to other ranges than the filter bar's own (7 and
    90 days); their controls, drawn with those defaults, must not count as a change and navigate (which
    drew the whole view a second time)."""
    duo = start_pulse("/funnel")
    for path, marker in (("/funnel", "#funnel-chart .bars .point path"), ("/budget", "#budget-channels .ag-row"),
                         ("/experiments", "#variant-grid .ag-row")):
        duo.driver.get(duo.server.url + path)
        duo.wait_for_element(marker, timeout=30)
        time.sleep(1.5)  # the filter bar's callbacks have answered by now
        assert duo.driver.current_url == duo.server.url + path, path
        assert duo.driver.execute_script("return window.performance.getEntriesByType('navigation').length") == 1
    assert duo.get_logs() == []


def test_a_bad_url_parameter_names_the_field(start_pulse):
    duo = start_pulse("/?from=yesterday-ish")
    duo.wait_for_contains_text(".input-error", "from='yesterday-ish'", timeout=20)
    assert duo.get_logs() == []


def test_monitoring_charts_and_campaigns_show_the_range(start_pulse, raw):
    duo = start_pulse("/?" + WEEK_QUERY)
    for chart in ("#chart-revenue", "#chart-sessions", "#chart-conversion", "#chart-mix"):
        duo.wait_for_element(chart + " .main-svg", timeout=20)
    duo.wait_for_element("#campaign-grid .ag-row", timeout=20)
    chosen = reference.scoped(raw["events"], *WEEK)
    best = chosen[chosen.type == "purchase"].groupby("session_campaign").revenue.sum().idxmax()
    first_row = duo.find_element("#campaign-grid .ag-row[row-index='0']").text
    assert best in first_row  # sorted by revenue, the top campaign first
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK)
    assert text_of(duo, kpi_selector("bounce_rate")) == formatting.percent(expected["bounce_rate"])
    assert text_of(duo, kpi_selector("cac")) == formatting.money(expected["cac"])
    assert duo.get_logs() == []


def test_auto_refresh_picks_up_new_events_without_a_reload(dash_duo, tmp_path):
    from datetime import datetime, timezone
    import pandas as pd
    from app import create_app
    from data.warehouse import Warehouse
    from data.writer import make_writer

    warehouse = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")  # its own: this test writes
    dash_duo.start_server(create_app(warehouse, data_dir=tmp_path))
    duo = dash_duo
    duo.wait_for_page(url=duo.server_url + "/?from=now-5m&to=now%2B5m&compare=none&refresh=5", timeout=20)
    duo.wait_for_text_to_equal(kpi_selector("sessions"), "0", timeout=20)
    marker = duo.find_element("#navbar")  # the same element must survive: no page reload
    now = pd.Timestamp(datetime.now(timezone.utc).replace(tzinfo=None)).as_unit("us")
    rows = pd.DataFrame([{"event_id": f"refresh-{i}", "ts": now, "type": "page_view", "user_id": f"ru{i}",
                          "session_id": f"refresh-s{i}", "channel": "email", "campaign": "(none)",
                          "device": "desktop", "region": "DE", "page": "/", "revenue": None,
                          "order_id": None, "experiment": None, "variant": None} for i in range(3)])
    rows["revenue"] = rows["revenue"].astype(float)
    writer = make_writer(warehouse)
    writer.write("events", rows)
    writer.stop()
    duo.wait_for_text_to_equal(kpi_selector("sessions"), "3", timeout=20)
    assert marker.is_displayed()  # would raise StaleElementReferenceException after a reload
    assert duo.get_logs() == []
    warehouse.dispose()


def test_clicking_a_channel_in_a_chart_filters_by_it(start_pulse, raw):
    duo = start_pulse("/?" + WEEK_QUERY)
    # The parts arrive separately: wait for the tiles too, so nothing moves the chart after we aim.
    duo.wait_for_element(kpi_selector("sessions"), timeout=20)
    duo.wait_for_element("#chart-mix .bars .point path", timeout=20)
    chosen = reference.scoped(raw["events"], *WEEK)
    top = chosen[chosen.type == "purchase"].groupby("session_channel").revenue.sum().idxmax()
    def click_the_largest_bar() -> bool:
        """Bars are sorted by revenue, the largest last (drawn at the top). Plotly hit-tests clicks on its
        drag layer above the bars, so click at the bar's position rather than on the element itself. A
        chart drawn anew under the pointer (a part arriving late on a busy machine) misses one click: the
        bar is found and clicked again."""
        try:
            bars = duo.find_elements("#chart-mix .bars .point path")
            duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", bars[-1])
            ActionChains(duo.driver).move_to_element(bars[-1]).click().perform()
            until(lambda: f"channel={top}" in duo.driver.current_url, timeout=4)
            return True
        except (dash_errors.TestingTimeoutError, StaleElementReferenceException, IndexError):
            return False
    until(click_the_largest_bar, timeout=30)
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK, channel=(top,))
    duo.wait_for_text_to_equal(kpi_selector("sessions"), formatting.integer(expected["sessions"]), timeout=20)
    assert duo.get_logs() == []


def test_an_annotation_added_on_the_page_is_stored_and_drawn(dash_duo, tmp_path, warehouse_path):
    import shutil
    from app import create_app
    from data.warehouse import Warehouse

    shutil.copy(warehouse_path, tmp_path / "pulse.duckdb")  # its own copy: this test writes
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")
    dash_duo.start_server(create_app(warehouse, timezone="Europe/Berlin", data_dir=tmp_path))
    duo = dash_duo
    duo.wait_for_page(url=duo.server_url + "/?" + WEEK_QUERY, timeout=20)
    duo.wait_for_element("#chart-revenue .scatterlayer .trace", timeout=20)  # the figure has arrived
    before = len(duo.find_elements("#chart-revenue .shapelayer path"))

    summary = duo.find_element("details summary")
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", summary)
    # A datetime-local input is typed in the browser's locale; set it as React expects a user's input.
    duo.driver.execute_script(
        "const el = document.getElementById('annotation-ts');"
        "Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, '2026-11-18T10:30');"
        "el.dispatchEvent(new Event('input', {bubbles: true}));")
    duo.find_element("#annotation-text").send_keys("Checkout <b>hotfix</b> deployed")
    duo.driver.execute_script("arguments[0].click();", duo.find_element("#annotation-add"))
    duo.wait_for_contains_text("#annotation-message", "Added", timeout=20)

    stored = warehouse.read("SELECT ts, kind, text, source FROM annotations WHERE text LIKE 'Checkout%'")
    # 10:30 in Berlin on 18 November (UTC+1) is 09:30 UTC.
    assert stored.to_dict("records") == [{"ts": pd.Timestamp("2026-11-18 09:30"), "kind": "incident",
                                          "text": "Checkout <b>hotfix</b> deployed", "source": "user"}]
    until(lambda: len(duo.find_elements("#chart-revenue .shapelayer path")) == before + 1, timeout=20)
    assert "hotfix" not in duo.find_element("#chart-revenue").text  # the kind labels the span; text on hover
    assert duo.get_logs() == []
    warehouse.dispose()


# -- a second choice made while the view redraws for the first (a person clicking fast) ------------------------

def _monitoring_settled(duo) -> None:
    from tests.browser.permalink import settled
    duo.wait_for_element(kpi_selector("sessions"), timeout=30)
    duo.wait_for_element("#chart-mix .bars .point path", timeout=30)
    settled(duo)


def _dropdown_text(duo, selector: str) -> str:
    """What a dcc.Dropdown shows: its (first) choice's label."""
    return duo.find_element(selector).text.split("\n")[0]


def test_a_filter_chosen_while_the_view_redraws_is_kept(start_pulse, raw):
    """A channel chosen in the filter bar still shown while the view redraws for a device: both stay in the URL,
    the dropdowns and the tiles."""
    from tests.browser.permalink import choose_while_redrawing, settled
    duo = start_pulse("/?" + WEEK_QUERY)
    _monitoring_settled(duo)
    choose_while_redrawing(duo, ("props", "filter-device", ["mobile"]), ("props", "filter-channel", ["email"]),
                           "device=mobile")
    settled(duo)
    query = parse_qs(urlparse(duo.driver.current_url).query)
    assert query.get("device") == ["mobile"] and query.get("channel") == ["email"]
    assert _dropdown_text(duo, "#filter-device") == "Mobile" and _dropdown_text(duo, "#filter-channel") == "Email"
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK, device=("mobile",), channel=("email",))
    duo.wait_for_text_to_equal(kpi_selector("sessions"), formatting.integer(expected["sessions"]), timeout=20)
    assert text_of(duo, kpi_selector("revenue")) == formatting.money(expected["revenue"])
    assert duo.get_logs() == []


def test_a_refresh_chosen_while_the_view_redraws_is_kept(start_pulse, raw):
    """The refresh menu still shown while the view redraws for a device: both stay in the URL and the controls."""
    from tests.browser.permalink import choose_while_redrawing, settled
    duo = start_pulse("/?" + WEEK_QUERY)
    _monitoring_settled(duo)
    choose_while_redrawing(duo, ("props", "filter-device", ["mobile"]), ("props", "filter-refresh", "300"),
                           "device=mobile")
    settled(duo)
    query = parse_qs(urlparse(duo.driver.current_url).query)
    assert query.get("device") == ["mobile"] and query.get("refresh") == ["300"]
    assert _dropdown_text(duo, "#filter-device") == "Mobile" and _dropdown_text(duo, "#filter-refresh") == "5 min"
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK, device=("mobile",))
    duo.wait_for_text_to_equal(kpi_selector("sessions"), formatting.integer(expected["sessions"]), timeout=20)
    assert duo.get_logs() == []


def test_a_chart_click_made_while_the_view_redraws_is_kept(start_pulse, raw):
    """The channel mix's largest bar clicked on the chart still shown while the view redraws for a device: the
    channel and the device both stay in the URL, the dropdowns and the tiles."""
    from tests.browser.permalink import choose_while_redrawing, settled
    duo = start_pulse("/?" + WEEK_QUERY)
    _monitoring_settled(duo)
    chosen = reference.scoped(raw["events"], *WEEK)
    top = chosen[chosen.type == "purchase"].groupby("session_channel").revenue.sum().idxmax()
    choose_while_redrawing(duo, ("props", "filter-device", ["mobile"]), ("chart", "chart-mix", top), "device=mobile")
    settled(duo)
    query = parse_qs(urlparse(duo.driver.current_url).query)
    assert query.get("device") == ["mobile"] and query.get("channel") == [top]
    assert _dropdown_text(duo, "#filter-device") == "Mobile"
    expected = reference.kpis(raw["events"], raw["ad_spend"], *WEEK, device=("mobile",), channel=(top,))
    duo.wait_for_text_to_equal(kpi_selector("sessions"), formatting.integer(expected["sessions"]), timeout=20)
    assert duo.get_logs() == []
