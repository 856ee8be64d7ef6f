"""assets/pulse_url.js, run in Node: the query strings the browser writes are spelt as Filters.to_query writes
them (so a permalink is the same whichever side wrote it), and numbers as Python's `g` format."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from queries.filters import Filters

SCRIPT = Path(__file__).resolve().parents[2] / "assets" / "pulse_url.js"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node to run the browser's script")


def run(calls: list[str]) -> list[str]:
    """Each JavaScript expression's value, evaluated after the script (`window` is Node's global object)."""
    program = f"globalThis.window = globalThis;\n{SCRIPT.read_text()}\nconsole.log(JSON.stringify([{', '.join(calls)}]));"
    return json.loads(subprocess.run(["node", "-e", program], capture_output=True, text=True, check=True).stdout)


def test_a_changed_search_is_spelt_as_filters_to_query_writes_it():
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


def test_the_views_defaults_fill_in_the_time_range_and_comparison_a_url_leaves_out():
    defaults = Filters(start="now-7d", end="now", compare="none")
    written = run([f"window.pulseSearchWith('?device=mobile', {{refresh: '30'}}, {json.dumps(defaults.to_query())})",
                   "window.pulseSearchWith('?from=now-1h', {refresh: '30'}, 'from=now-24h&to=now&compare=previous')"])
    assert written == ["?" + defaults.with_changes(device=("mobile",), extra={"refresh": "30"}).to_query(),
                       "?" + Filters(start="now-1h", extra={"refresh": "30"}).to_query()]


@pytest.mark.parametrize("value", [0, 0.2, 0.5, 2.5, 1, 150, 1234.5678, 123456, 1234567, 0.0001, 0.00001234, 1e21,
                                   3.14159265, 99999.95, 999999.5, 0.30000000000000004])
def test_numbers_are_written_as_python_g_format(value):
    assert run([f"window.pulseNumber({json.dumps(value)})"]) == [f"{float(value):g}"]
