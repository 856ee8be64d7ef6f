"""Alert rules and their evaluation, as pure functions: no SQL, no clock, no I/O.

A rule watches one KPI (a column of `queries.kpis.KPI_COLUMNS`) under dimension filters. Three kinds:

- `threshold`: the KPI over the last `window_minutes` compared with `value` by `operator`
  ("conversion rate < 1.5 % over the last hour");
- `baseline`: the KPI over the last `window_minutes` against the same window at the same time of week in
  each of the previous `weeks` weeks. `method = percent`: breached when the value is more than `value`
  (a fraction, 0.4 = 40 %) below (`direction = below`), above, or either side of the mean of those weeks.
  `method = zscore`: robust z-score, z = (observed − median) / (1.4826 × MAD) over those weeks; breached
  when z < −value (below), z > value (above) or |z| > value (either). When the MAD is 0 (all weeks
  equal but outliers), the mean absolute deviation × 1.2533 stands in for it (the usual fallback of the
  modified z-score); when that is 0 too, any difference from the median is an infinite z;
- `pacing`: spend since the start of the day against the day's plan up to now; breached when spend runs
  more than `tolerance` (0.1 = 10 %) ahead of plan.

An undefined value (no sessions for a ratio, no budget, not enough history) is "no data" and is not a
breach. The state machine (`step`) follows Grafana alerting: Normal → Pending when the condition is first
breached, Pending → Firing once it has been breached for `pending_minutes` (straight to Firing when 0),
Pending → Normal without notification when it clears first, Firing → Normal ("resolved") when it clears.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KINDS = ("threshold", "baseline", "pacing")
OPERATORS = ("<", "<=", ">", ">=")
METHODS = ("percent", "zscore")
DIRECTIONS = ("below", "above", "either")
STATES = ("normal", "pending", "firing")
MAD_SCALE = 1.4826        # MAD x 1.4826 estimates the standard deviation of normal data
MEAN_AD_SCALE = 1.2533    # mean absolute deviation x 1.2533 does the same (sqrt(pi / 2))
MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_PENDING_MINUTES = 24 * 60
MAX_WEEKS = 12

# How KPIs read in messages. Unknown KPIs (new columns of KPI_COLUMNS) get their name with spaces and a
# plain number format.
_LABELS = {"sessions": "Sessions", "users": "Users", "orders": "Orders", "revenue": "Revenue",
           "conversion_rate": "Conversion rate", "average_order_value": "Average order value",
           "spend": "Spend", "roas": "ROAS", "bounce_rate": "Bounce rate", "cpa": "CPA", "cac": "CAC",
           "page_views": "Page views", "signups": "Signups"}
_PERCENT_KPIS = {"conversion_rate", "bounce_rate"}
_OPERATOR_WORDS = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above"}


class RuleError(ValueError):
    """A rule that cannot be stored: `problems` is a list of {field, value, problem} (an HTTP 422)."""

    def __init__(self, problems: list[dict]):
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}={p['value']!r}: {p['problem']}" for p in problems))


class Rule(BaseModel):
    """One alert rule. `filters` is a query string of dimension filters (`channel=email,paid_search&device=mobile`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: int | None = None
    name: str = Field(min_length=1, max_length=200)
    kpi: str = Field(min_length=1, max_length=100)
    kind: Literal["threshold", "baseline", "pacing"] = "threshold"
    filters: str = Field(default="", max_length=2000)
    window_minutes: int = Field(default=60, ge=1, le=MAX_WINDOW_MINUTES)
    operator: Literal["<", "<=", ">", ">="] = "<"
    value: float = 0.0
    weeks: int = Field(default=4, ge=1, le=MAX_WEEKS)
    method: Literal["percent", "zscore"] = "percent"
    direction: Literal["below", "above", "either"] = "below"
    tolerance: float = Field(default=0.1, ge=0, le=100)
    pending_minutes: int = Field(default=5, ge=0, le=MAX_PENDING_MINUTES)
    enabled: bool = True

    @field_validator("value", "tolerance")
    @classmethod
    def _finite(cls, number: float) -> float:
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        return number

    @model_validator(mode="after")
    def _by_kind(self) -> "Rule":
        if self.kind == "baseline" and self.value <= 0:
            raise ValueError("value: must be > 0 for a baseline rule (a fraction such as 0.4 for percent, "
                             "a number of robust standard deviations such as 3 for zscore)")
        if self.kind == "baseline" and self.method == "zscore" and self.weeks < 3:
            raise ValueError("weeks: a robust z-score needs at least 3 previous weeks")
        if self.kind == "pacing" and self.kpi != "spend":
            raise ValueError("kpi: a pacing rule watches spend (kpi 'spend')")
        return self

    @property
    def pending(self) -> timedelta:
        return timedelta(minutes=self.pending_minutes)

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)


