"""What an incoming event or spend row must look like, and its normalized form for the warehouse.

Shared by every way data gets in (HTTP ingest, bulk import, the live demo stream), so a row is accepted
or rejected the same way whichever door it comes through. A batch is all or nothing: any invalid row
rejects the whole batch with one `RowProblem` per problem, naming the row, the field and the value.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import date as Date, datetime, timedelta, timezone
from typing import Annotated, Literal, Optional

import pandas as pd
from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter,
                      ValidationError, ValidationInfo, field_validator)

from data import schema
from data.channel_rules import derive_channel

MAX_FUTURE = timedelta(minutes=5)      # clock skew we forgive a client
MAX_AGE = timedelta(days=400)          # older rows belong in a deliberate backfill, not a live feed
NOT_SET = "(not set)"                  # stored for a missing device or region, as GA4 does

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048)]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=10**12)]


@dataclass(frozen=True)
class RowProblem:
    row: int | None       # 0-based position in the batch (or line number for files, see data.load)
    field: str | None
    value: object
    problem: str

    def as_dict(self) -> dict:
        return asdict(self)


class BatchRejected(ValueError):
    def __init__(self, problems: list[RowProblem]):
        self.problems = problems
        first = problems[0]
        super().__init__(f"{len(problems)} problem(s); first: row {first.row}, {first.field}={first.value!r}: "
                         f"{first.problem}")


@dataclass(frozen=True)
class Context:
    """What validation needs to know beyond the row: the time and the warehouse's channels."""
    now: datetime
    channels: frozenset[str]
    paid_channels: frozenset[str]


def _check_time(value: datetime, info: ValidationInfo) -> datetime:
    now = info.context["context"].now
    if value > now + MAX_FUTURE:
        raise ValueError(f"is more than {int(MAX_FUTURE.total_seconds() // 60)} minutes in the future")
    if value < now - MAX_AGE:
        raise ValueError(f"is older than {MAX_AGE.days} days")
    return value


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: Id
    ts: AwareDatetime
    type: Literal[schema.EVENT_TYPES]  # type: ignore[valid-type]
    user_id: Id
    session_id: Id
    channel: Optional[Name] = None
    campaign: Optional[Name] = None
    device: Optional[Literal[schema.DEVICES]] = None  # type: ignore[valid-type]
    region: Optional[Name] = None
    page: Optional[LongText] = None
    revenue: Optional[Money] = Field(default=None, validate_default=True)
    order_id: Optional[Id] = Field(default=None, validate_default=True)
    experiment: Optional[Name] = None
    variant: Optional[Name] = Field(default=None, validate_default=True)
    utm_source: Optional[Name] = None
    utm_medium: Optional[Name] = None
    utm_campaign: Optional[Name] = None
    referrer: Optional[LongText] = None

    _ts = field_validator("ts")(_check_time)

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value, info: ValidationInfo):
        channels = info.context["context"].channels
        if value is not None and value not in channels:
            raise ValueError(f"unknown channel; known: {', '.join(sorted(channels))}")
        return value

    @field_validator("revenue", "order_id")
    @classmethod
    def _purchase_fields(cls, value, info: ValidationInfo):
        if info.data.get("type") == "purchase" and value is None:
            raise ValueError("is required for a purchase")
        return value

    @field_validator("variant")
    @classmethod
    def _variant_with_experiment(cls, value, info: ValidationInfo):
        if (value is None) != (info.data.get("experiment") is None):
            raise ValueError("experiment and variant go together: give both or neither")
        return value


class SpendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ts: Optional[AwareDatetime] = None
    date: Optional[Date] = Field(default=None, validate_default=True)
    channel: Name
    campaign: Optional[Name] = None
    impressions: Count = 0
    clicks: Count = 0
    cost: Money

    @field_validator("ts")
    @classmethod
    def _hour(cls, value, info: ValidationInfo):
        if value is None:
            return value
        value = _check_time(value, info)
        if value.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) != value.astimezone(timezone.utc):
            raise ValueError("must be the start of an hour (minutes and seconds zero, in UTC)")
        return value

    @field_validator("date")
    @classmethod
    def _one_of_ts_or_date(cls, value, info: ValidationInfo):
        if (value is None) == (info.data.get("ts") is None) and "ts" in info.data:
            raise ValueError("give either ts (an hour) or date (a whole day), not both and not neither")
        if value is not None:
            now = info.context["context"].now
            if value > (now + MAX_FUTURE).date() or value < (now - MAX_AGE).date():
                raise ValueError(f"must be within the last {MAX_AGE.days} days")
        return value

    @field_validator("channel")
    @classmethod
    def _paid_channel(cls, value, info: ValidationInfo):
        paid = info.context["context"].paid_channels
        if value not in paid:
            raise ValueError(f"is not a paid channel; paid channels: {', '.join(sorted(paid))}")
        return value


