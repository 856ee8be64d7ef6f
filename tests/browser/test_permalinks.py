"""Permalinks of the monitoring, experiments and budget views (the funnel's is in test_exports.py): a view set up
through clicks, its link copied from the Link box, opened in a fresh browser session, shows every control in
the same state and every number the same (tests/browser/permalink.py reads them all from the page)."""
from __future__ import annotations

from dash.testing.wait import until
from selenium.webdriver.support.ui import Select

from tests.browser.permalink import (copy_link, fresh_session, link_box_follows_the_url, query, settled,
                                     view_state)
from tests.browser.test_budget import QUERY as BUDGET_QUERY, type_into
from tests.browser.test_exports import WEEK_QUERY, choose


def in_url(duo, key: str, value: str) -> bool:
    return value in ",".join(query(duo.driver.current_url).get(key, []))


def pick(duo, selector: str, label: str, key: str, value: str) -> None:
    """Pick `label` in a dcc.Dropdown and wait until the URL carries it and the view has redrawn."""
    duo.select_dcc_dropdown(selector, value=label)
    until(lambda: in_url(duo, key, value), timeout=15)
    settled(duo)


def pacing_plan(driver) -> list:
    """The pacing grid's columns that do not move with the clock: channel, plan, spend to date, status."""
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('#budget-pacing .ag-center-cols-container .ag-row'))
            .sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))
            .map(row => ['planned', 'spend_to_date', 'status'].map(
                c => (row.querySelector('[col-id="' + c + '"]') || {}).innerText).concat([row.getAttribute('row-id')]));""")


def reproduced(duo, tmp_path, ready: str, texts=(), skip=(), also=None) -> tuple[dict, dict]:
    """Copy the link, open it in a fresh session and compare the two views' states; the state and the link."""
    link_box_follows_the_url(duo)
    settled(duo)
    before = view_state(duo.driver, texts, skip)
    kept = also(duo.driver) if also else None
    link = copy_link(duo)
    assert query(link).items() >= query(duo.driver.current_url).items()
    with fresh_session(tmp_path, link) as fresh:
        fresh.wait_for_element(ready, timeout=30)
        settled(fresh)
        until(lambda: view_state(fresh.driver, texts, skip) == before, timeout=30,
              msg="the fresh session's view differs")
        after = view_state(fresh.driver, texts, skip)
        assert after == before
        if also:
            assert also(fresh.driver) == kept
        assert query(fresh.find_element("#permalink").get_attribute("value")) == query(link)
        assert fresh.get_logs() == []
    assert duo.get_logs() == []
    return before, query(link)


def test_monitoring_link_reproduces_filters_comparison_refresh_and_numbers(start_pulse, tmp_path):
    duo = start_pulse("/?" + WEEK_QUERY)
    duo.wait_for_element("#campaign-grid .ag-row", timeout=30)
    pick(duo, "#filter-compare", "Same time last week", "compare", "week")
    pick(duo, "#filter-channel", "Paid search", "channel", "paid_search")
    pick(duo, "#filter-channel", "Email", "channel", "email")
    pick(duo, "#filter-device", "Desktop", "device", "desktop")
    pick(duo, "#filter-refresh", "5 min", "refresh", "300")
    duo.wait_for_element("#campaign-grid .ag-row", timeout=30)
    state, link = reproduced(duo, tmp_path, "#campaign-grid .ag-row",
                       texts=('[id*="kpi-value"]', '[id*="kpi-change"]'))
    assert state["dropdowns"]["filter-compare"] == "Same time last week"
    assert "Paid search" in state["dropdowns"]["filter-channel"] and "Email" in state["dropdowns"]["filter-channel"]
    assert state["dropdowns"]["filter-refresh"] == "5 min"
    assert len(state["grids"]["campaign-grid"]["rows"]) > 1
    # the comparison period overlaid on the trends, and the 13 tiles with their changes
    assert [t["name"] for t in state["charts"]["chart-revenue"]["traces"]] == ["Email", "Paid search",
                                                                              "Comparison period"]
    assert len([k for k in state["texts"] if "kpi-value" in k]) == 13


