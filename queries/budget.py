"""The budget view's data: response curves fitted from the warehouse or an imported media-mix table, the
optimizer's recommendation, pacing against the monthly budgets, and saved what-if scenarios
(docs/metrics.md, "Budget").

Spend is recorded per channel and campaign only, so the curves and the optimizer read the channel and
campaign filters and ignore device and region.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from analytics import mmm, response
from analytics.budget import ChannelInput, InfeasibleBudget, Recommendation, recommend, totals
from data.warehouse import Warehouse
from queries.attribution import AttributionOptions, attribution_report
from queries.filters import FilterError
from queries.plan import parse_month, planned_by_channel
from queries.scope import dimension_predicate

DAY = timedelta(days=1)
MIN_DAYS = 14           # a curve needs at least two weeks with spend
BOOTSTRAP = 30          # refits behind each curve's band and the optimizer's intervals
MMM_BOOTSTRAP = 20
# The curves are trustworthy near the spend they were fitted on; far beyond it they extrapolate, and with
# S-shaped curves a small error there can flip the whole split. By default a channel moves at most ±50%
# (Meridian's default is ±30%); `max_change: null` lifts it.
DEFAULT_MAX_CHANGE = 0.5


def whole_days(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days inside [start, end): a partial day would look like a drop in spend."""
    first = datetime.combine(start.date(), datetime.min.time())
    first = first if first == start else first + DAY
    last = datetime.combine(end.date(), datetime.min.time())
    return first, max(first, last)


