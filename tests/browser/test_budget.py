"""The budget view in a real browser: the optimizer's controls write the URL and the recommendation follows
(the numbers `queries.budget.optimize` gives for the same request); a what-if split is saved in the
warehouse and compared side by side."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlparse

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from queries import budget as q
from queries.filters import Filters
from tests.conftest import END

START = datetime(2026, 10, 30)
QUERY = f"from={START:%Y-%m-%dT%H:%M:%S}Z&to={END:%Y-%m-%dT%H:%M:%S}Z&compare=none"  # as the filter bar writes it


def query_of(duo) -> dict:
    return parse_qs(urlparse(duo.driver.current_url).query)


def cell(duo, grid_id: str, row_id: str, column: str) -> str | None:
    return duo.driver.execute_script(
        "const c = document.querySelector(arguments[0]); return c ? c.innerText : null;",
        f"#{grid_id} .ag-row[row-id='{row_id}'] [col-id='{column}']")


def money(text: str | None) -> float | None:
    return None if not text or text == "–" else float(text.replace("$", "").replace(",", ""))


def expected_plan(warehouse, **body) -> dict:
    _, result = q.optimize(warehouse, Filters(), START, END, q.OptimizeRequest(**body))
    return {r.channel: r for r in result.channels.itertuples()}


def plan_matches(duo, plan: dict) -> bool:
    for channel, row in plan.items():
        shown = money(cell(duo, "budget-plan", channel, "recommended_spend"))
        if shown is None or abs(shown - row.recommended_spend) > 0.51:     # shown to the whole currency unit
            return False
    return True


def type_into(duo, selector: str, text: str):
    """Type into a box and press Enter, again if the view was drawn anew under the typing (a URL change)."""
    def attempt():
        try:
            box = duo.find_element(selector)
            box.clear()
            box.send_keys(text + Keys.ENTER)
            return True
        except StaleElementReferenceException:
            return False
    until(attempt, timeout=20)


def test_scenario_and_bounds_follow_the_url(start_pulse, warehouse):
    duo = start_pulse("/budget?" + QUERY)
    duo.wait_for_element("#budget-message", timeout=30)
    until(lambda: plan_matches(duo, expected_plan(warehouse)), timeout=30)
    # Nothing was asked of the what-if form yet, so it has nothing to complain about.
    assert not [a.text for a in duo.find_elements(".alert") if "Cannot show" in a.text]

    Select(duo.find_element("#budget-scenario")).select_by_value("target_roas")
    until(lambda: query_of(duo).get("scenario") == ["target_roas"], timeout=10)
    duo.wait_for_element("#budget-target", timeout=20)
    type_into(duo, "#budget-target", "2.5")

    until(lambda: query_of(duo).get("target") == ["2.5"], timeout=10)
    target_plan = expected_plan(warehouse, scenario="target_roas", target_roas=2.5)
    until(lambda: plan_matches(duo, target_plan), timeout=30)

    duo.find_element("#budget-attribution")  # the page is drawn again from the URL; open the bounds
    duo.driver.execute_script("document.querySelector('details').open = true;")
    type_into(duo, '[id=\'{"channel":"paid_search","type":"budget-max"}\']', "1.1x")
    until(lambda: query_of(duo).get("bounds") == ["paid_search::1.1x"], timeout=10)
    bounded = expected_plan(warehouse, scenario="target_roas", target_roas=2.5, bounds={"paid_search": [None, "1.1x"]})
    until(lambda: plan_matches(duo, bounded), timeout=30)
    search = bounded["paid_search"]
    assert search.recommended_spend <= 1.1 * search.current_spend
    assert query_of(duo)["from"] == [f"{START:%Y-%m-%dT%H:%M:%S}Z"]   # the filters stay
    assert duo.get_logs() == []


def test_a_what_if_split_is_saved_and_compared(start_pulse, warehouse):
    duo = start_pulse("/budget?" + QUERY)
    duo.wait_for_element("#budget-message", timeout=30)
    box = '[id=\'{"channel":"affiliate","type":"budget-whatif"}\']'
    duo.wait_for_element(box, timeout=20)
    responses = q.responses_for(warehouse, Filters(), START, END, q.OptimizeRequest())
    # the other inputs show current spend to the cent
    spend = {c: round(f.current_spend, 2) for c, f in responses.fits.items()} | {"affiliate": 150.0}
    predicted = sum(float(f.curve.outcome(spend[c])) for c, f in responses.fits.items())
    type_into(duo, box, "150")
    until(lambda: f"{predicted:,.0f}" in duo.find_element("#budget-whatif-result").text, timeout=20)

    type_into(duo, "#budget-scenario-name", "more affiliate")
    duo.driver.execute_script("arguments[0].click();", duo.find_element("#budget-save"))
    until(lambda: query_of(duo).get("scenarios") == ["more affiliate"], timeout=20)
    until(lambda: money(cell(duo, "budget-comparison", "Affiliate", "more affiliate")) == 150.0, timeout=30)
    stored = q.saved_scenarios(warehouse, "attribution", None)["more affiliate"]
    assert stored["affiliate"] == 150.0
    assert money(cell(duo, "budget-comparison", "Predicted outcome", "more affiliate")) == round(predicted)
    assert duo.get_logs() == []


# A second setting made on the controls still shown while the view redraws for the first (a person clicking
# fast): (first, second) as tests/browser/permalink.py's race takes them, the URL's marker of the first, the
# URL keys both leave, and the optimizer request they make.
LOCK = '{"channel":"display","type":"budget-lock"}'
SEARCH_MAX = '{"channel":"paid_search","type":"budget-max"}'
RACES = {
    "attribution, then max change": (("select", "budget-attribution", "linear"), ("props", "budget-max-change", 0.2),
                                     "attribution=linear", {"attribution": "linear", "max_change": "0.2"},
                                     {"attribution": "linear", "max_change": 0.2}),
    "max change, then a lock": (("props", "budget-max-change", 0.2), ("click", LOCK, None), "max_change=0.2",
                                {"max_change": "0.2", "locked": "display"}, {"max_change": 0.2, "locked": ["display"]}),
    "a lock, then a bound": (("click", LOCK, None), ("props", SEARCH_MAX, "1.2x"), "locked=display",
                             {"locked": "display", "bounds": "paid_search::1.2x"},
                             {"locked": ["display"], "bounds": {"paid_search": [None, "1.2x"]}}),
    "max change, then the scenario": (("props", "budget-max-change", 0.2), ("select", "budget-scenario", "target_roas"),
                                      "max_change=0.2", {"max_change": "0.2", "scenario": "target_roas"}, None),
}


@pytest.mark.parametrize("race", RACES, ids=list(RACES))
def test_a_setting_changed_while_the_view_redraws_is_kept(start_pulse, warehouse, race):
    from tests.browser.permalink import choose_while_redrawing, settled
    first, second, marker, keys, request = RACES[race]
    duo = start_pulse("/budget?" + QUERY)
    duo.wait_for_element("#budget-plan .ag-row", timeout=30)
    settled(duo)
    choose_while_redrawing(duo, first, second, marker)
    settled(duo)
    assert {k: query_of(duo).get(k) for k in keys} == {k: [v] for k, v in keys.items()}
    assert query_of(duo)["from"] == [f"{START:%Y-%m-%dT%H:%M:%S}Z"]   # the filters stay
    controls = duo.driver.execute_script("""
        const value = id => { const el = document.getElementById(id); return el ? el.value : null; };
        const lock = document.getElementById(arguments[0]);
        return {attribution: value('budget-attribution'), scenario: value('budget-scenario'),
                max_change: value('budget-max-change'), bound: value(arguments[1]), locked: lock && lock.checked};""",
        LOCK, SEARCH_MAX)
    assert controls["attribution"] == keys.get("attribution", "last_click")
    assert controls["scenario"] == keys.get("scenario", "max_response")
    assert controls["max_change"] == keys.get("max_change", f"{q.DEFAULT_MAX_CHANGE:g}")
    assert controls["locked"] is ("locked" in keys)
    assert controls["bound"] == ("1.2x" if "bounds" in keys else "")
    if request:
        until(lambda: plan_matches(duo, expected_plan(warehouse, **request)), timeout=30)
    else:   # a target scenario without its target yet: the view asks for it
        duo.wait_for_contains_text("#budget-message", "Give a target ROAS", timeout=20)
    assert duo.get_logs() == []
