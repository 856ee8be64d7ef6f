"""The budget optimizer: how to split a budget per period over channels whose steady-state response curves
are known (analytics/response.py, analytics/mmm.py).

Scenarios:
- `max_response`: the split of a fixed total that maximises the total outcome;
- `target_roas`: the largest total (and its split) whose best outcome / total still reaches a target ROAS;
- `target_cpa`: the largest total (and its split) whose best orders stay at or under a target cost per
  order: the same search on each channel's curve divided by its value per order (orders = outcome / value).

Constraints, per channel: a minimum and a maximum (absolute, or a multiple of current spend), a lock (spend
stays as it is), and a maximum change (a fraction of current spend). They combine into one interval per
channel. The curves are S-shaped when S > 1, so the problem has local optima: a dynamic programme over a
grid of the budget finds the global one to within a grid step, and scipy's SLSQP polishes it (also from
the current split and an even one; the best wins). The answer is then repaired so that every interval and
the total hold exactly, whatever the solver's tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from analytics.response import Curve

SCENARIOS = ("max_response", "target_roas", "target_cpa")
INTERVAL = (5.0, 95.0)
TOLERANCE = 1e-9          # relative: the total is met to this share of itself
UNCHANGED = 0.005         # a move under 0.5% of current spend is reported as no change


class InfeasibleBudget(ValueError):
    """The constraints cannot all hold; the message says which and why."""

    def __init__(self, message: str, field: str | None = None, value=None):
        super().__init__(message)
        self.field, self.value = field, value


@dataclass(frozen=True)
class ChannelInput:
    name: str
    label: str
    current: float                       # spend per period now
    curve: Curve
    samples: tuple[Curve, ...] = ()      # bootstrap curves, for intervals
    minimum: float | None = None         # absolute spend per period
    maximum: float | None = None
    locked: bool = False
    value_per_order: float | None = None  # outcome per order (revenue: the average order value), for CPA

    def in_orders(self) -> "ChannelInput":
        """The channel with its outcome counted in orders (curves scaled by 1 / value per order)."""
        scale = 1.0 / self.value_per_order
        return replace(self, curve=replace(self.curve, beta=self.curve.beta * scale),
                       samples=tuple(replace(c, beta=c.beta * scale) for c in self.samples))


@dataclass
class Recommendation:
    scenario: str
    total_budget: float
    channels: pd.DataFrame               # one row per channel (see `recommend`)
    totals: dict                         # current and recommended outcome, ROAS, with intervals
    message: str                         # a headline: what moves, or why nothing can
    binding: list[str] = field(default_factory=list)   # channels held at one end of their interval


def bounds(channels: list[ChannelInput], max_change: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's interval [lo, hi] from its minimum, maximum, lock and the maximum change."""
    current = np.array([c.current for c in channels], dtype=float)
    lo = np.array([0.0 if c.minimum is None else c.minimum for c in channels])
    hi = np.array([np.inf if c.maximum is None else c.maximum for c in channels])
    if max_change is not None:
        lo = np.maximum(lo, current * (1 - max_change))
        hi = np.minimum(hi, current * (1 + max_change))
    locked = np.array([c.locked for c in channels])
    lo, hi = np.where(locked, current, lo), np.where(locked, current, hi)
    for c, a, b in zip(channels, lo, hi):
        if a > b * (1 + TOLERANCE):
            raise InfeasibleBudget(f"{c.label}: its minimum {a:,.2f} is above its maximum {b:,.2f} once the "
                                   f"bounds, the lock and the maximum change are combined", "bounds", c.name)
    return lo, np.maximum(lo, hi)


def total_outcome(channels: list[ChannelInput], spend: np.ndarray) -> float:
    return float(sum(c.curve.outcome(s) for c, s in zip(channels, spend)))


