"""The most deviating segment, against z statistics worked out by hand."""
import math

import numpy as np
import pytest

from analytics.segments import deviation_scores, most_deviating


def test_z_of_each_segment_against_the_rest_by_hand():
    # A: 30/100 against the rest 70/900; pooled p = 100/1000 = 0.1.
    # z_A = (0.3 - 0.0777...) / sqrt(0.1 * 0.9 * (1/100 + 1/900)) = 0.2222 / 0.031623 = 7.027
    scores = deviation_scores([100, 900], [30, 70])
    expected_a = (0.3 - 70 / 900) / math.sqrt(0.1 * 0.9 * (1 / 100 + 1 / 900))
    assert scores[0] == pytest.approx(expected_a) and scores[0] == pytest.approx(7.027, abs=1e-3)
    assert scores[1] == pytest.approx(-expected_a)  # two segments: mirror images


def test_a_large_segment_slightly_off_outranks_a_tiny_one_far_off():
    names = ["mobile", "desktop", "tablet"]
    entered, converted = [10_000, 10_000, 10], [800, 1000, 3]  # tablet: 30% of 10, mobile 8% of 10,000
    assert most_deviating(names, entered, converted) in ("mobile", "desktop")
    assert abs(deviation_scores(entered, converted)[2]) < abs(deviation_scores(entered, converted)[0])


def test_nothing_to_rank():
    assert most_deviating([], np.array([]), np.array([])) is None
    assert most_deviating(["a"], [0], [0]) is None
