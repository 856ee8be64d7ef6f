"""The optimizer's constraints (analytics/budget.py): bounds, locks, the maximum change and the total are
never violated; infeasible combinations are refused with a message saying why; the answer is as good as a
brute-force search."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.budget import ChannelInput, InfeasibleBudget, recommend
from analytics.response import Curve
from tests.unit.test_budget import brute_force_split

curves = st.builds(Curve, decay=st.floats(0.0, 0.8), half_saturation=st.floats(10.0, 5000.0),
                   shape=st.floats(0.6, 2.8), beta=st.floats(10.0, 20000.0))


@st.composite
def problems(draw):
    n = draw(st.integers(2, 6))
    channels = []
    for i in range(n):
        current = draw(st.floats(1.0, 3000.0))
        minimum = draw(st.one_of(st.none(), st.floats(0.0, 2.0).map(lambda m: m * current)))
        maximum = draw(st.one_of(st.none(), st.floats(0.2, 4.0).map(lambda m: m * current)))
        channels.append(ChannelInput(f"c{i}", f"Channel {i}", current, draw(curves), minimum=minimum,
                                     maximum=maximum, locked=draw(st.integers(0, 4)) == 0))
    total_multiple = draw(st.floats(0.3, 2.5))
    max_change = draw(st.one_of(st.none(), st.floats(0.0, 1.5)))
    return channels, total_multiple * sum(c.current for c in channels), max_change


def limits(channel: ChannelInput, max_change):
    """The channel's interval, worked out from the rules as documented (not from the optimizer's code)."""
    if channel.locked:
        return channel.current, channel.current
    lo = channel.minimum or 0.0
    hi = np.inf if channel.maximum is None else channel.maximum
    if max_change is not None:
        lo, hi = max(lo, channel.current * (1 - max_change)), min(hi, channel.current * (1 + max_change))
    return lo, hi


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_constraints_always_hold_or_the_problem_is_refused(problem):
    channels, total, max_change = problem
    intervals = [limits(c, max_change) for c in channels]
    feasible = (all(lo <= hi for lo, hi in intervals) and sum(lo for lo, _ in intervals) <= total
                and sum(hi for _, hi in intervals) >= total)
    try:
        result = recommend(channels, "max_response", total, max_change=max_change)
    except InfeasibleBudget as refused:
        assert not feasible or _within_rounding(intervals, total), (intervals, total)
        assert str(refused) and refused.field in ("bounds", "total_budget")
        return
    assert feasible or _within_rounding(intervals, total)
    spend = result.channels.recommended_spend.to_numpy()
    for c, s, (lo, hi) in zip(channels, spend, intervals):
        assert lo <= s <= hi, (c.name, lo, s, hi)            # exactly, no tolerance
        if c.locked:
            assert s == c.current
        if max_change is not None:
            assert abs(s - c.current) <= max_change * c.current * (1 + 1e-12)
    assert spend.sum() == pytest.approx(total, rel=1e-9)


def _within_rounding(intervals, total) -> bool:
    """Cases on the edge (sum of minimums equal to the total within rounding) may go either way."""
    return (abs(sum(lo for lo, _ in intervals) - total) <= 1e-9 * total
            or abs(sum(hi for _, hi in intervals) - total) <= 1e-9 * total
            or any(abs(lo - hi) <= 1e-9 * max(hi, 1) for lo, hi in intervals if lo > hi))


@settings(max_examples=60, deadline=None)
@given(st.lists(curves, min_size=2, max_size=3), st.floats(100.0, 6000.0))
def test_the_split_is_as_good_as_brute_force(curve_list, total):
    channels = [ChannelInput(f"c{i}", f"C{i}", total / len(curve_list), c) for i, c in enumerate(curve_list)]
    result = recommend(channels, "max_response", total, max_change=None)
    spend = result.channels.recommended_spend.to_numpy()
    fns = [c.outcome for c in curve_list]
    best = brute_force_split(fns, total, np.zeros(len(fns)), np.full(len(fns), np.inf), steps=1500)
    mine = sum(float(f(s)) for f, s in zip(fns, spend))
    brute = sum(float(f(s)) for f, s in zip(fns, best))
    assert mine >= brute - 1e-3 * abs(brute) - 1e-6


def channel(name, current, **options):
    return ChannelInput(name, name.replace("_", " ").title(), current, Curve(0.2, 500.0, 1.2, 3000.0), **options)


def test_sum_of_minimums_above_the_total_is_refused():
    with pytest.raises(InfeasibleBudget, match="the minimums add up to 900.00, more than the total budget 800.00"):
        recommend([channel("a", 400, minimum=500), channel("b", 400, minimum=400)], total_budget=800)


def test_maximums_below_the_total_are_refused():
    with pytest.raises(InfeasibleBudget, match="the maximums add up to 500.00, less than the total budget 800.00"):
        recommend([channel("a", 400, maximum=300), channel("b", 400, maximum=200)], total_budget=800)


def test_a_minimum_above_what_the_maximum_change_allows_is_refused():
    with pytest.raises(InfeasibleBudget, match="A: its minimum 700.00 is above its maximum 600.00"):
        recommend([channel("a", 400, minimum=700), channel("b", 400)], total_budget=800, max_change=0.5)


def test_when_everything_is_locked_nothing_moves_and_it_says_so():
    result = recommend([channel("a", 400, locked=True), channel("b", 250, locked=True)])
    assert result.message.startswith("Nothing can move")
    assert result.channels.recommended_spend.tolist() == [400, 250]
    assert result.channels.explanation.tolist() == ["A: locked at 400.", "B: locked at 250."]


def test_a_locked_channel_keeps_its_spend_while_others_move():
    a = ChannelInput("a", "A", 400, Curve(0.0, 100.0, 1.0, 1000.0))      # saturated: should give money away
    b = ChannelInput("b", "B", 400, Curve(0.0, 5000.0, 1.0, 20000.0))    # far from saturation
    c = ChannelInput("c", "C", 400, Curve(0.0, 100.0, 1.0, 1000.0), locked=True)
    result = recommend([a, b, c], max_change=None).channels.set_index("channel")
    assert result.loc["c", "recommended_spend"] == 400
    assert result.loc["a", "recommended_spend"] < 400 < result.loc["b", "recommended_spend"]
    assert result.loc["b", "explanation"].startswith("B: +")


def test_identical_channels_split_evenly():
    # equal concave curves: by symmetry the best split is equal
    result = recommend([channel("a", 100), channel("b", 700)], max_change=None)
    assert result.channels.recommended_spend.tolist() == pytest.approx([400, 400], rel=1e-4)