def parse_rule(data: dict, kpis: Iterable[str] | None = None) -> Rule:
    """A validated `Rule` from JSON-like data, or `RuleError` listing every problem by field. `kpis`: the
    KPI names a rule may watch (the caller passes `queries.kpis.KPI_COLUMNS`)."""
    if not isinstance(data, dict):
        raise RuleError([{"field": "(body)", "value": type(data).__name__, "problem": "expected a JSON object"}])
    allowed = tuple(kpis) if kpis is not None else None
    problems = []
    kpi = data.get("kpi")
    if allowed is not None and isinstance(kpi, str) and kpi.strip() and kpi.strip() not in allowed:
        problems.append({"field": "kpi", "value": kpi, "problem": f"must be one of {', '.join(allowed)}"})
    try:
        rule = Rule.model_validate(data)
    except ValidationError as error:
        problems += [p for p in (_problem(e, data) for e in error.errors())
                     if not (p["field"] == "kpi" and problems)]
    if problems:
        raise RuleError(problems)
    return rule


def _problem(error: dict, data: dict) -> dict:
    location = [str(part) for part in error.get("loc", ())]
    message = error.get("msg", "invalid")
    if not location and message.startswith("Value error, "):  # model validators: "field: problem"
        text = message.removeprefix("Value error, ")
        field, _, problem = text.partition(": ")
        return {"field": field, "value": data.get(field), "problem": problem}
    field = ".".join(location) or "(body)"
    message = message.removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown field"
    return {"field": field, "value": data.get(location[0]) if location else None, "problem": message}


# ------------------------------------------------------------------------------------- conditions

@dataclass(frozen=True)
class Verdict:
    breached: bool
    observed: float | None      # the KPI now (pacing: spend since the start of the day)
    expected: float | None      # threshold value, baseline (mean or median of the weeks), or plan to date
    message: str
    no_data: bool = False
    score: float | None = None  # baseline: relative change (percent) or robust z (zscore); pacing: spend / plan - 1


def condition(rule: Rule, current: float | None, history: Sequence[float] | float | None = None) -> Verdict:
    """Is the rule breached? `current`: the KPI over the rule's window (pacing: spend since the start of the
    day). `history`: baseline: the KPI over the same window in each previous week (NaN / None entries are
    weeks without data and are left out); pacing: the planned spend up to now; threshold: unused."""
    if rule.kind == "threshold":
        return _threshold(rule, current)
    if rule.kind == "baseline":
        return _baseline(rule, current, history)
    return _pacing(rule, current, history)


def _threshold(rule: Rule, current) -> Verdict:
    label, span = kpi_label(rule.kpi), _span(rule.window_minutes)
    if _missing(current):
        return Verdict(False, None, rule.value, f"{label} {span}: no data", no_data=True)
    breached = compare(current, rule.operator, rule.value)
    verb = "is" if breached else "is not"
    message = (f"{label} {fmt(rule.kpi, current)} {span} {verb} {_OPERATOR_WORDS[rule.operator]} "
               f"{fmt(rule.kpi, rule.value)}")
    return Verdict(breached, float(current), rule.value, message)


def _baseline(rule: Rule, current, history) -> Verdict:
    label, span = kpi_label(rule.kpi), _span(rule.window_minutes)
    values = np.array([float(v) for v in (history or []) if not _missing(v)], dtype=float)
    needed = 3 if rule.method == "zscore" else 1
    if _missing(current):
        return Verdict(False, None, None, f"{label} {span}: no data", no_data=True)
    if len(values) < needed:
        return Verdict(False, float(current), None,
                       f"{label} {span}: not enough history ({len(values)} of {rule.weeks} previous weeks "
                       f"with data, {needed} needed)", no_data=True)
    weeks = f"the same time over the previous {len(values)} week{'s' if len(values) != 1 else ''}"
    if rule.method == "percent":
        expected = float(values.mean())
        if expected == 0:
            change = 0.0 if current == 0 else math.copysign(math.inf, current)
        else:
            change = current / expected - 1
        breached = _beyond(change, rule.value, rule.direction)
        how = f"{abs(change):.0%} {'below' if change < 0 else 'above'}" if math.isfinite(change) else \
            ("above" if change > 0 else "below")
        message = (f"{label} {fmt(rule.kpi, current)} {span} is {how} {weeks} "
                   f"({fmt(rule.kpi, expected)}); alert beyond {rule.value:.0%} {_direction_words(rule.direction)}")
        return Verdict(breached, float(current), expected, message, score=change)
    z, median = robust_z(current, values)
    breached = _beyond(z, rule.value, rule.direction)
    message = (f"{label} {fmt(rule.kpi, current)} {span} has robust z-score {_z(z)} against {weeks} "
               f"(median {fmt(rule.kpi, median)}); alert beyond {rule.value:g} {_direction_words(rule.direction)}")
    return Verdict(breached, float(current), median, message, score=z)


