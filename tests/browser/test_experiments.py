"""The experiments page in a real browser: its counts equal pandas over the raw events, its pickers write
the URL, sequential mode widens the interval, a broken split warns above the verdict, and bad parameters
name the field."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse
from urllib.request import urlopen

import pandas as pd
from dash.testing.wait import until
from selenium.webdriver.support.ui import Select

from app import create_app
from components import formatting
from data.warehouse import Warehouse
from data.writer import make_writer
from tests import reference
from tests.browser.conftest import PORT

# Absolute dates covering the session warehouse's run of checkout_redesign (to= a date: through that day).
RANGE = ("2026-10-20", "2026-11-20")
QUERY = f"experiment=checkout_redesign&from={RANGE[0]}&to={RANGE[1]}"
CI = re.compile(r"CI (-?[\d.]+)% to (-?[\d.]+)%")


def expected_counts(warehouse, raw, metric: str = "purchase"):
    """Users and conversions per variant, and the users excluded, by pandas over the raw events."""
    with warehouse.driver_connection() as conn:
        start_ts = conn.execute("SELECT start_ts FROM experiments WHERE name = 'checkout_redesign'").fetchone()[0]
    lo, hi = datetime.fromisoformat(RANGE[0]), datetime.fromisoformat(RANGE[1]) + timedelta(days=1)
    summary, multi, _ = reference.experiment_counts(raw["events"], "checkout_redesign", max(lo, start_ts), hi, metric)
    return summary, multi


def cell(duo, variant: str, column: str) -> str:
    return duo.find_element(f"#variant-grid .ag-row[row-id='{variant}'] .ag-cell[col-id='{column}']").text


def wait_for_counts(duo, summary):
    for variant, row in summary.iterrows():
        duo.wait_for_text_to_equal(f"#variant-grid .ag-row[row-id='{variant}'] .ag-cell[col-id='conversions']",
                                   formatting.integer(row.conversions), timeout=20)
        assert cell(duo, variant, "users") == formatting.integer(row.users)


def interval(verdict: str) -> tuple[float, float]:
    low, high = CI.search(verdict).groups()
    return float(low), float(high)


def choose(duo, selector: str, value: str):
    Select(duo.find_element(selector)).select_by_value(value)


def query_of_url(url: str) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()}


def query_of(duo) -> dict:
    return query_of_url(duo.driver.current_url)


def test_variant_counts_equal_pandas_and_the_verdict_shows(start_pulse, warehouse, raw):
    duo = start_pulse("/experiments?" + QUERY)
    summary, multi = expected_counts(warehouse, raw)
    assert list(summary.index) == ["A", "B"] and summary.users.min() > 1000
    wait_for_counts(duo, summary)
    assert cell(duo, "A", "weight") == "50%" and cell(duo, "B", "weight") == "50%"
    assert query_of(duo) == query_of_url("?" + QUERY)  # showing a view does not rewrite its link
    assert duo.find_element("#multi-variant-users").text.startswith(formatting.integer(multi) + " users")
    verdict = duo.find_element("#experiment-verdict").text
    assert re.search(r"B converts [\d.]+% (better|worse) \(95% CI .+\), chance to beat A", verdict), verdict
    assert "Fixed horizon" in duo.find_element("#mode-description").text
    assert not duo.find_elements("#srm-warning")  # a random 50/50 split
    duo.wait_for_element("#variant-funnels .main-svg", timeout=20)
    assert len(duo.find_elements("#variant-funnels .bars .point")) == 2 * 5  # two variants, five steps
    assert duo.get_logs() == []


def test_the_json_link_returns_the_pages_numbers(start_pulse, warehouse, raw):
    duo = start_pulse("/experiments?" + QUERY + "&device=mobile,desktop")
    duo.wait_for_element("#variant-grid .ag-row[row-id='B']", timeout=20)
    link = duo.find_element("#experiment-json").get_attribute("href")
    assert urlparse(link).path == "/api/v1/experiments/checkout_redesign"
    assert {"metric": "purchase", "mode": "fixed", "device": "mobile,desktop"}.items() <= query_of_url(link).items()
    with urlopen(link) as response:
        body = json.load(response)
    for row in body["variants"]:
        assert cell(duo, row["variant"], "users") == formatting.integer(row["users"])
        assert cell(duo, row["variant"], "conversions") == formatting.integer(row["conversions"])
    assert [r["verdict"] for r in body["variants"][1:]] == \
        duo.find_element("#experiment-verdict").text.split("\n")
    assert duo.get_logs() == []


def test_sequential_mode_writes_the_url_says_so_and_widens_the_interval(start_pulse):
    duo = start_pulse("/experiments?" + QUERY)
    duo.wait_for_contains_text("#experiment-verdict", "95% CI", timeout=20)
    fixed = interval(duo.find_element("#experiment-verdict").text)
    choose(duo, "#mode-picker", "sequential")
    until(lambda: query_of(duo).get("mode") == "sequential", timeout=10)
    duo.wait_for_contains_text("#experiment-verdict", "95% sequential CI", timeout=20)
    assert "Sequential (always valid)" in duo.find_element("#mode-description").text
    sequential = interval(duo.find_element("#experiment-verdict").text)
    assert sequential[0] < fixed[0] and sequential[1] > fixed[1]
    assert query_of(duo)["experiment"] == "checkout_redesign" and query_of(duo)["from"] == RANGE[0]
    assert duo.get_logs() == []


def test_changing_the_metric_writes_the_url_and_changes_the_numbers(start_pulse, warehouse, raw):
    duo = start_pulse("/experiments?" + QUERY)
    purchases, _ = expected_counts(warehouse, raw)
    wait_for_counts(duo, purchases)
    choose(duo, "#metric-picker", "add_to_cart")
    until(lambda: query_of(duo).get("metric") == "add_to_cart", timeout=10)
    carts, _ = expected_counts(warehouse, raw, "add_to_cart")
    assert (carts.conversions > purchases.conversions).all()
    wait_for_counts(duo, carts)
    assert duo.find_element("#metric-picker").get_attribute("value") == "add_to_cart"
    assert duo.get_logs() == []


def test_a_bad_mode_names_the_field_and_value(start_pulse):
    duo = start_pulse("/experiments?" + QUERY + "&mode=banana")
    duo.wait_for_contains_text(".input-error", "mode='banana'", timeout=20)
    assert "fixed, sequential" in duo.find_element(".input-error").text
    assert duo.get_logs() == []


def test_an_unknown_experiment_names_it(start_pulse):
    duo = start_pulse("/experiments?experiment=no_such_test")
    duo.wait_for_contains_text(".input-error", "experiment='no_such_test'", timeout=20)
    assert duo.get_logs() == []


def test_navbar_lists_experiments_after_funnel(start_pulse):
    duo = start_pulse("/funnel?from=2026-11-13&to=2026-11-20")
    names = [link.text for link in duo.find_elements("#navbar .nav-link")]
    assert names == ["Monitoring", "Funnel", "Experiments", "Budget", "Alerts", "Wall"]
    duo.find_element("#nav-experiments").click()
    duo.wait_for_element("#variant-grid", timeout=20)  # the most recent experiment, by default
    assert duo.find_element("#experiment-picker").get_attribute("value") == "checkout_redesign"
    assert duo.get_logs() == []


# ---------------------------------------------------------------------------------- a broken split

T0 = datetime(2026, 11, 2, 9)


def exposures(users_per_variant: dict[str, int], converted_every: int) -> pd.DataFrame:
    """One exposed page view per user, 7 s apart; every `converted_every`-th user also purchases."""
    rows = []
    for variant, count in users_per_variant.items():
        for i in range(count):
            user, ts = f"{variant}-u{i}", T0 + timedelta(seconds=7 * i)
            session = dict(user_id=user, session_id=f"{variant}-s{i}", channel="email", campaign="(none)",
                           device="desktop", region="DE", experiment="srm_test", variant=variant)
            rows.append(dict(event_id=f"{variant}-v{i}", ts=ts, type="page_view", page="/", revenue=None,
                             order_id=None, **session))
            if i % converted_every == 0:
                rows.append(dict(event_id=f"{variant}-p{i}", ts=ts + timedelta(minutes=3), type="purchase",
                                 page="/checkout", revenue=40.0, order_id=f"{variant}-o{i}", **session))
    frame = pd.DataFrame(rows)
    frame["ts"] = frame["ts"].astype("datetime64[us]")
    frame["revenue"] = frame["revenue"].astype(float)
    return frame


def test_a_sample_ratio_mismatch_warns_above_the_verdict(dash_duo, tmp_path):
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")  # its own: 5000 vs 5400 at 50/50
    with warehouse.driver_connection() as conn:
        conn.execute("INSERT INTO experiments VALUES ('srm_test', 'A broken split', 'A', ?, NULL)", [T0])
        conn.execute("INSERT INTO experiment_variants VALUES ('srm_test', 'A', 0.5), ('srm_test', 'B', 0.5)")
    writer = make_writer(warehouse)
    writer.write("events", exposures({"A": 5000, "B": 5400}, converted_every=20))
    writer.stop()
    dash_duo.start_server(create_app(warehouse, data_dir=tmp_path), port=PORT, navigate=False)
    duo = dash_duo
    duo.wait_for_page(url=duo.server.url + "/experiments?experiment=srm_test&from=2026-11-01&to=2026-11-03",
                      timeout=20)
    duo.wait_for_element("#srm-warning", timeout=20)
    warning, verdict = duo.find_element("#srm-warning"), duo.find_element("#experiment-verdict")
    assert "5,000 / 5,400" in warning.text and "50% / 50%" in warning.text
    assert "alert-danger" in warning.get_attribute("class")
    assert warning.location["y"] < verdict.location["y"]
    assert cell(duo, "A", "users") == "5,000" and cell(duo, "B", "users") == "5,400"
    assert cell(duo, "A", "conversions") == "250" and cell(duo, "B", "conversions") == "270"
    assert duo.get_logs() == []
    warehouse.dispose()


def test_a_choice_made_while_the_view_redraws_is_kept(start_pulse):
    """The statistics chosen on the pickers still shown while the view redraws for a new conversion step:
    both stay in the URL and the view."""
    from tests.browser.permalink import choose_while_redrawing, settled

    duo = start_pulse("/experiments?" + QUERY)
    duo.wait_for_element("#variant-grid .ag-row", timeout=30)
    settled(duo)
    choose_while_redrawing(duo, ("metric-picker", "add_to_cart"), ("mode-picker", "sequential"), "metric=add_to_cart")
    settled(duo)
    settled(duo)
    assert query_of(duo)["metric"] == "add_to_cart" and query_of(duo).get("mode") == "sequential"
    assert Select(duo.find_element("#metric-picker")).first_selected_option.get_attribute("value") == "add_to_cart"
    assert Select(duo.find_element("#mode-picker")).first_selected_option.get_attribute("value") == "sequential"
    assert duo.get_logs() == []
