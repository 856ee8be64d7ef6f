"""The funnel: how many users (or sessions) go through a sequence of steps, where the others stop, how
long each step takes, by segment and over time. Definitions: docs/metrics.md, "Funnel".

One SQL statement reads the events that can take part (the step types, or every event for strict order,
from the range's start to its end + the conversion window); numpy sorts them by entity and time
(`analytics.funnel.journey_order`) and `analytics.funnel.walk` then follows every attempt through the steps
in one pass over them. Every table below is built from that
one result: `funnel_report` returns them all for the cost of one read.

`FunnelOptions` holds the funnel's own settings, read from and written back to the URL like `Filters`.

The read uses two DuckDB functions, `hash()` and `epoch_us()`; another warehouse needs their equivalents.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from analytics import funnel as analysis
from data import schema
from data.warehouse import Warehouse
from queries.filters import MAX_VALUE_LENGTH, FilterError, Filters, _as_multidict
from queries.pieces import missing_runs
from queries.scope import dimension_predicate
from queries.timeseries import utc_offset

PURCHASE_FUNNEL = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")
COUNTS = ("users", "sessions")
ORDERS = ("indirect", "strict")
BREAKDOWNS = ("channel", "campaign", "device", "region", "landing_page")
INTERVALS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MIN_STEPS, MAX_STEPS = 2, 8
MAX_TREND_BUCKETS = 20_000  # hours for about two years, days for fifty
MAX_WINDOW = timedelta(days=30)
NOT_SET = "(not set)"  # a breakdown value the entry's session does not have (no landing page)
OPTION_KEYS = ("steps", "count", "window", "order", "breakdown", "interval")

_WINDOW = re.compile(r"^(?P<n>\d{1,6})(?P<unit>[mhd])$")
_WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

# Identifiers come from these allow-lists only; every value is a bound parameter.
_ENTITY_COLUMN = {"users": "e.user_id", "sessions": "e.session_id"}
_ATTRIBUTE_COLUMN = {"user_id": "e.user_id", "session_id": "e.session_id", "channel": "e.channel",
                     "campaign": "e.campaign", "device": "e.device", "region": "e.region",
                     "landing_page": "s.landing_page"}
# Entities are told apart by a 64-bit hash of their id: sorting integers is much faster than strings
# (docs/metrics.md: the chance that two of a million ids share a hash is about 3 in 100 million).
_ENTITY_KEY = ("hash(", ")")


# -- checking options ----------------------------------------------------------------------------

def _check_steps(steps: tuple[str, ...]) -> None:
    given = ",".join(steps)[:MAX_VALUE_LENGTH]
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise FilterError("steps", given, f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps, not {len(steps)}")
    for name in steps:
        if name not in schema.EVENT_TYPES:
            raise FilterError("steps", given, f"unknown event type {name!r}; known: {', '.join(schema.EVENT_TYPES)}")
    repeated = sorted({name for name in steps if steps.count(name) > 1})
    if repeated:
        raise FilterError("steps", given, f"{', '.join(repeated)} appears more than once; each event type "
                                          "may be one step only")


def _check_choice(field_name: str, value, choices) -> None:
    if value not in choices:
        raise FilterError(field_name, value, f"must be one of {', '.join(choices)}")


@dataclass(frozen=True)
class FunnelOptions:
    steps: tuple[str, ...] = PURCHASE_FUNNEL
    count: str = "sessions"       # sessions | users
    window: str = "1d"            # conversion window from the entry: <n>m, <n>h or <n>d, at most 30 days
    order: str = "indirect"       # indirect | strict
    breakdown: str | None = None  # one of BREAKDOWNS
    interval: str | None = None   # trend buckets: hour | day; None: hours up to 3 days, days beyond

    def __post_init__(self):
        object.__setattr__(self, "steps", tuple(self.steps))
        _check_steps(self.steps)
        _check_choice("count", self.count, COUNTS)
        _check_choice("order", self.order, ORDERS)
        if self.breakdown is not None:
            _check_choice("breakdown", self.breakdown, BREAKDOWNS)
        if self.interval is not None:
            _check_choice("interval", self.interval, tuple(INTERVALS))
        self.window_length  # noqa: B018  (raises FilterError naming the window)

    @classmethod
    def from_query(cls, query: str | dict | None, defaults: "FunnelOptions | None" = None) -> "FunnelOptions":
        """The options in a query string (or Dash's `layout(**query)` dict); keys left out take `defaults`.
        `steps` is comma-separated or repeated (`steps=a,b` or `steps=a&steps=b`)."""
        params = _as_multidict(query)
        base = defaults or cls()
        steps = tuple(s.strip() for raw in params.get("steps", []) for s in raw.split(",") if s.strip())
        given = {key: params[key][-1].strip() for key in OPTION_KEYS[1:] if key in params}
        chosen = {key: given.get(key) or getattr(base, key) for key in ("count", "window", "order")}
        for key in ("breakdown", "interval"):  # these two can be set back to none with an empty value
            chosen[key] = (given[key] or None) if key in given else getattr(base, key)
        return cls(steps=steps or base.steps, **chosen)

    def to_query(self) -> str:
        """The query string (without `?`) that `from_query` reads back to equal options."""
        pairs = [("steps", ",".join(self.steps)), ("count", self.count), ("window", self.window),
                 ("order", self.order)]
        pairs += [(key, getattr(self, key)) for key in ("breakdown", "interval") if getattr(self, key)]
        return urlencode(pairs, safe=",")

    def with_changes(self, **changes) -> "FunnelOptions":
        return replace(self, **changes)

    @property
    def window_length(self) -> timedelta:
        match = _WINDOW.match(str(self.window))
        if not match:
            raise FilterError("window", self.window, "expected a number and a unit: 30m, 1h, 1d, 7d")
        length = timedelta(**{_WINDOW_UNITS[match["unit"]]: int(match["n"])})
        if not timedelta(minutes=1) <= length <= MAX_WINDOW:
            raise FilterError("window", self.window, "must be between 1 minute and 30 days")
        return length

    def as_dict(self) -> dict:
        return {"steps": list(self.steps), "count": self.count, "window": self.window, "order": self.order,
                "breakdown": self.breakdown, "interval": self.interval}


@dataclass(frozen=True)
class FunnelReport:
    """Everything the funnel view shows, from one read: see the functions of the same names."""
    steps: pd.DataFrame
    breakdown: pd.DataFrame | None
    trend: pd.DataFrame
    times: pd.DataFrame
    time_histogram: pd.DataFrame


# -- public query functions ------------------------------------------------------------------------

def funnel_steps(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                 options: FunnelOptions = FunnelOptions(), now: datetime | None = None) -> pd.DataFrame:
    """Per step: step (1-based), event_type, reached, from_previous, from_start, dropped, in_progress."""
    return _steps(_walk(wh, filters, start, end, options, now), options)


def funnel_breakdown(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                     options: FunnelOptions, now: datetime | None = None) -> pd.DataFrame:
    """`funnel_steps` per value of `options.breakdown` (the entry session's), with that value in a column
    named after the breakdown (`channel`, ..., `landing_page`)."""
    if options.breakdown is None:
        raise FilterError("breakdown", "", f"choose one of {', '.join(BREAKDOWNS)}")
    return _breakdown(_walk(wh, filters, start, end, options, now, options.breakdown), options)


def funnel_trend(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                 options: FunnelOptions = FunnelOptions(), now: datetime | None = None,
                 tz: str = "UTC") -> pd.DataFrame:
    """`funnel_steps` per bucket of the counted attempt's entry time, every bucket of the range included:
    bucket (its start, naive UTC), then the step columns."""
    buckets = _buckets(options, start, end, tz)
    return _trend(_walk(wh, filters, start, end, options, now), options, buckets)


def funnel_times(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                 options: FunnelOptions = FunnelOptions(), now: datetime | None = None) -> pd.DataFrame:
    """Time to convert, per pair of consecutive steps and from the first to the last step: from_step,
    to_step, converted, median_seconds, p90_seconds."""
    return analysis.duration_summary(analysis.durations(_walk(wh, filters, start, end, options, now).times))


def funnel_time_histogram(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                          options: FunnelOptions = FunnelOptions(), now: datetime | None = None) -> pd.DataFrame:
    """The distribution behind `funnel_times`: from_step, to_step, bin_start_seconds, bin_end_seconds,
    converted."""
    times = _walk(wh, filters, start, end, options, now).times
    return analysis.duration_histogram(analysis.durations(times), options.window_length.total_seconds())


def funnel_report(wh: Warehouse, filters: Filters, start: datetime, end: datetime, options: FunnelOptions,
                  now: datetime | None = None, tz: str = "UTC") -> FunnelReport:
    buckets = _buckets(options, start, end, tz)
    walked = _walk(wh, filters, start, end, options, now, options.breakdown)
    durations = analysis.durations(walked.times)
    return FunnelReport(
        steps=_steps(walked, options),
        breakdown=_breakdown(walked, options) if options.breakdown else None,
        trend=_trend(walked, options, buckets),
        times=analysis.duration_summary(durations),
        time_histogram=analysis.duration_histogram(durations, options.window_length.total_seconds()))


def funnel_entities(wh: Warehouse, filters: Filters, start: datetime, end: datetime, options: FunnelOptions,
                    now: datetime | None = None) -> pd.DataFrame:
    """One row per user (or session) that entered the funnel: its id (`user_id` or `session_id`) and the other
    id of the counted attempt's entry, furthest_step, in_progress, entry_time, step_1_time .. step_<n>_time
    (when the counted attempt reached each step, NaT if it did not), then the entry session's channel,
    campaign, device, region and landing_page. Sorted by entry time, then id."""
    ids = ("user_id", "session_id") if options.count == "users" else ("session_id", "user_id")
    walked = _walk(wh, filters, start, end, options, now, texts=ids + BREAKDOWNS)
    rows = walked.rows
    table = pd.DataFrame({name: walked.columns[name][rows] for name in ids})
    table["furthest_step"] = walked.furthest
    table["in_progress"] = walked.in_progress
    table["entry_time"] = _timestamps(walked.times[0])
    for k in range(len(options.steps)):
        table["step_" + str(k + 1) + "_time"] = _timestamps(walked.times[k])
    for name in BREAKDOWNS:
        values = walked.columns[name][rows]
        table[name] = np.where(pd.isna(values), NOT_SET, values)
    return table.sort_values(["entry_time", ids[0]], kind="stable").reset_index(drop=True)


def funnel_dropoffs(wh: Warehouse, filters: Filters, start: datetime, end: datetime, options: FunnelOptions,
                    step: int, now: datetime | None = None) -> pd.DataFrame:
    """The drop-off export: the users (or sessions) that reached `step` (1-based, not the last) but not the
    next one, their window closed. Columns: the two ids, entry_time, step_time (when they reached `step`),
    then the entry session's channel, campaign, device, region and landing_page. Sorted by entry time."""
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step < len(options.steps):
        raise FilterError("step", step, f"must be a step number from 1 to {len(options.steps) - 1}")
    table = funnel_entities(wh, filters, start, end, options, now)
    table = table[(table["furthest_step"] == step) & ~table["in_progress"]]
    table = table.assign(step_time=table["step_" + str(step) + "_time"])
    return table[[*table.columns[:2], "entry_time", "step_time", *BREAKDOWNS]].reset_index(drop=True)


def session_funnel(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                   steps: tuple[str, ...] = PURCHASE_FUNNEL, now: datetime | None = None) -> pd.DataFrame:
    """The funnel page's table: sessions reaching each step with the default options (sessions, indirect
    order, 1-day window). Columns: step (the event type), sessions, from_previous, from_start."""
    table = funnel_steps(wh, filters, start, end, FunnelOptions(steps=tuple(steps)), now)
    return pd.DataFrame({"step": table["event_type"], "sessions": table["reached"],
                         "from_previous": table["from_previous"], "from_start": table["from_start"]})


# -- reading and walking ---------------------------------------------------------------------------

# With the warehouse's result cache on (data/results.py), the range is walked in pieces of this length
# (UTC days; the first and last may be partial): an attempt entering in a piece depends only on the events
# from the piece's start to its end + the window, so a piece whose windows have all closed is kept until a
# commit reaches back before its end + the window (a late event, a re-keyed session).
PIECE = timedelta(days=1)


@dataclass(frozen=True)
class _Walked:
    """Per entity that entered: furthest step, in_progress, times (steps x entities, microseconds, the counted
    attempt's), codes (with a breakdown: the counted entry's breakdown_code). Read in one piece (no cache, or
    `texts`), also the read's `columns` and `rows`, the counted attempts' entry rows in them."""
    furthest: np.ndarray
    in_progress: np.ndarray
    times: np.ndarray
    codes: np.ndarray | None = None
    labels: dict | None = None         # breakdown code -> value
    columns: dict | None = None
    rows: np.ndarray | None = None


def _walk(wh: Warehouse, filters: Filters, start: datetime, end: datetime, options: FunnelOptions,
          now: datetime | None, breakdown: str | None = None, texts: tuple[str, ...] = ()) -> _Walked:
    """Read the events and walk them: in one read, or, with the result cache on (and no `texts`), by pieces
    of time kept in the cache (`_walk_pieces`); both give the same numbers."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    if wh.results is None or texts:
        outcome, columns, order = _read_and_walk(wh, filters, start, end, options, now, breakdown, texts)
        # Read after the events, so that every value they carry is there (events are only ever added).
        labels = _breakdown_labels(wh, breakdown, start, end, options) if breakdown else None
        rows = order.source(outcome.row)
        codes = columns["breakdown_code"][rows] if breakdown else None
        return _Walked(outcome.furthest, outcome.in_progress, outcome.times, codes, labels, columns, rows)
    return _walk_pieces(wh, filters, start, end, options, now, breakdown)


def _read_and_walk(wh, filters, start, end, options, now, breakdown, texts=(), pieces=None):
    """A user's attempt may begin with entries at the same instant in two sessions; its attributes are then
    those of the session whose id sorts first. Sorting by session id costs, and such ties are rare: a
    breakdown sorts them by value, and reads again when one is found. Returns (outcome, columns, order)."""
    by_session = bool(texts)
    walked = _read_and_walk_once(wh, filters, start, end, options, now, breakdown, texts, by_session, pieces)
    if breakdown and options.count == "users" and not by_session and _tied_entries_differ(*walked[1:]):
        walked = _read_and_walk_once(wh, filters, start, end, options, now, breakdown, texts, True, pieces)
    return walked


def _read_and_walk_once(wh, filters, start, end, options, now, breakdown, texts, by_session, pieces):
    sql, params = journey_sql(filters, start, end, options, breakdown, texts, by_session)
    columns = wh.read_columns(sql, params)
    tie = columns.pop("entry_session") if by_session else columns.get("breakdown_code")
    order = analysis.JourneyOrder(columns["entity_key"], columns["event"], tie)
    outcome = analysis.walk(_journeys(order), len(options.steps), _microseconds(options.window_length),
                            options.order == "strict", _epoch_us(now), pieces)
    return outcome, columns, order


def _tied_entries_differ(columns: dict, order: analysis.JourneyOrder) -> bool:
    """Whether an entity has two entries at the same instant with different breakdown values."""
    key, event = order.key, order.event
    tied = np.flatnonzero((key[1:] == key[:-1]) & (event[1:] == event[:-1]) & (event[1:] & 1 == 1))
    code = columns["breakdown_code"]
    return bool(np.any(code[order.source(tied)] != code[order.source(tied + 1)]))


def piece_spans(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at UTC midnights (every `PIECE`)."""
    out, lo = [], start
    while lo < end:
        hi = min(_piece_start(lo) + PIECE, end)
        out.append((lo, hi))
        lo = hi
    return out


def _walk_pieces(wh: Warehouse, filters: Filters, start: datetime, end: datetime, options: FunnelOptions,
                 now: datetime, breakdown: str | None) -> _Walked:
    """The range walked piece by piece (`PIECE`), then merged per entity (`analytics.funnel.merge`). A piece
    whose attempts' windows have all closed at `now` is taken from the cache while no commit since it was
    computed touched data before its end + the window; the others (the last day or days, as long as the
    window) are walked anew. Each run of pieces to walk is one read and one walk, split by piece. The closed
    whole pieces are also kept merged into one part, valid as long as all of them: a view shown again during
    the day merges that part with its few fresh pieces instead of merging 30 days of pieces."""
    window = options.window_length
    spans = piece_spans(start, end)
    closed = [hi + window <= now for _, hi in spans]
    family = "|".join(["funnel", repr(sorted(filters.dimension_values().items())), ",".join(options.steps),
                       options.count, options.window, options.order, str(breakdown)])
    keys = [f"{family}|{lo.isoformat()}|{hi.isoformat()}" for lo, hi in spans]
    wh.results.touch(family)  # a setting in use keeps its days; the least recently used settings' go
    seq = wh.results.changes.seq  # every part read below is exact as of this position of the change log
    parts: list = [None] * len(spans)
    first_whole = 0 if spans and spans[0][0] == _piece_start(spans[0][0]) else 1
    last_closed = sum(closed) - 1  # closed pieces come first: their ends ascend
    middle, merged = None, None
    if last_closed > first_whole:
        middle = f"{family}|{spans[first_whole][0].isoformat()}..{spans[last_closed][1].isoformat()}"
        merged = wh.results.get(middle, until=spans[last_closed][1] + window)
    middle_cached = merged is not None
    if middle_cached:  # its pieces are not needed
        parts[first_whole:last_closed + 1] = [()] * (last_closed + 1 - first_whole)
    for i, (key, (_, hi)) in enumerate(zip(keys, spans)):
        if closed[i] and parts[i] is None:
            parts[i] = wh.results.get(key, until=hi + window)
    for first, last in missing_runs(parts):
        # The change log's position before the read: a commit after it may invalidate what is read.
        run_seq, (run, rows, piece) = wh.results.shared(keys[first] + ".." + keys[last], lambda: (
            wh.results.changes.seq, _walk_run(wh, filters, spans[first:last + 1], options, now, breakdown)))
        seq = min(seq, run_seq)
        for i, part in enumerate(run, start=first):
            parts[i] = part
            # A partial first day is not kept: a range ending "now" starts at another instant each time.
            if closed[i] and i >= first_whole:
                wh.results.put(keys[i], part, run_seq, group=family)
        if middle is not None and merged is None and first <= first_whole and last_closed <= last:
            # the whole middle walked in this run (a cold start): merged from the walk's rows, in key order
            merged = analysis.merge_rows(rows, (piece >= first_whole - first) & (piece <= last_closed - first))
    if middle is not None:
        if not middle_cached:
            if merged is None:
                merged = analysis.merge_parts(parts[first_whole:last_closed + 1])
            _replace_middle(wh, family, middle, merged, seq, last_closed + 1 - first_whole)
        parts[first_whole:last_closed + 1] = [merged]
    furthest, in_progress, times, codes = analysis.merge(parts, len(options.steps), _microseconds(window),
                                                         _epoch_us(now))
    if breakdown and codes is None:  # an empty range
        codes = np.zeros(0, dtype=np.uint64)
    labels = _known_labels(wh, breakdown, codes, start, end, options) if breakdown else None
    return _Walked(furthest, in_progress, times, codes, labels)


def _known_labels(wh: Warehouse, breakdown: str, codes: np.ndarray, start: datetime, end: datetime,
                  options: FunnelOptions) -> dict:
    """`_breakdown_labels`, kept in the result cache: a code is a hash of its value, so a code's value never
    changes; the labels are read again (after the events, so that every value they carry is there) only
    when a code is not known yet. Without it, every request would scan the range's entries for them."""
    key = "funnel-labels|" + breakdown
    known = wh.results.get(key, until=datetime.min)  # never invalidated by a commit
    if known is None or any(int(code) not in known for code in pd.unique(codes)):
        known = {**(known or {}), **_breakdown_labels(wh, breakdown, start, end, options)}
        wh.results.put(key, known, wh.results.changes.seq)
    return known


def _replace_middle(wh: Warehouse, family: str, key: str, merged, seq: int, days: int) -> None:
    """Keep `merged` as the merged part of `days` closed days, and drop the one of as many days it replaces
    (the same range a day earlier): a large part, never asked for again once the range has moved on. (Views
    of other lengths keep theirs; two ranges of one length but different dates evict each other's merged
    part, which is then merged again from the cached days.)"""
    pointer = family + "|middle of " + str(days)
    previous = wh.results.get(pointer, until=datetime.min)  # never invalidated by a commit
    if previous is not None and previous != key:
        wh.results.drop(previous)
    wh.results.put(key, merged, seq, group=family)
    wh.results.put(pointer, key, seq, group=family)


def _piece_start(moment: datetime) -> datetime:
    epoch = datetime(1970, 1, 1)
    return epoch + (moment - epoch) // PIECE * PIECE


def _walk_run(wh, filters, spans, options, now, breakdown) -> tuple[list, tuple, np.ndarray]:
    """One read and walk of consecutive pieces: the parts (`analytics.funnel.merge`), one per piece, and the
    walk's rows (one per entity and piece, see `analytics.funnel.merge_rows`) with each row's piece."""
    bounds = np.array([_epoch_us(lo) for lo, _ in spans], dtype=np.int64)
    outcome, columns, order = _read_and_walk(wh, filters, spans[0][0], spans[-1][1], options, now, breakdown,
                                             pieces=bounds)
    code = columns["breakdown_code"][order.source(outcome.row)] if breakdown else None
    rows = (order.key[outcome.row], outcome.furthest, outcome.last_entry, outcome.times, code)
    return analysis.split_rows(rows, outcome.piece, len(spans)), rows, outcome.piece


def journey_sql(filters: Filters, start: datetime, end: datetime, options: FunnelOptions,
                breakdown: str | None = None, texts: tuple[str, ...] = (), by_session: bool = False
                ) -> tuple[str, dict]:
    """The events that can take part in the funnel (in indirect order: the steps' types, step-1 events only
    as entries; in strict order: every event), one row each, in no particular order (sorting them in SQL
    took half the funnel's time; `analytics.funnel.JourneyOrder` puts them in entity and time order):
    - entity_key: a 64-bit hash of the user or session id;
    - event: epoch microseconds x 32 + (0-based step + 1) x 2 + entry, where step is -1 for an event that is
      no step and entry says whether the event is an attempt's entry (a step-1 event in range, of a session
      the filters select). One integer sorts and transfers faster than three columns;
    - breakdown_code (with `breakdown`): on entry rows, a hash of the entry session's value (else 0);
    - `texts` (user_id, session_id or a breakdown): on entry rows, the value itself (else NULL);
    - entry_session (with `by_session`): on entry rows, the session id (else NULL).
    An entity's events at the same instant are to be ordered by entry_session (`by_session`), else by
    breakdown_code."""
    entity = _ENTITY_COLUMN[options.count]
    dims, params = dimension_predicate(filters, "e")
    entry = "(e.type = :step_0 AND e.ts < :end" + (" AND " + dims if options.count == "users" else "") + ")"
    step = "CASE e.type " + " ".join("WHEN :step_" + str(i) + " THEN " + str(i + 1)
                                     for i in range(len(options.steps))) + " ELSE 0 END"
    columns = [_ENTITY_KEY[0] + entity + _ENTITY_KEY[1] + " AS entity_key",
               "epoch_us(e.ts) * 32 + (" + step + ") * 2 + CASE WHEN " + entry + " THEN 1 ELSE 0 END AS event"]
    if breakdown:
        columns.append("CASE WHEN " + entry + " THEN hash(" + _ATTRIBUTE_COLUMN[breakdown] + ") ELSE 0 END"
                       " AS breakdown_code")
    columns += ["CASE WHEN " + entry + " THEN " + _ATTRIBUTE_COLUMN[name] + " END AS " + name for name in texts]
    if by_session:
        columns.append("CASE WHEN " + entry + " THEN e.session_id END AS entry_session")
    joins_sessions = breakdown == "landing_page" or "landing_page" in texts
    sql = ("SELECT " + ", ".join(columns) + " FROM events e"
           # Only the sessions with an event in the read's time (the join builds on them: for the last days
           # of a range, a small part of the table)
           + (" LEFT JOIN (SELECT session_id, landing_page FROM sessions"
              " WHERE last_ts >= :start AND first_ts < :until) s ON s.session_id = e.session_id"
              if joins_sessions else "")
           + " WHERE e.ts >= :start AND e.ts < :until"
           # In indirect order a step-1 event only matters as an entry: the others are left out.
           + (" AND e.type IN :steps AND (e.type <> :step_0 OR " + entry + ")" if options.order == "indirect" else "")
           + (" AND " + dims if options.count == "sessions" else ""))
    params.update(start=start, end=end, until=end + options.window_length)
    if options.order == "indirect":
        params["steps"] = list(options.steps)
    params.update({"step_" + str(i): name for i, name in enumerate(options.steps)})
    return sql, params


def _breakdown_labels(wh: Warehouse, breakdown: str, start: datetime, end: datetime,
                      options: FunnelOptions) -> dict:
    """breakdown_code -> value, for every value an entry in range can carry."""
    column = _ATTRIBUTE_COLUMN[breakdown]
    source = (" FROM sessions s WHERE s.first_ts < :end AND s.last_ts >= :start" if breakdown == "landing_page"
              else " FROM events e WHERE e.type = :step_0 AND e.ts >= :start AND e.ts < :end")
    rows = wh.read("SELECT DISTINCT hash(" + column + ") AS code, " + column + " AS value" + source,
                   {"start": start, "end": end, "step_0": options.steps[0]})
    return {int(code): NOT_SET if pd.isna(value) else value for code, value in zip(rows["code"], rows["value"])}


def _journeys(order: analysis.JourneyOrder) -> analysis.Journeys:
    key, event = order.key, order.event
    new_entity = np.ones(len(key), dtype=bool)
    new_entity[1:] = key[1:] != key[:-1]
    low = event & 31
    return analysis.Journeys(new_entity=new_entity, us=event >> 5, step=(low >> 1) - 1, entry=(low & 1) == 1)


# -- shaping the tables ----------------------------------------------------------------------------

def _steps(walked: _Walked, options: FunnelOptions) -> pd.DataFrame:
    table = analysis.step_table(walked.furthest, walked.in_progress, len(options.steps))
    return _with_event_types(table, options)


def _breakdown(walked: _Walked, options: FunnelOptions) -> pd.DataFrame:
    index, codes = pd.factorize(walked.codes)
    table = analysis.step_tables(index, len(codes), walked.furthest, walked.in_progress, len(options.steps))
    values = np.array([walked.labels.get(int(code), NOT_SET) for code in codes] or [""], dtype=object)
    table.insert(0, options.breakdown, values[table.pop("group").to_numpy()])
    table = table.sort_values([options.breakdown, "step"], kind="stable").reset_index(drop=True)
    return _with_event_types(table, options)


def _buckets(options: FunnelOptions, start: datetime, end: datetime, tz: str) -> tuple[int, int, int, int]:
    """The trend's buckets, in epoch microseconds: width, zone offset, first bucket's start, count. Buckets of
    `options.interval` (default: hours up to 3 days, days beyond), aligned on midnight in the display time
    zone with its UTC offset at the range's start (as queries/timeseries.py)."""
    interval = options.interval or ("hour" if end - start <= timedelta(days=3) else "day")
    width, offset = _microseconds(INTERVALS[interval]), _microseconds(utc_offset(tz, start))
    first = int(analysis.bucket_starts(np.array([_epoch_us(start)]), width, offset)[0])
    count = -(-(_epoch_us(end) - first) // width)
    if count > MAX_TREND_BUCKETS:
        raise FilterError("interval", interval, f"gives {count:,} buckets for this range, more than "
                                                f"{MAX_TREND_BUCKETS:,}: choose a longer interval or a shorter range")
    return width, offset, first, count


def _trend(walked: _Walked, options: FunnelOptions, buckets: tuple[int, int, int, int]) -> pd.DataFrame:
    width, offset, first, count = buckets
    groups = (analysis.bucket_starts(walked.times[0], width, offset) - first) // width
    table = analysis.step_tables(groups, count, walked.furthest, walked.in_progress, len(options.steps))
    table.insert(0, "bucket", _timestamps(first + table.pop("group").to_numpy() * width))
    return _with_event_types(table, options)


def _with_event_types(table: pd.DataFrame, options: FunnelOptions) -> pd.DataFrame:
    position = table.columns.get_loc("step") + 1
    table.insert(position, "event_type", [options.steps[k - 1] for k in table["step"]])
    return table


def _microseconds(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _epoch_us(moment: datetime) -> int:
    return _microseconds(moment - datetime(1970, 1, 1))


def _timestamps(us: np.ndarray) -> pd.Series:
    """Epoch microseconds as naive UTC timestamps; NOT_REACHED as NaT."""
    us = np.asarray(us, dtype=np.int64)
    return pd.Series(pd.to_datetime(us, unit="us")).where(us != analysis.NOT_REACHED)