def max_response(channels: list[ChannelInput], total: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The split of `total` within [lo, hi] with the largest total outcome."""
    if lo.sum() > total * (1 + TOLERANCE):
        raise InfeasibleBudget(f"the minimums add up to {lo.sum():,.2f}, more than the total budget "
                               f"{total:,.2f}", "total_budget", total)
    if hi.sum() < total * (1 - TOLERANCE):
        raise InfeasibleBudget(f"the maximums add up to {hi.sum():,.2f}, less than the total budget "
                               f"{total:,.2f}", "total_budget", total)
    if np.allclose(lo, hi):
        return lo.copy()
    scale = max(total, 1e-9)
    free_hi = np.where(np.isfinite(hi), hi, total)

    def negative(x):
        return -sum(c.curve.outcome(v * scale) for c, v in zip(channels, x)) / scale

    def gradient(x):
        return -np.array([c.curve.marginal_roas(v * scale) for c, v in zip(channels, x)], dtype=float)

    best, best_value = None, np.inf
    for start in _starts(channels, total, lo, free_hi):
        result = minimize(negative, start / scale, jac=gradient, method="SLSQP",
                          bounds=list(zip(lo / scale, free_hi / scale)),
                          constraints=[{"type": "eq", "fun": lambda x: x.sum() - total / scale,
                                        "jac": lambda x: np.ones_like(x)}],
                          options={"maxiter": 300, "ftol": 1e-12})
        candidate = repair(result.x * scale, total, lo, hi)
        value = -total_outcome(channels, candidate)
        if value < best_value:
            best, best_value = candidate, value
    return best


def _starts(channels, total, lo, hi) -> list[np.ndarray]:
    current = np.array([c.current for c in channels], dtype=float)
    room = hi - lo
    even = lo + room * min(1.0, (total - lo.sum()) / max(room.sum(), 1e-12))
    points = [current * total / max(current.sum(), 1e-12), even, _grid_optimum(channels, total, lo, hi)]
    return [repair(p, total, lo, hi) for p in points]


def _grid_optimum(channels, total, lo, hi, steps: int = 400) -> np.ndarray:
    """The best split of the budget above the minimums in `steps` equal parts, by dynamic programming:
    global whatever the curves' shapes (an S-shaped curve can make SLSQP stop at a corner), then
    polished by SLSQP."""
    step = max(total - lo.sum(), 0.0) / steps
    ladder = np.arange(steps + 1) * step
    k = np.arange(steps + 1)
    spent = k[:, None] - k[None, :]                    # parts left for the channels before
    best, choices = None, []
    for c, a, b in zip(channels, lo, hi):
        value = np.where(a + ladder <= b * (1 + 1e-12), c.curve.outcome(a + ladder), -np.inf)
        if best is None:
            best = value
            continue
        table = np.where(spent >= 0, best[np.clip(spent, 0, steps)] + value[None, :], -np.inf)
        choice = table.argmax(axis=1)
        choices.append(choice)
        best = table[k, choice]
    left, parts = steps, []
    for choice in reversed(choices):
        parts.append(choice[left])
        left -= choice[left]
    parts.append(left)
    return lo + np.array(parts[::-1]) * step


def repair(spend: np.ndarray, total: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`spend` moved inside [lo, hi] and onto the total exactly: clipped, then the gap shared among the
    channels with room, in proportion to their room, until it closes."""
    spend = np.clip(np.nan_to_num(spend, nan=0.0), lo, hi)
    for _ in range(100):
        gap = total - spend.sum()
        if abs(gap) <= TOLERANCE * max(total, 1.0) * 1e-3:
            break
        room = (hi - spend) if gap > 0 else (spend - lo)
        room = np.where(np.isfinite(room), room, abs(gap))
        if room.sum() <= 0:
            break
        spend = np.clip(spend + np.sign(gap) * np.minimum(room, abs(gap) * room / room.sum()), lo, hi)
    return spend


def target_cpa_budget(channels: list[ChannelInput], target: float, lo: np.ndarray,
                      hi: np.ndarray) -> tuple[float, np.ndarray]:
    """The largest total within [sum lo, sum hi] whose best split keeps total / orders ≤ `target`: the
    target-ROAS search on the channels' orders (a CPA of c is c⁻¹ orders per unit of spend)."""
    if target <= 0:
        raise InfeasibleBudget("the target CPA must be above 0", "target_cpa", target)
    missing = [c.name for c in channels if not c.value_per_order or c.value_per_order <= 0]
    if missing:
        raise InfeasibleBudget("a target CPA needs each channel's orders; no order value for "
                               + ", ".join(missing), "target_cpa", target)
    try:
        return target_roas_budget([c.in_orders() for c in channels], 1.0 / target, lo, hi)
    except InfeasibleBudget as error:  # say it in CPA: the best orders per unit of spend, inverted
        best = getattr(error, "best", None)
        raise InfeasibleBudget(f"no budget within the constraints reaches a CPA of {target:,.2f}"
                               + (f": the best is {1 / best[0]:,.2f}, at a total of {best[1]:,.2f}" if best else ""),
                               "target_cpa", target) from None


def target_roas_budget(channels: list[ChannelInput], target: float, lo: np.ndarray,
                       hi: np.ndarray) -> tuple[float, np.ndarray]:
    """The largest total within [sum lo, sum hi] whose best split reaches outcome / total ≥ `target`.
    S-shaped curves return little at very small budgets, so the best ROAS first rises with the budget and
    then falls: find its peak on a grid of budgets, then bisect between the peak and the top."""
    if target <= 0:
        raise InfeasibleBudget("the target ROAS must be above 0", "target_roas", target)
    low_total = lo.sum()
    high_total = hi.sum() if np.isfinite(hi.sum()) else _saturation_total(channels, lo, target)

    def roas(total):
        split = max_response(channels, total, lo, np.minimum(hi, np.maximum(lo, total)))
        return total_outcome(channels, split) / total, split

    grid = np.geomspace(max(low_total, high_total * 1e-3), high_total, 25)
    values = [roas(total) for total in grid]
    peak = int(np.argmax([v for v, _ in values]))
    if values[peak][0] < target:
        error = InfeasibleBudget(f"no budget within the constraints reaches a ROAS of {target:.2f}: the best is "
                                 f"{values[peak][0]:.2f}, at a total of {grid[peak]:,.2f}", "target_roas", target)
        error.best = (values[peak][0], grid[peak])
        raise error
    if values[-1][0] >= target:
        return float(high_total), values[-1][1]
    above = max(i for i in range(peak, len(grid)) if values[i][0] >= target)
    a, b, split = grid[above], grid[above + 1], values[above][1]
    for _ in range(60):
        mid = 0.5 * (a + b)
        value, mid_split = roas(mid)
        if value >= target:
            a, split = mid, mid_split
        else:
            b = mid
        if b - a <= 1e-6 * b:
            break
    return float(a), split


def _saturation_total(channels, lo, target) -> float:
    """An upper end for the search without maximums: where every channel's marginal ROAS has fallen far
    below the target, so no larger budget can keep the average at it."""
    top = []
    for c, low in zip(channels, lo):
        s = max(c.current, low, 1.0)
        while c.curve.marginal_roas(s) > target * 1e-3 and s < 1e12:
            s *= 2
        top.append(s)
    return float(sum(top))


def recommend(channels: list[ChannelInput], scenario: str = "max_response", total_budget: float | None = None,
              target_roas: float | None = None, max_change: float | None = None,
              target_cpa: float | None = None) -> Recommendation:
    """Run a scenario and explain it. `total_budget` defaults to the current total spend."""
    if scenario not in SCENARIOS:
        raise InfeasibleBudget(f"scenario must be one of {', '.join(SCENARIOS)}", "scenario", scenario)
    if max_change is not None and max_change < 0:
        raise InfeasibleBudget("the maximum change is a fraction ≥ 0", "max_change", max_change)
    lo, hi = bounds(channels, max_change)
    current = np.array([c.current for c in channels], dtype=float)
    if scenario == "max_response":
        total = float(current.sum() if total_budget is None else total_budget)
        if total <= 0:
            raise InfeasibleBudget("the total budget must be above 0", "total_budget", total_budget)
        split = max_response(channels, total, lo, hi)
    elif scenario == "target_roas":
        if target_roas is None:
            raise InfeasibleBudget("the target_roas scenario needs a target ROAS", "target_roas", None)
        total, split = target_roas_budget(channels, float(target_roas), lo, hi)
    else:
        if target_cpa is None:
            raise InfeasibleBudget("the target_cpa scenario needs a target CPA", "target_cpa", None)
        total, split = target_cpa_budget(channels, float(target_cpa), lo, hi)
    table = channel_table(channels, split, lo, hi)
    binding = [c.name for c, s, a, b in zip(channels, split, lo, hi)
               if np.isclose(s, a, rtol=1e-6) or np.isclose(s, b, rtol=1e-6)]
    return Recommendation(scenario, total, table, totals(channels, split), headline(table, lo, hi, channels), binding)


def channel_table(channels: list[ChannelInput], split: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> pd.DataFrame:
    rows = []
    for c, s, a, b in zip(channels, split, lo, hi):
        now_out, new_out = float(c.curve.outcome(c.current)), float(c.curve.outcome(s))
        rows.append({"channel": c.name, "label": c.label, "current_spend": c.current, "recommended_spend": float(s),
                     "change": (s - c.current) / c.current if c.current > 0 else np.nan,
                     "min_spend": float(a), "max_spend": float(b) if np.isfinite(b) else None, "locked": c.locked,
                     "marginal_roas_current": float(c.curve.marginal_roas(c.current)),
                     "marginal_roas_recommended": float(c.curve.marginal_roas(s)),
                     "outcome_current": now_out, "outcome_recommended": new_out,
                     "roas_current": now_out / c.current if c.current > 0 else np.nan,
                     "roas_recommended": new_out / s if s > 0 else np.nan})
    table = pd.DataFrame(rows)
    table["explanation"] = explanations(table)
    return table


def totals(channels: list[ChannelInput], split: np.ndarray) -> dict:
    current = np.array([c.current for c in channels], dtype=float)
    out = {"current_spend": float(current.sum()), "recommended_spend": float(split.sum())}
    for key, spend in (("current", current), ("recommended", split)):
        value = total_outcome(channels, spend)
        low, high = _interval(channels, spend)
        out.update({f"outcome_{key}": value, f"outcome_{key}_low": low, f"outcome_{key}_high": high,
                    f"roas_{key}": value / spend.sum() if spend.sum() > 0 else None,
                    f"roas_{key}_low": low / spend.sum() if spend.sum() > 0 else None,
                    f"roas_{key}_high": high / spend.sum() if spend.sum() > 0 else None})
    if all(c.value_per_order for c in channels):  # orders and cost per order, where orders are known
        for key, spend in (("current", current), ("recommended", split)):
            orders = total_outcome([c.in_orders() for c in channels], spend)
            out.update({f"orders_{key}": orders, f"cpa_{key}": spend.sum() / orders if orders > 0 else None})
    uplift = _uplift_samples(channels, current, split)
    out["uplift"] = out["outcome_recommended"] - out["outcome_current"]
    out["uplift_low"], out["uplift_high"] = (float(np.percentile(uplift, INTERVAL[0])),
                                             float(np.percentile(uplift, INTERVAL[1]))) if len(uplift) else (out["uplift"],) * 2
    return out


def _sample_totals(channels, spend) -> np.ndarray:
    n = min((len(c.samples) for c in channels), default=0)
    return np.array([sum(c.samples[j].outcome(s) for c, s in zip(channels, spend)) for j in range(n)], dtype=float)


def _interval(channels, spend) -> tuple[float, float]:
    values = _sample_totals(channels, spend)
    if not len(values):
        value = total_outcome(channels, spend)
        return value, value
    return float(np.percentile(values, INTERVAL[0])), float(np.percentile(values, INTERVAL[1]))


def _uplift_samples(channels, current, split) -> np.ndarray:
    # the same bootstrap draw on both sides: the uplift's interval is narrower than the two totals'
    return _sample_totals(channels, split) - _sample_totals(channels, current)


# -- explaining ---------------------------------------------------------------------------------------

def explanations(table: pd.DataFrame) -> list[str]:
    """A sentence per channel: how it moves and why, against the channel moving most the other way."""
    up = table[table.change > UNCHANGED].sort_values("marginal_roas_current", ascending=False)
    down = table[table.change < -UNCHANGED].sort_values("marginal_roas_current")
    out = []
    for row in table.itertuples():
        if row.locked:
            out.append(f"{row.label}: locked at {row.current_spend:,.0f}.")
            continue
        if abs(row.change) <= UNCHANGED:
            out.append(_unchanged(row))
            continue
        other = (down if row.change > 0 else up)
        versus = (f" against {other.iloc[0]['marginal_roas_current']:.1f} for {other.iloc[0]['label'].lower()}"
                  if len(other) else "")
        limit = _limit(row)
        out.append(f"{row.label}: {row.change:+.0%}, its marginal ROAS at current spend is "
                   f"{row.marginal_roas_current:.1f}{versus}{limit}.")
    return out


def _unchanged(row) -> str:
    if row.max_spend is not None and np.isfinite(row.max_spend) and np.isclose(row.min_spend, row.max_spend, rtol=1e-9):
        return f"{row.label}: no change, its bounds leave no room."
    return (f"{row.label}: no change, its marginal ROAS ({row.marginal_roas_current:.1f}) is already in line "
            f"with the others.")


def _limit(row) -> str:
    if row.max_spend is not None and np.isfinite(row.max_spend) and row.change > 0 and np.isclose(row.recommended_spend, row.max_spend, rtol=1e-6):
        return f"; held at its maximum ({row.max_spend:,.0f}), it would take more"
    if row.change < 0 and np.isclose(row.recommended_spend, row.min_spend, rtol=1e-6) and row.min_spend > 0:
        return f"; held at its minimum ({row.min_spend:,.0f}), it would give more"
    return ""


def headline(table: pd.DataFrame, lo: np.ndarray, hi: np.ndarray, channels: list[ChannelInput]) -> str:
    if np.allclose(lo, hi, rtol=1e-9):
        return ("Nothing can move: every channel is locked or held by its bounds and maximum change. "
                "Loosen a constraint to see a recommendation.")
    moved = table[table.change.abs() > UNCHANGED]
    if moved.empty:
        return "The current split is already the best one within the constraints: no channel should move."
    ups = ", ".join(f"{r.label.lower()} {r.change:+.0%}" for r in moved[moved.change > 0].itertuples())
    downs = ", ".join(f"{r.label.lower()} {r.change:+.0%}" for r in moved[moved.change < 0].itertuples())
    parts = [p for p in (f"more to {ups}" if ups else "", f"less to {downs}" if downs else "") if p]
    return "Move budget: " + "; ".join(parts) + "."
