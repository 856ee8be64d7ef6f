"""The views' figures are plain dicts (no plotly.py validation at refresh time): plotly.py must still
accept every one of them as a valid figure, with the data the page relies on."""
from datetime import timedelta

import plotly.graph_objects as go
import pytest

from components import charts
from components.formatting import EVENT_LABELS
from queries.annotations import annotations_between
from queries.channels import channel_performance
from queries.experiments import experiment_design, variant_funnels
from queries.filters import Filters
from queries.timeseries import TOTAL, timeseries
from tests.conftest import END


def test_every_figure_is_a_valid_plotly_figure(warehouse):
    start, end = END - timedelta(days=7), END
    series = timeseries(warehouse, Filters(), start, end)
    totals = series[series.channel == TOTAL]
    notes = annotations_between(warehouse, start - timedelta(days=14), end)
    assert len(notes) > 0
    figures = [
        charts.sparkline(totals["revenue"], charts.local(totals.bucket, "UTC")),
        charts.trend(series, totals, "revenue", "Revenue", {}, "Europe/Berlin", True, notes),
        charts.trend(totals.assign(channel="all"), None, "conversion_rate", "Conversion", {}, "UTC", False, notes),
        charts.channel_mix(channel_performance(warehouse, Filters(), start, end), "revenue", "Mix"),
        charts.empty(),
    ]
    for figure in figures:
        go.Figure(figure)  # raises on any unknown or ill-typed property
    stacked = figures[1]
    channels = set(series.channel) - {TOTAL}
    assert {trace["customdata"][0] for trace in stacked["data"][:-1]} == channels  # the cross-filter's key
    assert sum(stacked["data"][-1]["y"]) == pytest.approx(totals["revenue"].sum())  # the comparison line
    assert len(stacked["layout"]["shapes"]) == len(notes)


def test_variant_funnels_figure_is_valid_and_carries_the_counts(warehouse):
    design = experiment_design(warehouse, "checkout_redesign")
    table = variant_funnels(warehouse, design, Filters(), END - timedelta(days=14), END)
    figure = charts.variant_funnels(table, EVENT_LABELS, design.control)
    go.Figure(figure)
    assert [trace["name"] for trace in figure["data"]] == ["A", "B"]  # one bar group per step, a bar per variant
    control, treatment = figure["data"]
    assert control["marker"]["color"] == charts.CONTROL_COLOUR != treatment["marker"]["color"]
    assert control["x"] == ["Visit", "Product view", "Add to cart", "Checkout", "Purchase"]
    assert treatment["customdata"] == table[table.variant == "B"].users.tolist()
    assert treatment["y"][0] == 1.0 and treatment["y"] == sorted(treatment["y"], reverse=True)