_EVENTS = TypeAdapter(list[EventIn])
_SPEND = TypeAdapter(list[SpendIn])
EVENT_COLUMNS = ("event_id", "ts", "type", "user_id", "session_id", "channel", "campaign", "device", "region",
                 "page", "revenue", "order_id", "experiment", "variant")
SPEND_COLUMNS = ("ts", "channel", "campaign", "impressions", "clicks", "cost")


def validate_events(rows: list, context: Context) -> pd.DataFrame:
    """Validated, normalized events as a DataFrame with the `events` table's columns (ts naive UTC)."""
    models = _validate(_EVENTS, rows, context)
    records = [_event_record(m) for m in models]
    frame = pd.DataFrame.from_records(records, columns=list(EVENT_COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"]).astype("datetime64[us]")
    frame["revenue"] = frame["revenue"].astype(float)
    return frame


def _event_record(m: EventIn) -> tuple:
    channel = m.channel or derive_channel(m.utm_source, m.utm_medium, m.referrer)
    campaign = m.campaign or m.utm_campaign or schema.NO_CAMPAIGN
    return (m.event_id, _naive_utc(m.ts), m.type, m.user_id, m.session_id, channel, campaign,
            m.device or NOT_SET, m.region or NOT_SET, m.page, m.revenue, m.order_id, m.experiment, m.variant)


def validate_spend(rows: list, context: Context) -> pd.DataFrame:
    """Validated spend as hourly rows with the `ad_spend` table's columns. A daily row (`date`) is spread
    evenly over the day's 24 UTC hours: cost / 24 each, and counts split so the hours sum to the day."""
    models = _validate(_SPEND, rows, context)
    records = []
    for m in models:
        campaign = m.campaign or schema.NO_CAMPAIGN
        if m.ts is not None:
            records.append((_naive_utc(m.ts), m.channel, campaign, m.impressions, m.clicks, m.cost))
            continue
        midnight = datetime(m.date.year, m.date.month, m.date.day)
        for hour in range(24):
            records.append((midnight + timedelta(hours=hour), m.channel, campaign,
                            _share(m.impressions, hour), _share(m.clicks, hour), m.cost / 24))
    frame = pd.DataFrame.from_records(records, columns=list(SPEND_COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"]).astype("datetime64[us]")
    frame = frame.astype({"impressions": "int64", "clicks": "int64", "cost": float})
    duplicated = frame.duplicated(["ts", "channel", "campaign"], keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise BatchRejected([RowProblem(None, "ts", first.ts.isoformat(),
                                        f"two rows of the batch give spend for the same hour, channel "
                                        f"{first.channel!r} and campaign {first.campaign!r}")])
    return frame


def _share(total: int, hour: int) -> int:
    """Hour `hour`'s part of a daily count: the remainder goes to the first hours."""
    return total // 24 + (1 if hour < total % 24 else 0)


def parse_ndjson(body: str) -> list:
    """Rows of a newline-delimited JSON body; a line that is not a JSON object rejects the batch."""
    rows, problems = [], []
    for number, line in enumerate(body.splitlines()):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            problems.append(RowProblem(len(rows), None, line[:200], f"not JSON: {error.msg}"))
            rows.append(None)
    if problems:
        raise BatchRejected(problems)
    return rows


def _validate(adapter: TypeAdapter, rows: list, context: Context) -> list:
    if not isinstance(rows, list):
        raise BatchRejected([RowProblem(None, None, type(rows).__name__, "the body must be a JSON array of rows")])
    try:
        return adapter.validate_python(rows, context={"context": context})
    except ValidationError as error:
        raise BatchRejected([_problem(e, rows) for e in error.errors(include_url=False)]) from None


def _problem(error: dict, rows: list) -> RowProblem:
    loc = list(error["loc"])
    row = loc[0] if loc and isinstance(loc[0], int) else None
    field = ".".join(str(part) for part in loc[1:]) or None
    value = None if error["type"] == "missing" else error.get("input")
    if isinstance(value, (dict, list)):
        value = json.dumps(value)[:200]
    elif isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    message = error["msg"].removeprefix("Value error, ")
    return RowProblem(row, field, value, message)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
