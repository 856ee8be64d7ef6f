"""Multi-touch attribution: how one conversion's credit is split over the sessions (touches) of its journey.

A journey is the user's sessions that started within the lookback window before the order, ending with
the session the order happened in (queries/attribution.py builds them; docs/metrics.md, "Attribution").
Every model gives each journey weights that sum to 1, so attributed orders and revenue add up to the
real totals whatever the model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

MODELS = ("last_click", "first_click", "linear", "position_based", "time_decay")
MODEL_LABELS = {"last_click": "Last click", "first_click": "First click", "linear": "Linear",
                "position_based": "Position-based (40/20/40)", "time_decay": "Time decay (7-day half-life)"}
HALF_LIFE_DAYS = 7.0
ENDS_SHARE = 0.4       # position-based: first and last touch each get 40%, the middle shares 20%


def journey_weights(model: str, touch_times, conversion_time, half_life_days: float = HALF_LIFE_DAYS) -> np.ndarray:
    """Weights of one journey's touches (given in order, oldest first). Times are anything numpy can
    subtract into days: datetime64 values or plain floats counted in days."""
    times = np.asarray(touch_times)
    frame = pd.DataFrame({"journey": np.zeros(len(times), dtype=np.int64),
                          "age_days": _age_days(times, conversion_time)})
    return touch_weights(model, frame, half_life_days)


def touch_weights(model: str, touches: pd.DataFrame, half_life_days: float = HALF_LIFE_DAYS) -> np.ndarray:
    """Weights for many journeys at once. `touches` has one row per touch, grouped by `journey` and in
    order within it (oldest first), with `age_days`: how long before the conversion the touch started."""
    if model not in MODELS:
        raise ValueError(f"attribution model {model!r}: must be one of {', '.join(MODELS)}")
    journey = touches["journey"].to_numpy()
    if len(journey) == 0:
        return np.zeros(0)
    first = np.r_[True, journey[1:] != journey[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(journey)), 0))
    size = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1]
    position = np.arange(len(journey)) - start
    last = position == size - 1
    if model == "last_click":
        return last.astype(float)
    if model == "first_click":
        return first.astype(float)
    if model == "linear":
        return 1.0 / size
    if model == "position_based":
        return _position_based(first, last, size)
    decay = 0.5 ** (touches["age_days"].to_numpy(dtype=float) / half_life_days)
    totals = np.bincount(np.cumsum(first) - 1, weights=decay)[np.cumsum(first) - 1]
    return decay / totals


def _position_based(first: np.ndarray, last: np.ndarray, size: np.ndarray) -> np.ndarray:
    # One touch takes everything and two split evenly: there is no middle to give the 20% to.
    ends = np.where(size == 1, 1.0, np.where(size == 2, 0.5, ENDS_SHARE))
    middle = (1 - 2 * ENDS_SHARE) / np.maximum(size - 2, 1)
    return np.where(first | last, ends, middle)


def _age_days(times: np.ndarray, conversion_time) -> np.ndarray:
    age = np.asarray(conversion_time) - times
    if np.issubdtype(np.asarray(age).dtype, np.timedelta64):
        return age / np.timedelta64(1, "s") / 86400.0
    return age.astype(float)


def attribute(touches: pd.DataFrame, model: str, half_life_days: float = HALF_LIFE_DAYS,
              by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per channel: attributed `orders`, `revenue` and `new_customers` under `model`. `touches`: one row
    per touch with `journey`, `age_days`, `channel`, `revenue` (the order's) and `new_customer` (1 when
    it is the user's first order ever), grouped by journey, oldest touch first. `by`: columns of `touches`
    to keep apart as well (an order's credit is its own, so credit adds up over any split of the orders)."""
    weights = touch_weights(model, touches, half_life_days)
    credit = pd.DataFrame({**{column: touches[column].to_numpy() for column in by},
                           "channel": touches["channel"].to_numpy(), "orders": weights,
                           "revenue": weights * touches["revenue"].to_numpy(dtype=float),
                           "new_customers": weights * touches["new_customer"].to_numpy(dtype=float)})
    return credit.groupby([*by, "channel"], sort=True)[["orders", "revenue", "new_customers"]].sum()


def ranking(revenue_by_model: pd.DataFrame) -> pd.DataFrame:
    """Rank of each channel (1 = most attributed revenue) under each model (columns), ties sharing the
    better rank."""
    return revenue_by_model.rank(ascending=False, method="min").astype("int64")