def _pacing(rule: Rule, spend, plan) -> Verdict:
    if isinstance(plan, (list, tuple, np.ndarray)):
        raise TypeError("a pacing rule's history is the planned spend to date (a number)")
    if _missing(spend) or _missing(plan):
        what = "no spend data" if _missing(spend) else "no budget for the day"
        return Verdict(False, None if _missing(spend) else float(spend), None, f"Spend pacing: {what}",
                       no_data=True)
    spend, plan = float(spend), float(plan)
    if plan > 0:
        ratio = spend / plan - 1
    else:
        ratio = 0.0 if spend == 0 else math.inf
    breached = ratio > rule.tolerance
    ahead = f"{abs(ratio):.0%} {'ahead of' if ratio >= 0 else 'behind'}" if math.isfinite(ratio) else "ahead of"
    message = (f"Spend today {fmt('spend', spend)} is {ahead} plan ({fmt('spend', plan)} by now); "
               f"alert beyond {rule.tolerance:.0%} ahead")
    return Verdict(breached, spend, plan, message, score=ratio)


def robust_z(current: float, values: Sequence[float]) -> tuple[float, float]:
    """(z, median): z = (current − median) / (1.4826 × MAD) of `values`; mean absolute deviation × 1.2533
    when the MAD is 0; ±inf (or 0 when equal) when both are 0."""
    values = np.asarray(values, dtype=float)
    median = float(np.median(values))
    spread = MAD_SCALE * float(np.median(np.abs(values - median)))
    if spread == 0:
        spread = MEAN_AD_SCALE * float(np.mean(np.abs(values - median)))
    diff = float(current) - median
    if spread == 0:
        return (0.0 if diff == 0 else math.copysign(math.inf, diff)), median
    return diff / spread, median


def compare(a: float, operator: str, b: float) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


def _beyond(score: float, limit: float, direction: str) -> bool:
    if direction == "below":
        return score < -limit
    if direction == "above":
        return score > limit
    return abs(score) > limit


def _direction_words(direction: str) -> str:
    return {"below": "below", "above": "above", "either": "either way"}[direction]


def _missing(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def _z(z: float) -> str:
    return f"{z:+.1f}" if math.isfinite(z) else ("+inf" if z > 0 else "-inf")


def _span(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"over the last {days} day{'s' if days != 1 else ''}"
    return f"over the last {minutes} min"


def kpi_label(kpi: str) -> str:
    return _LABELS.get(kpi, kpi.replace("_", " ").capitalize())


def fmt(kpi: str, value: float | None) -> str:
    """A KPI value as people read it: 0.42%, 1,234, 1,234.50, 3.2x."""
    if _missing(value):
        return "–"
    if kpi in _PERCENT_KPIS or kpi.endswith("_rate"):
        return f"{value * 100:.2f}%"
    if kpi == "roas":
        return f"{value:.2f}x"
    if kpi in ("revenue", "spend", "average_order_value", "cpa", "cac"):
        return f"{value:,.2f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


# ---------------------------------------------------------------------------------- state machine

@dataclass(frozen=True)
class AlertState:
    """Where a rule is: `state` normal | pending | firing, and `since` when that state began (pending: when
    the condition was first breached; firing: when it fired; normal: when it resolved, or None)."""
    state: str = "normal"
    since: datetime | None = None


def step(state: AlertState, breached: bool, now: datetime, pending: timedelta | float | int) -> tuple[AlertState, str | None]:
    """One evaluation. Returns the new state and the transition, if any: `pending`, `firing`, `resolved`
    (firing → normal: notify), `cleared` (pending → normal before firing: no notification), else None.
    `pending` is a timedelta or a number of minutes (Grafana's "for")."""
    if not isinstance(pending, timedelta):
        pending = timedelta(minutes=float(pending))
    if state.state not in STATES:
        raise ValueError(f"unknown state {state.state!r}")
    if state.state == "normal":
        if not breached:
            return state, None
        if pending <= timedelta(0):
            return AlertState("firing", now), "firing"
        return AlertState("pending", now), "pending"
    if state.state == "pending":
        if not breached:
            return AlertState("normal", now), "cleared"
        if now - state.since >= pending:
            return AlertState("firing", now), "firing"
        return state, None
    # firing
    if breached:
        return state, None
    return AlertState("normal", now), "resolved"


def replay(breaches: Iterable[tuple[datetime, bool]], pending, start: AlertState | None = None) -> list[tuple[datetime, AlertState, str | None]]:
    """`step` over a sequence of (time, breached): every evaluation's state and transition."""
    state = start or AlertState()
    out = []
    for now, breached in breaches:
        state, transition = step(state, breached, now, pending)
        out.append((now, state, transition))
    return out