def test_experiments_link_reproduces_the_experiment_step_statistics_and_numbers(start_pulse, tmp_path):
    duo = start_pulse("/experiments?from=2026-10-20&to=2026-11-20")
    duo.wait_for_element("#variant-grid .ag-row", timeout=30)
    choose(duo, "#metric-picker", "add_to_cart", "metric")
    choose(duo, "#mode-picker", "sequential", "mode")
    pick(duo, "#filter-device", "Mobile", "device", "mobile")
    duo.wait_for_element("#variant-grid .ag-row", timeout=30)
    state, link = reproduced(duo, tmp_path, "#variant-grid .ag-row",
                       texts=("#experiment-verdict", "#multi-variant-users", "#mode-description",
                              "#experiment-about", "#srm-warning"))
    assert state["selects"] == {"experiment-picker": "checkout_redesign", "metric-picker": "add_to_cart",
                                "mode-picker": "sequential"}
    assert "Mobile" in state["dropdowns"]["filter-device"]
    assert len(state["grids"]["variant-grid"]["rows"]) == 2 and state["texts"]["#experiment-verdict"]
    # the view's default experiment (the most recent) is named in the link, so a newer one does not change it
    assert link["experiment"] == ["checkout_redesign"] and link["mode"] == ["sequential"]


def test_budget_link_reproduces_the_model_scenario_bounds_and_numbers(start_pulse, tmp_path):
    duo = start_pulse("/budget?" + BUDGET_QUERY)
    duo.wait_for_element("#budget-message", timeout=30)
    choose(duo, "#budget-attribution", "linear", "attribution")
    choose(duo, "#budget-scenario", "target_roas", "scenario")
    type_into(duo, "#budget-target", "2.5")
    until(lambda: in_url(duo, "target", "2.5"), timeout=15)
    settled(duo)
    type_into(duo, "#budget-max-change", "0.4")
    until(lambda: in_url(duo, "max_change", "0.4"), timeout=15)
    settled(duo)
    duo.driver.execute_script("document.querySelector('details').open = true;")
    type_into(duo, '[id=\'{"channel":"paid_search","type":"budget-max"}\']', "1.2x")
    until(lambda: in_url(duo, "bounds", "paid_search::1.2x"), timeout=15)
    settled(duo)
    duo.driver.execute_script("document.querySelector('details').open = true;")
    lock = duo.find_element('[id=\'{"channel":"display","type":"budget-lock"}\']')
    duo.driver.execute_script("arguments[0].click();", lock)
    until(lambda: in_url(duo, "locked", "display"), timeout=15)
    settled(duo)
    duo.wait_for_element("#budget-plan .ag-row", timeout=30)
    # Pacing is of this month up to this instant, whatever the link: its columns that move with the clock
    # are left out of the comparison (its plan, spend to date and status are kept).
    state, link = reproduced(duo, tmp_path, "#budget-plan .ag-row",
                       texts=("#budget-message", "#budget-totals", "#budget-fit-quality", "#budget-whatif-result"),
                       skip=("#budget-pacing",), also=pacing_plan)
    assert state["selects"]["budget-attribution"] == "linear" and state["selects"]["budget-scenario"] == "target_roas"
    assert state["inputs"]["budget-target"] == "2.5" and state["inputs"]["budget-max-change"] == "0.4"
    assert state["inputs"]['{"channel":"paid_search","type":"budget-max"}'] == "1.2x"
    assert state["inputs"]['{"channel":"display","type":"budget-lock"}'] is True
    assert len(state["grids"]["budget-plan"]["rows"]) > 1


def test_wall_link_reproduces_its_range_filters_and_numbers(start_pulse, tmp_path):
    """The wall has no controls (a TV): its state is the URL's, which its Link box hands on unchanged."""
    from tests.browser.test_wall import TODAY_QUERY

    duo = start_pulse("/wall?" + TODAY_QUERY + "&channel=email,paid_search&refresh=30")
    duo.wait_for_element('[id*="wall-value"]', timeout=30)
    state, link = reproduced(duo, tmp_path, '[id*="wall-value"]',
                             texts=('[id*="wall-value"]', '[id*="wall-change"]', '[id*="wall-plan"]', "#wall-top-alert"),
                             skip=("#wall-as-of-text", "#wall-freshness"))
    assert link["channel"] == ["email,paid_search"] and link["refresh"] == ["30"] and link["compare"] == ["week"]
    assert len([k for k in state["texts"] if "wall-value" in k]) == 5
    assert [t["name"] for t in state["charts"]["wall-revenue"]["traces"]] == ["Today", "Same day last week"]
