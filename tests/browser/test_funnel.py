"""The funnel view in a real browser: its numbers are the brute-force reference's, its controls write the
URL and the view follows, and the drop-off list downloads as the reference's rows."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pandas as pd
from dash.testing.wait import until
from selenium.webdriver.support.ui import Select

from tests import reference
from tests.browser.permalink import choose_while_redrawing
from tests.conftest import END

DAY = (END - timedelta(days=1), END)
QUERY = f"from={DAY[0]:%Y-%m-%dT%H:%M:%S}Z&to={DAY[1]:%Y-%m-%dT%H:%M:%S}Z"
STEPS = ("page_view", "add_to_cart", "purchase")


def expected(raw, steps=STEPS, window=timedelta(hours=1), count="sessions", **dims):
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    entities = reference.funnel_entities(raw["events"], *DAY, steps, count, window, "indirect", now, **dims)
    return entities, [row["reached"] for row in reference.funnel_counts(entities, len(steps))]


def reached(duo) -> list[int]:
    """The steps table's "Reached" column, read in one go (the grid re-renders as the view follows the URL)."""
    texts = duo.driver.execute_script("""
        return Array.from(document.querySelectorAll('#funnel-table .ag-row'))
            .filter(row => row.querySelector("[col-id='reached']"))
            .sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))
            .map(row => row.querySelector("[col-id='reached']").innerText);""")
    return [int(text.replace(",", "")) for text in texts]


def query_of(duo) -> dict:
    return parse_qs(urlparse(duo.driver.current_url).query)


def choose(duo, selector: str, value: str):
    Select(duo.find_element(selector)).select_by_value(value)


def change(duo, selector: str, value: str, key: str, want: list[str]):
    """Choose `value` and wait for the URL to carry it (the caller waits for the view to follow)."""
    choose(duo, selector, value)
    until(lambda: query_of(duo).get(key) == want, timeout=10)


def test_the_funnel_follows_its_steps_window_and_breakdown(start_pulse, raw):
    duo = start_pulse("/funnel?" + QUERY + "&steps=" + ",".join(STEPS) + "&window=5m&count=users")
    _, counts = expected(raw, window=timedelta(minutes=5), count="users")
    assert counts[0] > counts[1] > counts[2] > 0
    until(lambda: reached(duo) == counts, timeout=20)

    change(duo, "#funnel-window", "30m", "window", ["30m"])
    _, longer = expected(raw, window=timedelta(minutes=30), count="users")
    assert longer[2] > counts[2]  # many purchase paths take longer than 5 minutes: the window matters
    until(lambda: reached(duo) == longer, timeout=20)

    change(duo, '[id=\'{"slot":1,"type":"funnel-step"}\']', "product_view", "steps", ["page_view,product_view,purchase"])
    _, counts = expected(raw, steps=("page_view", "product_view", "purchase"), window=timedelta(minutes=30),
                         count="users")
    assert counts != longer
    until(lambda: reached(duo) == counts, timeout=20)

    change(duo, "#funnel-breakdown", "device", "breakdown", ["device"])
    duo.wait_for_element("#funnel-segments .bars", timeout=20)
    note = duo.wait_for_element("#funnel-deviation", timeout=20).text
    assert any(device in note for device in ("desktop", "mobile", "tablet"))
    assert query_of(duo)["from"] == [f"{DAY[0]:%Y-%m-%dT%H:%M:%S}Z"]  # the filters stay
    assert duo.get_logs() == []


def test_the_dropoff_list_downloads_as_csv(start_pulse, raw):
    duo = start_pulse("/funnel?" + QUERY + "&steps=" + ",".join(STEPS) + "&window=1h")
    entities, counts = expected(raw)
    until(lambda: reached(duo) == counts, timeout=20)
    choose(duo, "#dropoff-step", "2")  # reached add_to_cart, not purchase
    duo.driver.execute_script("arguments[0].click();", duo.find_element("#dropoff-download"))
    until(lambda: any(name.endswith(".csv") for name in os.listdir(duo.download_path)), timeout=20)
    path = next(os.path.join(duo.download_path, n) for n in os.listdir(duo.download_path) if n.endswith(".csv"))
    until(lambda: os.path.getsize(path) > 0, timeout=10)
    rows = pd.read_csv(path)
    want = sorted(sid for sid, e in entities.items() if e["furthest"] == 2 and not e["in_progress"])
    assert len(want) > 0 and sorted(rows["session_id"]) == want
    assert set(rows.columns) >= {"session_id", "user_id", "entry_time", "step_time", "channel", "device"}
    assert duo.get_logs() == []


def test_a_bad_funnel_parameter_names_it(start_pulse):
    duo = start_pulse("/funnel?" + QUERY + "&window=forever")
    duo.wait_for_contains_text(".input-error", "window='forever'", timeout=20)
    assert duo.get_logs() == []


def settle(duo) -> None:
    """No callback running, for a while."""
    def idle():
        return duo.driver.execute_script("return !document.querySelector('[data-dash-is-loading=\"true\"]');")
    for _ in range(3):
        until(idle, timeout=30)
        time.sleep(1.5)


def test_an_option_changed_while_the_view_redraws_is_kept(start_pulse, raw):
    """A second option chosen on the controls still shown while the view redraws for the first (a person
    clicking fast): both end up in the URL and the view, not the first alone."""
    duo = start_pulse("/funnel?" + QUERY + "&steps=" + ",".join(STEPS) + "&window=1h")
    duo.wait_for_element("#funnel-table .ag-row", timeout=30)
    settle(duo)
    choose_while_redrawing(duo, ("funnel-count", "users"), ("funnel-window", "30m"), "count=users")
    settle(duo)
    assert query_of(duo).get("count") == ["users"] and query_of(duo).get("window") == ["30m"]
    assert Select(duo.find_element("#funnel-count")).first_selected_option.get_attribute("value") == "users"
    assert Select(duo.find_element("#funnel-window")).first_selected_option.get_attribute("value") == "30m"
    _, counts = expected(raw, window=timedelta(minutes=30), count="users")
    until(lambda: reached(duo) == counts, timeout=30)
    assert duo.get_logs() == []
