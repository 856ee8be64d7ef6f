"""Which segment of a breakdown deviates most from the whole: the one to look at first.

Ranked by the two-proportion z statistic of the segment's conversion against the rest's, so a large
segment a little off outranks a tiny one far off by chance (what a raw difference in rates would pick).
"""
from __future__ import annotations

import numpy as np


def deviation_scores(entered: np.ndarray, converted: np.ndarray) -> np.ndarray:
    """z of each segment's conversion (converted / entered) against the pooled rest; NaN when undefined."""
    entered, converted = np.asarray(entered, dtype=float), np.asarray(converted, dtype=float)
    rest_n, rest_x = entered.sum() - entered, converted.sum() - converted
    with np.errstate(divide="ignore", invalid="ignore"):
        p_seg, p_rest = converted / entered, rest_x / rest_n
        pooled = converted.sum() / entered.sum()
        se = np.sqrt(pooled * (1 - pooled) * (1 / entered + 1 / rest_n))
        return (p_seg - p_rest) / se


def most_deviating(names: list, entered, converted) -> str | None:
    scores = deviation_scores(entered, converted)
    if not len(scores) or np.all(np.isnan(scores)):
        return None
    return names[int(np.nanargmax(np.abs(scores)))]
