"""Distinct users of a range: the one KPI that does not add up over time buckets.

A user active on Monday and Tuesday is one user of the week. So a long range's users are counted as
the set of users of its closed middle (cached, as sorted 64-bit hashes of `user_id`, until a commit
reaches back into it) joined with the users of its two ends (the partial first bucket, with sessions
carried in from before the range, and the bucket holding "now"), which are read each time and are small.
Counting hashes instead of ids is exact unless two ids share a 64-bit hash: at a million users the
chance of one such pair is about 1 in 40 million.
"""
from __future__ import annotations

from datetime import datetime

import numpy as np

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.pieces import spans
from queries.scope import dimension_predicate
from queries.timeseries import STEPS, choose_step, union_size, utc_offset


def distinct_users(wh: Warehouse, filters: Filters, start: datetime, end: datetime, tz: str = "UTC") -> int:
    """Users with a session active in [start, end) under the filters (a session's user is that of its
    first event)."""
    pieces = spans(start, end, STEPS[choose_step(start, end)], utc_offset(tz, start))
    if wh.results is None or len(pieces) < 3:
        return len(_hashes(wh, filters, [(start, end, True)]))
    middle = (pieces[1][0], pieces[-2][1])
    key = "|".join(["users", repr(sorted(filters.dimension_values().items())), *(t.isoformat() for t in middle)])
    known = wh.results.through(key, middle[1], lambda: _hashes(wh, filters, [(*middle, False)]))
    ends = _hashes(wh, filters, [(start, pieces[0][1], True), (pieces[-1][0], end, False)])
    return union_size([known, ends])


def _hashes(wh: Warehouse, filters: Filters, parts: list[tuple[datetime, datetime, bool]]) -> np.ndarray:
    """Sorted distinct hashes of the users of sessions in each (lo, hi, carry_in) part: sessions active
    in [lo, hi) with carry_in, else sessions that started in it."""
    predicate, params = dimension_predicate(filters, "s")
    selects = []
    for i, (lo, hi, carry_in) in enumerate(parts):
        active = (f"s.first_ts < :hi{i} AND s.last_ts >= :lo{i}" if carry_in
                  else f"s.first_ts >= :lo{i} AND s.first_ts < :hi{i}")
        selects.append("SELECT hash(s.user_id) AS h FROM sessions s WHERE " + active + " AND " + predicate)
        params.update({f"lo{i}": lo, f"hi{i}": hi})
    columns = wh.read_columns("SELECT DISTINCT h FROM (" + " UNION ALL ".join(selects) + ")", params)
    return np.sort(np.asarray(columns["h"], dtype=np.uint64))
