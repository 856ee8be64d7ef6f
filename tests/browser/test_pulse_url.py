"""assets/pulse_url.js, run in headless Chromium: the query strings the browser writes are spelt as
Filters.to_query writes them (so a permalink is the same whichever side wrote it), and numbers as Python's
`g` format."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from queries.filters import Filters

SCRIPT = Path(__file__).resolve().parents[2] / "assets" / "pulse_url.js"
NUMBERS = [0, 0.2, 0.5, 2.5, 1, 150, 1234.5678, 123456, 1234567, 0.0001, 0.00001234, 1e21, 3.14159265, 99999.95,
           999999.5, 0.30000000000000004]


@pytest.fixture
def run(dash_duo):
    """Each JavaScript expression's value, evaluated in the browser after the script."""
    dash_duo.driver.get("about:blank")

    def evaluate(calls: list[str]) -> list:
        return dash_duo.driver.execute_script(SCRIPT.read_text() + f"\nreturn [{', '.join(calls)}];")
    return evaluate


def test_a_changed_search_is_spelt_as_filters_to_query_writes_it(run):
    start = Filters(start="2026-11-01", end="now", compare="week", channel=("paid_search",),
                    extra={"steps": "page_view,purchase", "window": "1h"})
    search = "?" + start.to_query()
    cases = [
        ({"campaign": "Black Friday (US)!*'", "region": "US,EU"},
         start.with_changes(campaign=("Black Friday (US)!*'",), region=("US", "EU"))),
        ({"channel": "", "from": "now-7d", "to": "now/d"}, start.with_changes(channel=(), start="now-7d", end="now/d")),
        ({"window": "30m", "count": "users"}, start.with_changes(extra={**start.extra, "window": "30m", "count": "users"})),
        ({"window": ""}, start.with_changes(extra={"steps": "page_view,purchase"})),
    ]
    written = run([f"window.pulseSearchWith({json.dumps(search)}, {json.dumps(changes)})" for changes, _ in cases])
    assert written == ["?" + expected.to_query() for _, expected in cases]


def test_the_views_defaults_fill_in_the_time_range_and_comparison_a_url_leaves_out(run):
    defaults = Filters(start="now-7d", end="now", compare="none")
    written = run([f"window.pulseSearchWith('?device=mobile', {{refresh: '30'}}, {json.dumps(defaults.to_query())})",
                   "window.pulseSearchWith('?from=now-1h', {refresh: '30'}, 'from=now-24h&to=now&compare=previous')"])
    assert written == ["?" + defaults.with_changes(device=("mobile",), extra={"refresh": "30"}).to_query(),
                       "?" + Filters(start="now-1h", extra={"refresh": "30"}).to_query()]


def test_numbers_are_written_as_python_g_format(run):
    assert run([f"window.pulseNumber({json.dumps(value)})" for value in NUMBERS]) == [f"{float(v):g}" for v in NUMBERS]
