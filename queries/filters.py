"""`Filters`: the state every view and JSON endpoint is queried with, read from and written back to a URL
query string so that a link reproduces a view exactly.

Time bounds keep the user's words (`now-24h`, `now/d`, `2026-11-01`, an ISO-8601 timestamp) so a shared link
stays relative; `resolve()` turns them into a half-open UTC interval [start, end) at a given instant.
Relative expressions follow Grafana's syntax: `now`, `now-<n><unit>` with units s, m, h, d, w, and a
rounding suffix `/d` or `/w` (`now/d` is today, `now-1d/d` yesterday); rounding goes down for `from` and
up for `to`, in the display time zone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DIMENSIONS = ("channel", "campaign", "device", "region")
COMPARISONS = ("previous", "week", "none")
MAX_VALUES_PER_DIMENSION = 100
MAX_VALUE_LENGTH = 200

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"^now(?:(?P<sign>[+-])(?P<n>\d{1,6})(?P<unit>[smhdw]))?(?:/(?P<round>[dw]))?$")


class FilterError(ValueError):
    """A query-string value Pulse cannot use; names the field and the value."""

    def __init__(self, field_name: str, value, problem: str):
        self.field = field_name
        self.value = value
        self.problem = problem
        super().__init__(f"{field_name}={value!r}: {problem}")

    def as_dict(self) -> dict:
        return {"field": self.field, "value": self.value, "problem": self.problem}


@dataclass(frozen=True)
class Filters:
    start: str = "now-24h"
    end: str = "now"
    compare: str = "previous"
    channel: tuple[str, ...] = ()
    campaign: tuple[str, ...] = ()
    device: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    # -- reading and writing the URL -------------------------------------------------------------
    @classmethod
    def from_query(cls, query: str | dict | None, defaults: "Filters | None" = None) -> "Filters":
        """Parse a query string (`a=1&b=2`, with or without `?`) or the dict Dash hands to `layout(**query)`.
        Keys other than the filters' own are kept in `extra` for the view that owns them."""
        params = _as_multidict(query)
        base = defaults or cls()
        start = _single(params, "from", base.start)
        end = _single(params, "to", base.end)
        compare = _single(params, "compare", base.compare)
        if compare not in COMPARISONS:
            raise FilterError("compare", compare, f"must be one of {', '.join(COMPARISONS)}")
        dims = {dim: _values(params, dim) if dim in params else getattr(base, dim) for dim in DIMENSIONS}
        known = {"from", "to", "compare", *DIMENSIONS}
        extra = {k: v[-1] if len(v) == 1 else v for k, v in params.items() if k not in known}
        filters = cls(start=start, end=end, compare=compare, extra=extra, **dims)
        filters.resolve()  # fail now, with the field named, rather than inside a query
        return filters

    def to_query(self) -> str:
        """The query string (without `?`) that `from_query` reads back to an equal `Filters`."""
        pairs = [("from", self.start), ("to", self.end), ("compare", self.compare)]
        pairs += [(dim, ",".join(getattr(self, dim))) for dim in DIMENSIONS if getattr(self, dim)]
        pairs += sorted((k, v) for k, v in self.extra.items() if isinstance(v, str))
        return urlencode(pairs, safe="/,:")

    def with_changes(self, **changes) -> "Filters":
        return replace(self, **changes)

    # -- time ------------------------------------------------------------------------------------
    def resolve(self, now: datetime | None = None, tz: str = "UTC") -> tuple[datetime, datetime]:
        """The [start, end) interval in UTC, as naive datetimes like the warehouse's columns."""
        zone = _zone(tz)
        now = now or datetime.now(timezone.utc)
        if now.tzinfo is None:  # the warehouse's naive timestamps mean UTC
            now = now.replace(tzinfo=timezone.utc)
        now = now.astimezone(zone)
        start = parse_time(self.start, now, zone, upper=False, field_name="from")
        end = parse_time(self.end, now, zone, upper=True, field_name="to")
        if end <= start:
            raise FilterError("to", self.end, f"must be after from={self.start!r}")
        return start, end

    def comparison(self, now: datetime | None = None, tz: str = "UTC") -> tuple[datetime, datetime] | None:
        """The interval the current one is compared with, or None when comparison is off."""
        start, end = self.resolve(now, tz)
        if self.compare == "previous":
            return start - (end - start), start
        if self.compare == "week":
            return start - timedelta(days=7), end - timedelta(days=7)
        return None

    def dimension_values(self) -> dict[str, tuple[str, ...]]:
        return {dim: getattr(self, dim) for dim in DIMENSIONS if getattr(self, dim)}


def parse_time(text: str, now: datetime, zone: ZoneInfo, upper: bool, field_name: str) -> datetime:
    """One time bound (relative, ISO-8601 timestamp, or date) as a naive UTC datetime."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        moment = now
        if match["sign"]:
            delta = timedelta(**{_UNITS[match["unit"]]: int(match["n"])})
            moment = moment + delta if match["sign"] == "+" else moment - delta
        if match["round"]:
            moment = _round(moment, match["round"], upper)
        return _naive_utc(moment)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise FilterError(field_name, text, f"is not a valid date ({exc})") from None
        # A date as the end of a range means "through that day", as in GA4's date picker.
        moment = datetime.combine(day + timedelta(days=1 if upper else 0), datetime.min.time(), zone)
        return _naive_utc(moment)
    candidate = text.replace("Z", "+00:00")
    if "T" in candidate and " " in candidate:  # an offset's '+' that a URL decoded as a space
        candidate = candidate.replace(" ", "+")
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise FilterError(
            field_name, text, "expected now, now-15m / now-24h / now-7d, now/d, a date (2026-11-01) "
            "or an ISO-8601 timestamp (2026-11-01T08:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return _naive_utc(moment)


def _round(moment: datetime, unit: str, upper: bool) -> datetime:
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        start -= timedelta(days=start.weekday())  # weeks start on Monday (ISO)
    if not upper:
        return start
    return start + timedelta(days=7 if unit == "w" else 1)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise FilterError("tz", tz, "unknown time zone") from None


def _as_multidict(query) -> dict[str, list[str]]:
    if query is None:
        return {}
    if isinstance(query, str):
        return parse_qs(query.lstrip("?"), keep_blank_values=True)
    out = {}
    for key, value in query.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        out[key] = [v if isinstance(v, str) else str(v) for v in values]
    return out


def _single(params: dict[str, list[str]], key: str, default: str) -> str:
    values = params.get(key)
    if not values or values[-1].strip() == "":
        return default
    if len(values[-1]) > MAX_VALUE_LENGTH:
        raise FilterError(key, values[-1][:40] + "...", f"is longer than {MAX_VALUE_LENGTH} characters")
    return values[-1].strip()


def _values(params: dict[str, list[str]], key: str) -> tuple[str, ...]:
    """A multi-valued filter: repeated keys (`channel=a&channel=b`) or a comma list (`channel=a,b`)."""
    values = []
    for raw in params.get(key, []):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    if len(values) > MAX_VALUES_PER_DIMENSION:
        raise FilterError(key, f"{len(values)} values", f"at most {MAX_VALUES_PER_DIMENSION} values")
    for value in values:
        if len(value) > MAX_VALUE_LENGTH:
            raise FilterError(key, value[:40] + "...", f"is longer than {MAX_VALUE_LENGTH} characters")
    return tuple(dict.fromkeys(values))  # keep order, drop repeats
