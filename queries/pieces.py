"""Long ranges as a chain of time buckets, each computed once and cached while its data stays unchanged.

A range [start, end) splits at the bucket boundaries of its step: the first piece runs from `start` to
the first boundary and also counts the sessions that began before `start` but were still active (carry
in); every later piece counts only what started within it. Their rows simply concatenate to the whole
range's rows. With the warehouse's result cache on (data/results.py), a piece is read from the cache
unless a commit since reached back before its end; runs of missing pieces are computed in one query each.
So a refresh of a 90-day view recomputes the bucket with "now" in it, not 90 days.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

import pandas as pd

from data.warehouse import Warehouse
from queries import side_by_side
from queries.filters import Filters

# compute(lo, hi, carry_in) -> rows with a `bucket` column (the bucket's start, UTC)
Compute = Callable[[datetime, datetime, bool], pd.DataFrame]

_ORIGIN = datetime(2000, 1, 3)  # DuckDB's time_bucket origin for sub-month widths (a Monday)


def bucket_floor(moment: datetime, width: timedelta, offset: timedelta) -> datetime:
    """Start (UTC) of the bucket holding `moment`, buckets aligned to local midnight at `offset`."""
    local = moment + offset
    return _ORIGIN + (local - _ORIGIN) // width * width - offset


def spans(start: datetime, end: datetime, width: timedelta, offset: timedelta) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at bucket boundaries: the first and last spans may be partial buckets."""
    out, lo = [], start
    while lo < end:
        hi = min(bucket_floor(lo, width, offset) + width, end)
        out.append((lo, hi))
        lo = hi
    return out


def cached_rows(wh: Warehouse, name: str, filters: Filters, start: datetime, end: datetime, width: timedelta,
                offset: timedelta, compute: Compute) -> pd.DataFrame:
    """The rows of `compute` over [start, end), assembled from cached pieces where the cache is on."""
    if wh.results is None:
        return compute(start, end, True)
    family = "|".join([name, repr(sorted(filters.dimension_values().items())), str(width), str(offset)])
    # The whole range as last assembled: a refresh asks for it four times (tiles, trends, two tables).
    whole_key = f"{family}|{start.isoformat()}|{end.isoformat()}|whole"
    seq = wh.results.changes.seq
    whole = wh.results.get(whole_key, until=end, recent=True)
    if whole is not None:
        return whole
    pieces = spans(start, end, width, offset)
    keys = [f"{family}|{lo.isoformat()}|{hi.isoformat()}|{i == 0}" for i, (lo, hi) in enumerate(pieces)]
    found = [wh.results.get(key, until=hi) for key, (_, hi) in zip(keys, pieces)]
    runs = missing_runs(found)
    def run_rows(run: tuple[int, int]) -> pd.DataFrame:
        first, last = run
        return wh.results.shared(keys[first] + ".." + keys[last],
                                 lambda: compute(pieces[first][0], pieces[last][1], first == 0))

    # Typically two runs, the partial first bucket and the one holding now: DuckDB runs them side by side.
    later = [side_by_side.pool("pieces").submit(run_rows, run) for run in runs[1:]]
    computed = [run_rows(runs[0])] + [f.result() for f in later] if runs else []
    for (first, last), rows in zip(runs, computed):
        labels = rows["bucket"] if len(rows) else pd.Series([], dtype="datetime64[us]")
        for i in range(first, last + 1):
            label = bucket_floor(pieces[i][0], width, offset)
            found[i] = rows[labels == label].reset_index(drop=True)
            wh.results.put(keys[i], found[i], seq)
    frames = [f for f in found if len(f)]
    whole = pd.concat(frames, ignore_index=True) if frames else compute(start, start, True)
    wh.results.put(whole_key, whole, seq, recent=True)
    return whole


def missing_runs(found: list) -> list[tuple[int, int]]:
    """The runs (first, last) of consecutive None in `found`: the pieces to compute together."""
    runs, begin = [], None
    for i, value in enumerate(found + [0]):
        if value is None and begin is None:
            begin = i
        elif value is not None and begin is not None:
            runs.append((begin, i - 1))
            begin = None
    return runs
