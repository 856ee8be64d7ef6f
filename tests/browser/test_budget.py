"""The budget view in a real browser: the optimizer's controls write the URL and the recommendation follows
(the numbers `queries.budget.optimize` gives for the same request); a what-if split is saved in the
warehouse and compared side by side."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlparse

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