def daily_paid(wh: Warehouse, filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Spend and sessions per whole UTC day (rows: `day`) of each paid channel with spend (columns: a
    two-level index, `spend`/`sessions` x channel); days without spend or sessions are 0."""
    first, last = whole_days(start, end)
    predicate, params = dimension_predicate(filters, only=("channel", "campaign"))
    params.update(first=first, last=last)
    spend = wh.read("""
        SELECT date_trunc('day', ts) AS day, channel, sum(cost) AS value FROM ad_spend
        WHERE ts >= :first AND ts < :last AND """ + predicate + """
        GROUP BY ALL""", params)
    sessions = wh.read("""
        SELECT date_trunc('day', first_ts) AS day, channel, count(*) AS value FROM sessions
        WHERE first_ts >= :first AND first_ts < :last AND channel IN (SELECT name FROM channels WHERE paid)
          AND """ + predicate + """
        GROUP BY ALL""", params)
    days = pd.date_range(first, last - DAY, freq="D", name="day") if last > first else pd.DatetimeIndex([], name="day")
    frames = {name: t.pivot_table(index="day", columns="channel", values="value", aggfunc="sum")
              .reindex(days).fillna(0.0) for name, t in (("spend", spend), ("sessions", sessions))}
    channels = [c for c in frames["spend"].columns if frames["spend"][c].sum() > 0]
    return pd.concat({k: v.reindex(columns=channels, fill_value=0.0) for k, v in frames.items()}, axis=1)


def daily_outcome(wh: Warehouse, filters, start: datetime, end: datetime,
                  options: AttributionOptions = AttributionOptions()) -> pd.DataFrame:
    """Per whole UTC day and paid channel: `spend` and `outcome`, the channel's attributed revenue per day,
    estimated as its sessions that day x its attributed revenue per session over the range. A channel's
    few orders a day make its daily revenue very noisy; its sessions follow spend closely, and what a
    session is worth is a property of the channel's traffic, estimated from every order in range."""
    first, last = whole_days(start, end)
    daily = daily_paid(wh, filters, first, last)
    if daily.empty:
        return daily
    credited = attribution_report(wh, filters.with_changes(device=(), region=()), first, last, options)
    revenue = credited.channels.set_index("channel")["revenue"]
    sessions = daily["sessions"].sum()
    per_session = (revenue.reindex(sessions.index).fillna(0.0) / sessions.where(sessions > 0)).fillna(0.0)
    frame = pd.concat({"spend": daily["spend"], "outcome": daily["sessions"] * per_session}, axis=1)
    # What an attributed order is worth per channel: turns a revenue curve into an orders curve (target CPA).
    orders = credited.channels.set_index("channel")["orders"]
    frame.attrs["value_per_order"] = (revenue / orders.where(orders > 0)).dropna().to_dict()
    return frame


# -- response curves, from the warehouse or a media-mix dataset --------------------------------------

@dataclass
class Responses:
    """Fitted steady-state response curves per channel, on one source's data."""
    source: str                       # attribution | mmm
    period: str                       # day | week: what "per period" means for spend and outcome
    labels: dict                      # channel -> label
    fits: dict                        # channel -> CurveFit (analytics.response)
    history: pd.DataFrame             # per period: spend and outcome per channel (outcome: the channel's part)
    r2: float | None = None           # media mix: of the whole model
    mape: float | None = None
    value_per_order: dict = field(default_factory=dict)   # channel -> outcome per order (attribution: AOV)


_FITS: OrderedDict = OrderedDict()    # fits keyed by their data: the same data always fits the same
_FITS_KEPT = 64
_FITS_LOCK = threading.Lock()


def _cached(key: tuple, fit):
    digest = hashlib.sha256(repr(key[:-1]).encode() + b"".join(np.ascontiguousarray(a).tobytes()
                                                               for a in key[-1])).hexdigest()
    with _FITS_LOCK:
        if digest in _FITS:
            _FITS.move_to_end(digest)
            return _FITS[digest]
    value = fit()
    with _FITS_LOCK:
        _FITS[digest] = value
        while len(_FITS) > _FITS_KEPT:
            _FITS.popitem(last=False)
    return value


def attribution_responses(wh: Warehouse, filters, start: datetime, end: datetime,
                          options: AttributionOptions = AttributionOptions()) -> Responses:
    """A curve per paid channel with spend, from its daily spend and attributed outcome (`daily_outcome`)."""
    daily = daily_outcome(wh, filters, start, end, options)
    labels = channel_labels(wh)
    fits = {}
    for channel in ([] if daily.empty else daily["spend"].columns):
        spend, outcome = daily["spend"][channel].to_numpy(), daily["outcome"][channel].to_numpy()
        if np.count_nonzero(spend) < MIN_DAYS or outcome.sum() <= 0:
            continue
        fits[channel] = _cached(("curve", BOOTSTRAP, (spend, outcome)),
                                lambda: response.fit_curve(spend, outcome, bootstrap=BOOTSTRAP))
    value = daily.attrs.get("value_per_order", {})
    return Responses("attribution", "day", {c: labels.get(c, c) for c in fits}, fits, daily,
                     value_per_order={c: value[c] for c in fits if c in value})


def channel_labels(wh: Warehouse) -> dict:
    return dict(wh.read("SELECT name, label FROM channels").itertuples(index=False, name=None))


def mmm_datasets(wh: Warehouse) -> pd.DataFrame:
    return wh.read("SELECT name, granularity, outcome, spend_columns, control_columns, first_period, "
                   "last_period, rows FROM mmm_datasets ORDER BY name")


def mmm_table(wh: Warehouse, name: str) -> tuple[dict, pd.DataFrame] | None:
    """The dataset's description and its wide table (period rows; outcome, spend per channel, controls),
    or None when there is no such dataset."""
    found = wh.read("SELECT granularity, outcome, spend_columns, control_columns FROM mmm_datasets "
                    "WHERE name = :name", {"name": name})
    if found.empty:
        return None
    long = wh.read("SELECT period, variable, role, channel, value FROM mmm_observations WHERE dataset = :name",
                   {"name": name})
    wide = long.pivot_table(index="period", columns="variable", values="value").sort_index()
    row = found.iloc[0]
    spend = json.loads(row.spend_columns)
    channels = long[long.role == "spend"].drop_duplicates("variable").set_index("variable").channel.to_dict()
    meta = {"granularity": row.granularity, "outcome": row.outcome, "spend": spend,
            "channels": [channels[c] for c in spend], "controls": json.loads(row.control_columns)}
    return meta, wide


def mmm_responses(wh: Warehouse, name: str) -> Responses:
    """Curves per channel from a media-mix model of an imported dataset. Raises LookupError if unknown."""
    found = mmm_table(wh, name)
    if found is None:
        raise LookupError(name)
    meta, wide = found
    spend = wide[meta["spend"]].set_axis(meta["channels"], axis=1)
    controls = wide[meta["controls"]] if meta["controls"] else None
    key = ("mmm", meta["granularity"], BOOTSTRAP, tuple(meta["channels"]),
           (wide[[meta["outcome"], *meta["spend"], *meta["controls"]]].to_numpy(),))
    model = _cached(key, lambda: mmm.fit_mmm(wide[meta["outcome"]], spend, controls, meta["granularity"],
                                              bootstrap=MMM_BOOTSTRAP))
    fits = {c: response.CurveFit(model.curves[c], model.current_spend[c], model.r2, model.mape, model.samples[c])
            for c in model.channels}
    history = pd.concat({"spend": spend, "outcome": model.contributions.set_axis(spend.index)}, axis=1)
    return Responses("mmm", meta["granularity"], {c: c.replace("_", " ").capitalize() for c in fits}, fits,
                     history, model.r2, model.mape)


# -- the optimizer's request and answer ---------------------------------------------------------------

def _bound_value(value):
    """A minimum or maximum: a number (spend per period), "1.5x" (a multiple of current spend), or null."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ValueError("must be a finite number ≥ 0")
        return value
    if isinstance(value, str) and value.strip().lower().endswith("x"):
        try:
            multiple = float(value.strip()[:-1])
        except ValueError:
            multiple = float("nan")
        if np.isfinite(multiple) and multiple >= 0:
            return value.strip().lower()
    raise ValueError('must be a number (spend per period), a multiple of current spend like "1.5x", or null')


Bound = Annotated[Any, AfterValidator(_bound_value)]


class OptimizeRequest(BaseModel):
    """What the optimizer is asked (the page's URL and `POST /api/v1/budget/optimize` say the same)."""
    model_config = ConfigDict(extra="forbid")

    source: Literal["attribution", "mmm"] = "attribution"
    dataset: str | None = None
    scenario: Literal["max_response", "target_roas", "target_cpa"] = "max_response"
    total_budget: float | None = Field(None, gt=0, allow_inf_nan=False)
    target_roas: float | None = Field(None, gt=0, allow_inf_nan=False)
    target_cpa: float | None = Field(None, gt=0, allow_inf_nan=False)
    bounds: dict[str, tuple[Bound, Bound]] = {}
    locked: list[str] = []
    max_change: float | None = Field(DEFAULT_MAX_CHANGE, ge=0, allow_inf_nan=False)
    attribution: str = "last_click"
    lookback: int = Field(30, ge=1, le=90)

    @model_validator(mode="after")
    def _consistent(self):
        if self.source == "mmm" and not self.dataset:
            raise ValueError("dataset: an imported media-mix dataset's name is needed with source mmm")
        if self.scenario == "target_roas" and self.target_roas is None:
            raise ValueError("target_roas: the target_roas scenario needs a target ROAS")
        if self.scenario == "target_cpa" and self.target_cpa is None:
            raise ValueError("target_cpa: the target_cpa scenario needs a target CPA (cost per order)")
        if self.scenario == "target_cpa" and self.source != "attribution":
            raise ValueError("scenario: target_cpa needs orders per channel, which only the warehouse's "
                             "attribution has (source attribution)")
        try:
            AttributionOptions(self.attribution, self.lookback)
        except FilterError as error:
            raise ValueError(f"{error.field}: {error.problem}") from None
        return self

    @classmethod
    def parse(cls, body) -> "OptimizeRequest":
        """Validated, or a FilterError naming the first bad field and its value."""
        if not isinstance(body, dict):
            raise FilterError("body", str(body)[:80], "must be a JSON object")
        try:
            return cls.model_validate(body)
        except ValidationError as error:
            first = error.errors()[0]
            field_name = ".".join(str(p) for p in first["loc"]) or _field_in(first["msg"])
            value = first.get("input") if first["loc"] else body.get(field_name)
            raise FilterError(field_name, _short(value), first["msg"].removeprefix("Value error, ")) from None


def _field_in(message: str) -> str:
    text = message.removeprefix("Value error, ")
    return text.split(":", 1)[0] if ":" in text else "body"


def _short(value):
    return value if isinstance(value, (int, float, bool, type(None))) else str(value)[:200]


def responses_for(wh: Warehouse, filters, start: datetime, end: datetime, request: OptimizeRequest) -> Responses:
    if request.source == "mmm":
        try:
            return mmm_responses(wh, request.dataset)
        except LookupError:
            raise FilterError("dataset", request.dataset, "no imported media-mix dataset has this name") from None
    return attribution_responses(wh, filters, start, end, AttributionOptions(request.attribution, request.lookback))


def channel_inputs(responses: Responses, request: OptimizeRequest) -> list[ChannelInput]:
    known = set(responses.fits)
    for name in list(request.bounds) + list(request.locked):
        if name not in known:
            field_name = "bounds" if name in request.bounds else "locked"
            raise FilterError(field_name, name, f"no response curve for this channel; known: {', '.join(sorted(known))}")
    out = []
    for name, fit in responses.fits.items():
        low, high = request.bounds.get(name, (None, None))
        out.append(ChannelInput(name, responses.labels.get(name, name), fit.current_spend, fit.curve,
                                tuple(fit.samples), _absolute(low, fit.current_spend),
                                _absolute(high, fit.current_spend), name in request.locked,
                                responses.value_per_order.get(name)))
    return out


def _absolute(bound, current: float) -> float | None:
    if isinstance(bound, str):
        return float(bound[:-1]) * current
    return bound


def optimize(wh: Warehouse, filters, start: datetime, end: datetime,
             request: OptimizeRequest) -> tuple[Responses, Recommendation]:
    """The recommendation the page shows and the API returns. Raises FilterError naming the field when the
    request cannot be met (unknown channel or dataset, infeasible constraints)."""
    responses = responses_for(wh, filters, start, end, request)
    if not responses.fits:
        raise FilterError("source", request.source, "no channel has enough spend and outcome to fit a curve "
                          f"(at least {MIN_DAYS} periods with spend)")
    channels = channel_inputs(responses, request)
    try:
        return responses, recommend(channels, request.scenario, request.total_budget, request.target_roas,
                                    request.max_change, request.target_cpa)
    except InfeasibleBudget as error:
        raise FilterError(error.field or "bounds", _short(error.value), str(error)) from None


# -- pacing -------------------------------------------------------------------------------------------

PACING_TOLERANCE = 0.10      # projected within ±10% of plan is on track
RUN_RATE_DAYS = 7


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1)


def next_month(first: datetime) -> datetime:
    return datetime(first.year + first.month // 12, first.month % 12 + 1, 1)


def pacing(wh: Warehouse, now: datetime) -> pd.DataFrame:
    """Per channel with a budget for the month containing `now` (UTC): `planned`, `spend_to_date`,
    `expected_to_date` (the plan spread evenly over the month), `run_rate` (spend per day over the last 7
    days, or the month so far if shorter), `projected` (spend to date + run rate x the days left), `pace`
    (projected / planned) and `status` (over, under, on track)."""
    first = month_start(now)
    last = next_month(first)
    since = max(first, now - RUN_RATE_DAYS * DAY)
    table = wh.read("""
        SELECT b.channel, c.label, b.planned,
               coalesce(sum(s.cost) FILTER (WHERE s.ts < :now), 0) AS spend_to_date,
               coalesce(sum(s.cost) FILTER (WHERE s.ts >= :since AND s.ts < :now), 0) AS recent
        FROM budgets b
        LEFT JOIN channels c ON c.name = b.channel
        LEFT JOIN ad_spend s ON s.channel = b.channel AND s.ts >= :first AND s.ts < :last
        WHERE b.month = :month
        GROUP BY ALL ORDER BY any_value(c.sort_order), b.channel""",
        {"first": first, "last": last, "now": now, "since": since, "month": first.date()})
    table["expected_to_date"] = table["channel"].map(planned_by_channel(wh, first, now)).fillna(0.0)
    return pace_table(table, (now - first) / DAY, (last - first) / DAY, (now - since) / DAY)


def pace_table(table: pd.DataFrame, elapsed_days: float, month_days: float, recent_days: float) -> pd.DataFrame:
    table = table.astype({"planned": float, "spend_to_date": float, "recent": float})
    table["run_rate"] = table.recent / recent_days if recent_days > 0 else np.nan
    table["projected"] = table.spend_to_date + table.run_rate * (month_days - elapsed_days)
    table["pace"] = table.projected / table.planned.where(table.planned > 0)
    table["status"] = np.select([table.pace > 1 + PACING_TOLERANCE, table.pace < 1 - PACING_TOLERANCE],
                                ["over", "under"], "on track")
    table.loc[table.pace.isna(), "status"] = "no plan"
    return table.drop(columns="recent")


def check_budget(wh: Warehouse, month, channel, planned) -> tuple[date, str, float]:
    """A planned budget as it will be stored, or a FilterError naming the bad field."""
    if not isinstance(planned, (int, float)) or isinstance(planned, bool) or not np.isfinite(planned) or planned < 0:
        raise FilterError("planned", _short(planned), "must be a finite amount ≥ 0")
    day = parse_month(month)
    if not isinstance(channel, str) or channel not in channel_labels(wh):
        raise FilterError("channel", _short(channel), "unknown channel")
    return day, channel, float(planned)


def write_budget(conn, month: date, channel: str, planned: float) -> None:
    """Store a checked budget (through a writer connection, inside `Writer.call`)."""
    conn.execute("INSERT INTO budgets (month, channel, planned) VALUES (?, ?, ?) "
                 "ON CONFLICT (month, channel) DO UPDATE SET planned = excluded.planned", [month, channel, planned])


def month_moment(month: str | None, now: datetime) -> datetime:
    """The instant pacing is measured at: now for the current month (or none given), the last instant of a
    past month (its first instant after would be the next month's), the start of a future one."""
    if not month:
        return now
    try:
        first = datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise FilterError("month", month, "must be a month as YYYY-MM") from None
    return min(max(now, first), next_month(first) - timedelta(microseconds=1))


# -- the answers as JSON-ready structures (the page shows the same) ------------------------------------

def with_marginal_roas(table: pd.DataFrame, responses: Responses) -> pd.DataFrame:
    """The channel returns table with each paid channel's marginal ROAS at its current spend (from its
    response curve; NaN without one) and the 90% band."""
    out = table.copy()
    values = {c: (float(f.curve.marginal_roas(f.current_spend)), *map(float, f.marginal_band(f.current_spend)))
              for c, f in responses.fits.items()}
    for i, name in enumerate(("marginal_roas", "marginal_roas_low", "marginal_roas_high")):
        out[name] = [values.get(c, (np.nan,) * 3)[i] for c in out["channel"]]
    return out


def curve_table(responses: Responses, points: int = 41) -> pd.DataFrame:
    """Per channel, the steady-state curve from 0 to 2.5x current spend: spend, outcome, band, marginal ROAS."""
    rows = []
    for channel, fit in responses.fits.items():
        spend = np.linspace(0, 2.5 * fit.current_spend, points)
        low, high = fit.band(spend)
        rows.append(pd.DataFrame({"channel": channel, "spend": spend, "outcome": fit.curve.outcome(spend),
                                  "outcome_low": low, "outcome_high": high,
                                  "marginal_roas": fit.curve.marginal_roas(spend)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def fit_table(responses: Responses) -> pd.DataFrame:
    """Per channel: the fitted parameters, fit quality and the operating point."""
    return pd.DataFrame([{"channel": c, "label": responses.labels.get(c, c), "current_spend": f.current_spend,
                          "outcome_at_current": float(f.curve.outcome(f.current_spend)),
                          "marginal_roas": float(f.curve.marginal_roas(f.current_spend)),
                          "r2": f.r2, "mape": f.mape, **f.curve.as_dict()} for c, f in responses.fits.items()])


def recommendation_json(request: OptimizeRequest, responses: Responses, result: Recommendation) -> dict:
    def clean(v):
        if isinstance(v, (float, np.floating)):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, (np.integer, np.bool_)):
            return v.item()
        return v
    return {"source": request.source, "dataset": request.dataset, "scenario": result.scenario,
            "period": responses.period, "total_budget": result.total_budget, "max_change": request.max_change,
            "message": result.message, "binding": result.binding,
            "totals": {k: clean(v) for k, v in result.totals.items()},
            "channels": [{k: clean(v) for k, v in r.items()} for r in result.channels.to_dict("records")],
            "fits": [{k: clean(v) for k, v in r.items()} for r in fit_table(responses).to_dict("records")]}


# -- the page's URL, and saved what-if scenarios --------------------------------------------------------

PAGE_KEYS = ("attribution", "lookback", "source", "dataset", "scenario", "total", "target", "max_change",
             "bounds", "locked", "scenarios")


def request_from_query(params: dict) -> tuple[OptimizeRequest, tuple[str, ...]]:
    """The optimizer request and the saved scenarios to compare, from the page's query-string keys
    (`bounds=paid_search:100:300,affiliate::1.5x`, `locked=display,video`, `max_change=none`)."""
    def text(key, default=""):
        value = params.get(key, default)
        return (value[-1] if isinstance(value, list) else value).strip()
    body = {"source": text("source", "attribution") or "attribution", "scenario": text("scenario") or "max_response",
            "attribution": text("attribution") or "last_click", "bounds": _bounds_of(text("bounds")),
            "locked": [c for c in text("locked").split(",") if c]}
    target_field = "target_cpa" if body["scenario"] == "target_cpa" else "target_roas"
    for key, name in (("total", "total_budget"), ("target", target_field), ("lookback", "lookback")):
        if text(key):
            body[name] = _number(key, text(key))
    if text("max_change"):
        body["max_change"] = None if text("max_change").lower() == "none" else _number("max_change", text("max_change"))
    if text("dataset"):
        body["dataset"] = text("dataset")
    if "lookback" in body:
        body["lookback"] = int(body["lookback"]) if float(body["lookback"]).is_integer() else body["lookback"]
    request = OptimizeRequest.parse(body)
    return request, tuple(c for c in text("scenarios").split(",") if c)


def _number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FilterError(key, text, "must be a number") from None
    if not np.isfinite(value):
        raise FilterError(key, text, "must be a finite number")
    return value


def _bounds_of(text: str) -> dict:
    out = {}
    for item in (i for i in text.split(",") if i):
        parts = item.split(":")
        if len(parts) != 3 or not parts[0]:
            raise FilterError("bounds", item, "each bound is channel:min:max, e.g. paid_search:100:300 or affiliate::1.5x")
        out[parts[0]] = [_bound_text(p) for p in parts[1:]]
    return out


def _bound_text(text: str):
    if not text:
        return None
    if text.lower().endswith("x"):
        return text
    try:
        return float(text)
    except ValueError:
        return text  # the request's validation names it


def request_to_query(request: OptimizeRequest, compare: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The page's query-string keys for a request (defaults left out), as `request_from_query` reads them."""
    pairs = [("attribution", request.attribution), ("source", request.source)]
    if request.lookback != 30:
        pairs.append(("lookback", str(request.lookback)))
    if request.dataset:
        pairs.append(("dataset", request.dataset))
    pairs.append(("scenario", request.scenario))
    if request.total_budget is not None:
        pairs.append(("total", f"{request.total_budget:g}"))
    target = request.target_cpa if request.scenario == "target_cpa" else request.target_roas
    if target is not None:
        pairs.append(("target", f"{target:g}"))
    if request.max_change != DEFAULT_MAX_CHANGE:
        pairs.append(("max_change", "none" if request.max_change is None else f"{request.max_change:g}"))
    bounds = ",".join(f"{c}:{_shown_bound(a)}:{_shown_bound(b)}" for c, (a, b) in sorted(request.bounds.items())
                      if a is not None or b is not None)
    if bounds:
        pairs.append(("bounds", bounds))
    if request.locked:
        pairs.append(("locked", ",".join(sorted(request.locked))))
    if compare:
        pairs.append(("scenarios", ",".join(compare)))
    return pairs


def _shown_bound(value) -> str:
    return "" if value is None else value if isinstance(value, str) else f"{value:g}"


SCENARIO_NAME_MAX = 80


def check_scenario(name, spend: dict, responses: Responses) -> tuple[str, dict]:
    """A what-if scenario as it will be stored, or a FilterError naming the bad field."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= SCENARIO_NAME_MAX:
        raise FilterError("name", name, f"a scenario needs a name of 1 to {SCENARIO_NAME_MAX} characters")
    clean = {}
    for channel in responses.fits:
        value = spend.get(channel)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) or value < 0:
            raise FilterError(channel, value, "spend must be a number ≥ 0")
        clean[channel] = float(value)
    return name, clean


def save_scenario(conn, name: str, responses: Responses, dataset: str | None, spend: dict) -> None:
    """Store (or replace) a named what-if split (through a writer connection, inside `Writer.call`)."""
    conn.execute("DELETE FROM budget_scenarios WHERE name = ?", [name])
    conn.execute("INSERT INTO budget_scenarios (name, source, dataset, period, spend, saved) VALUES (?, ?, ?, ?, ?, ?)",
                 [name, responses.source, dataset or "", responses.period, json.dumps(spend, sort_keys=True),
                  datetime.utcnow().replace(microsecond=0)])


def saved_scenarios(wh: Warehouse, source: str, dataset: str | None) -> dict:
    """name -> {channel: spend per period}, for the scenarios saved on this source (newest first)."""
    rows = wh.read("SELECT name, spend FROM budget_scenarios WHERE source = :source AND dataset = :dataset "
                   "ORDER BY saved DESC, name", {"source": source, "dataset": dataset or ""})
    return {r.name: json.loads(r.spend) for r in rows.itertuples()}


def scenario_comparison(responses: Responses, result: Recommendation, scenarios: dict) -> pd.DataFrame:
    """Side by side, per channel: spend per period of the current plan, the optimizer's proposal and each
    scenario; then the predicted outcome and ROAS of each (from the same curves)."""
    channels = list(responses.fits)
    plans = {"Current": {c: responses.fits[c].current_spend for c in channels},
             "Optimizer": dict(zip(result.channels.channel, result.channels.recommended_spend))}
    plans.update({name: {c: float(spend.get(c, 0.0)) for c in channels} for name, spend in scenarios.items()})
    rows = [{"row": responses.labels.get(c, c), **{p: plan[c] for p, plan in plans.items()}} for c in channels]
    outcome = {p: sum(float(responses.fits[c].curve.outcome(plan[c])) for c in channels) for p, plan in plans.items()}
    total = {p: sum(plan.values()) for p, plan in plans.items()}
    rows.append({"row": "Total spend", **total})
    rows.append({"row": "Predicted outcome", **outcome})
    rows.append({"row": "ROAS", **{p: outcome[p] / total[p] if total[p] > 0 else np.nan for p in plans}})
    return pd.DataFrame(rows)


def what_if(responses: Responses, spend: dict) -> dict:
    """Predicted outcome and ROAS of a split, with the 90% interval, against the current plan."""
    channels = channel_inputs(responses, OptimizeRequest(max_change=None))
    split = np.array([float(spend.get(c.name, c.current)) for c in channels])
    return totals(channels, split)
