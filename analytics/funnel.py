"""The funnel's arithmetic, as pure functions over numpy arrays: no SQL, no clock, no I/O.

`walk` takes the events sorted by entity, then time (`JourneyOrder` sorts what `queries.funnel` reads) and
finds, for every entity, its furthest step and the attempt that counts (docs/metrics.md, "Funnel"):

- every step-1 event flagged as an entry is an attempt;
- `indirect` order: step k+1 is an event at or after step k's time (ties count as in order); the step's
  time is the earliest such event, which is also the earliest time any chain of the attempt reaches it;
- `strict` order: step k+1 happens at the same instant as step k or at the entity's next instant with any
  event (no event of the entity strictly between); the step's time is the earliest instant it can be
  reached at;
- every step of an attempt happens before its entry time + the window;
- an entity's furthest step is the furthest any attempt reaches; the attempt that counts is the earliest
  entry among those reaching it; an entity is in progress when it has not completed the funnel and some
  attempt's window is still open at `now`.

Events sharing an entity and an instant form a "moment"; the walk runs over moments, so the order of
tied events never matters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NOT_REACHED = -1  # in the step-time matrix: the step was not reached

# Time-to-convert histogram bin edges, in seconds: 0, 10 s, 30 s, 1, 2, 5, 10, 30 min, 1, 2, 6, 12 h, 1, 2, 3, 7,
# 14, 30 days. The last bin of a window ends at the window.
DURATION_EDGES = (0, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 259200, 604800,
                  1209600, 2592000)


@dataclass(frozen=True)
class Journeys:
    """One row per event, the rows of an entity together: `new_entity` whether the row is its entity's first,
    `us` its time in microseconds (non-decreasing within an entity), `step` its 0-based funnel step or -1,
    `entry` whether it is an attempt's entry."""
    new_entity: np.ndarray
    us: np.ndarray
    step: np.ndarray
    entry: np.ndarray


@dataclass(frozen=True)
class Outcome:
    """One row per entity with at least one attempt: `furthest` step (1-based), `in_progress`, `row`: the
    counted attempt's entry row in the input, `times`: (steps x entities) microseconds at which the counted
    attempt reached each step, or NOT_REACHED; `last_entry`: the entity's latest entry (microseconds).
    Walked with `pieces`, one row per entity and piece of time its attempts entered in (`piece`: its
    index), as if each piece had been walked alone; rows are in entity order, then piece order."""
    furthest: np.ndarray
    in_progress: np.ndarray
    row: np.ndarray
    times: np.ndarray
    last_entry: np.ndarray
    piece: np.ndarray | None = None


_FEW_ROWS = 1024  # fewer rows take JourneyOrder's fast path whatever their order (it is exact, only slower)


class JourneyOrder:
    """Rows sorted by `key` (uint64, an entity's hash), then `event` (int64, time first), then `tie` (any
    sortable values, None last; only rows equal in key and event are compared on it); rows equal in all
    three keep their order: what `ORDER BY key, event, tie` gives, without sorting pairs of 64-bit words.

    Events are stored nearly in time order (they are written as they happen; late ones are few). So one
    sort of 64-bit words, each a row's position under the top bits of its key, puts the rows in key order
    and, within a key, in the order read: in time order but for the few late events. The stretches of rows
    sharing the top bits of their key that are not then in (key, event) order (a late event, or two keys
    sharing those bits) are sorted again on their own, so the order is exact. Rows read far from time
    order (more than 1 in 64 rows earlier than the row before) are sorted on both keys at once.

    `key` and `event`: the sorted keys; `source(positions)`: the input rows at those sorted positions."""

    def __init__(self, key: np.ndarray, event: np.ndarray, tie: np.ndarray | None = None):
        n = len(key)
        key, event = np.asarray(key, dtype=np.uint64), np.asarray(event, dtype=np.int64)
        if n > _FEW_ROWS and np.count_nonzero(event[1:] < event[:-1]) * 64 > n:  # far from time order
            self._inner = np.lexsort((event, key))
            self.key, self.event = key[self._inner], event[self._inner]
        else:
            bits = np.uint64((n - 1).bit_length())
            packed = (key >> bits) << bits
            packed |= np.arange(n, dtype=np.uint64)
            packed.sort()
            inner = (packed & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.intp)
            k, e = key[inner], event[inner]
            same_top = (packed[1:] >> bits) == (packed[:-1] >> bits)
            unordered = same_top & ((k[1:] < k[:-1]) | ((k[1:] == k[:-1]) & (e[1:] < e[:-1])))
            if unordered.any():
                top = np.cumsum(np.append(True, ~same_top))
                redo = np.zeros(top[-1] + 1, dtype=bool)
                redo[top[1:][unordered]] = True
                spots = np.flatnonzero(redo[top])
                # by key, then event, then position read (`inner` ascends within a stretch)
                inner[spots] = inner[spots][np.lexsort((e[spots], k[spots]))]
                k[spots], e[spots] = key[inner[spots]], event[inner[spots]]
            self._inner, self.key, self.event = inner, k, e
        if tie is not None:
            self._order_ties(tie)

    def source(self, positions: np.ndarray) -> np.ndarray:
        """The input rows at these positions of the sorted order."""
        return self._inner[positions]

    def _order_ties(self, tie: np.ndarray) -> None:
        """Each run of rows equal in key and event sorted by `tie`, None last (as SQL sorts ascending)."""
        same = (self.key[1:] == self.key[:-1]) & (self.event[1:] == self.event[:-1])
        if not same.any():
            return
        tied = np.zeros(len(self.key), dtype=bool)
        tied[1:] |= same
        tied[:-1] |= same
        spots = np.flatnonzero(tied)
        run = np.cumsum(np.append(True, ~same[spots[1:] - 1]))
        rank, _ = pd.factorize(tie[self.source(spots)], sort=True)
        rank = np.where(rank < 0, np.iinfo(np.int64).max, rank)  # None (NULL) last
        # Rows of a run share key and event: only the inner order changes.
        self._inner[spots] = self._inner[spots][np.lexsort((np.arange(len(spots)), rank, run))]


def walk(journeys: Journeys, steps: int, window_us: int, strict: bool, now_us: int,
         pieces: np.ndarray | None = None) -> Outcome:
    """Every entity's outcome: see the module's docstring. With `pieces` (ascending start times of pieces
    of the entry range, microseconds), every entity's outcome per piece its attempts entered in: what
    walking each piece's entries alone gives (an attempt only looks at events from its entry on), for
    the cost of one walk. (One thread: walking halves of the rows in two threads was measured no faster,
    the threads contending for memory.)"""
    moments = _Moments(journeys)
    rows = np.flatnonzero(journeys.entry)
    if moments.of_row is None:  # a moment per row
        first_rows = group = rows
    else:
        first_rows = rows[_first_of_runs(moments.of_row[rows])]  # one attempt per entry moment
        group = moments.of_row[first_rows]
    entry_us, end = moments.start_us[group], moments.end_of(group)
    piece = None if pieces is None else np.searchsorted(pieces, entry_us, side="right") - 1
    if strict:
        walked = np.arange(len(group))
        reach, reached_at = _walk_strict(moments, group, end, steps, entry_us + window_us)
    else:
        next_step_2 = moments.next_holding(1, group)
        walked = _last_of_runs(next_step_2, end, piece)
        reach, reached_at = _walk_indirect(moments, next_step_2[walked], end[walked], steps,
                                           entry_us[walked] + window_us)
    return _per_entity(end[walked], None if piece is None else piece[walked], reach, reached_at, walked,
                       first_rows, entry_us, steps, window_us, now_us)


def _last_of_runs(next_step_2: np.ndarray, end: np.ndarray, piece: np.ndarray | None = None) -> np.ndarray:
    """In indirect order, the attempts of an entity whose next step-2 moment is the same (a run) share all
    their later steps, and the latest of them reaches furthest: only it needs walking. The attempts (indexes)
    that end a run. With `piece` (each attempt's), runs also end where the piece changes."""
    last = np.ones(len(end), dtype=bool)
    last[:-1] = (next_step_2[:-1] != next_step_2[1:]) | (end[:-1] != end[1:])
    if piece is not None:
        last[:-1] |= piece[:-1] != piece[1:]
    return np.flatnonzero(last)


_STEP_BITS = np.array([0] + [1 << k for k in range(8)], dtype=np.uint8)  # by step + 1: step -1 has no bit


class _Moments:
    """Events grouped by (entity, instant): each moment's time, the bit mask of the funnel steps it holds and
    its entity's number; `entity_starts`: the first moment of each entity, then the number of moments;
    `of_row`: each row's moment (None when every row is a moment of its own). `start_us` has one more
    element, the largest time, for the moment `count` (none)."""

    def __init__(self, j: Journeys):
        new_moment = j.new_entity.copy()
        new_moment[1:] |= j.us[1:] != j.us[:-1]
        bits = _STEP_BITS[j.step + 1]
        if new_moment.all():  # no two events of an entity at the same instant: a moment is an event
            self.of_row, self.mask, start_us, first = None, bits, j.us, j.new_entity
        else:
            starts = np.flatnonzero(new_moment)
            self.of_row, self.mask = np.cumsum(new_moment) - 1, np.bitwise_or.reduceat(bits, starts)
            start_us, first = j.us[starts], j.new_entity[starts]
        self.count = len(self.mask)
        self.start_us = np.append(start_us, np.iinfo(np.int64).max)
        self.entity = np.cumsum(first, dtype=np.int32 if self.count < 2 ** 31 else np.int64)
        self.entity_starts = np.append(np.flatnonzero(first), self.count)

    def end_of(self, moments: np.ndarray) -> np.ndarray:
        """The first moment after the entity of each of `moments` (the next entity's first, or count)."""
        return self.entity_starts[self.entity[moments]]

    def next_holding(self, step: int, moments: np.ndarray) -> np.ndarray:
        """For each of `moments`, the first moment at or after it (of any entity) holding `step`, or count."""
        holds = (self.mask & (1 << step)) != 0
        holding = np.append(np.flatnonzero(holds), self.count)
        if len(moments) * 8 > self.count:  # many: count the holders before each moment, in one pass
            before = np.cumsum(holds, dtype=np.int32 if self.count < 2 ** 31 else np.int64)
            return holding[before[moments] - holds[moments]]
        return holding[np.searchsorted(holding[:-1], moments)]  # few: binary search among the holders


def _walk_indirect(m: _Moments, found: np.ndarray, end: np.ndarray, steps: int, deadline: np.ndarray):
    """Each step at the first moment at or after the previous step's (`found`: each attempt's next step-2
    moment). Attempts that stop are dropped from the arrays as they go, so later steps cost little. Returns
    each attempt's furthest step, and per step k > 1 when each attempt reached it (NOT_REACHED if not)."""
    reach, reached_at = np.ones(len(found), dtype=np.int64), []
    alive = np.arange(len(found))
    for k in range(1, steps):
        if k > 1:
            found = m.next_holding(k, found)
        at = m.start_us[found]
        ok = (found < end) & (at < deadline)
        alive, found, end, deadline = alive[ok], found[ok], end[ok], deadline[ok]
        reached = np.full(len(reach), NOT_REACHED, dtype=np.int64)
        reached[alive] = at[ok]
        reached_at.append(reached)
        reach[alive] += 1
    return reach, reached_at


def _walk_strict(m: _Moments, group: np.ndarray, end: np.ndarray, steps: int, deadline: np.ndarray):
    """Step k can only be at offsets 0..k-1 from the entry moment; `possible` is the bit set of the offsets
    at which the current step can be reached. Returns as `_walk_indirect`."""
    lowest = _lowest_bit_table(steps)
    reach, reached_at = np.ones(len(group), dtype=np.int64), []
    alive, first = np.arange(len(group)), group
    possible = np.ones(len(group), dtype=np.int64)
    for k in range(1, steps):
        candidates, holding = possible | (possible << 1), np.zeros(len(alive), dtype=np.int64)
        for offset in range(k + 1):
            moment = np.minimum(first + offset, end - 1)  # past the entity's last moment: not usable
            usable = (first + offset < end) & (m.start_us[moment] < deadline)
            holding |= (((m.mask[moment] >> k) & 1) * usable) << offset
        possible = candidates & holding
        ok = possible != 0
        alive, first, end, deadline, possible = alive[ok], first[ok], end[ok], deadline[ok], possible[ok]
        reached = np.full(len(reach), NOT_REACHED, dtype=np.int64)
        reached[alive] = m.start_us[first + lowest[possible]]
        reached_at.append(reached)
        reach[alive] += 1
    return reach, reached_at


def _per_entity(entity, piece, reach, reached_at, walked, rows, entry_us, steps, window_us, now_us) -> Outcome:
    """From the walked attempts (`walked`: their indexes among all attempts, ascending, each the last of its
    run; `entity`, `reach`, `piece`: theirs), each entity's (and piece's) furthest step and counted attempt:
    the first run reaching the furthest step (the highest score: furthest step first, then earliest), and in
    it the earliest attempt reaching that step. Attempts are in entity order, and by entry time within an
    entity."""
    if len(entity) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Outcome(empty, np.zeros(0, dtype=bool), empty, np.zeros((steps, 0), dtype=np.int64), empty,
                       None if piece is None else empty)
    first = _first_of_runs(entity)
    if piece is not None:
        first[1:] |= piece[1:] != piece[:-1]
    starts = np.flatnonzero(first)
    latest = len(entity) - 1
    best = np.maximum.reduceat((reach << 40) | (latest - np.arange(len(entity))), starts)
    furthest, chosen = best >> 40, latest - (best & ((1 << 40) - 1))
    last_entry = entry_us[walked[np.append(starts[1:], len(entity)) - 1]]
    in_progress = (furthest < steps) & (last_entry + window_us > now_us)
    times = np.empty((steps, len(chosen)), dtype=np.int64)
    for k, reached in enumerate(reached_at, start=1):
        times[k] = reached[chosen]  # the chosen attempt reached step k + 1 exactly when furthest > k
    # Within the run, an attempt reaches the furthest step when that step is inside its own window.
    latest_entry_allowed = np.where(furthest > 1, times[furthest - 1, np.arange(len(chosen))] - window_us,
                                    np.iinfo(np.int64).min)
    counted = _first_after(entry_us, np.append(0, walked[:-1] + 1)[chosen], latest_entry_allowed)
    times[0] = entry_us[counted]
    return Outcome(furthest, in_progress, rows[counted], times, last_entry,
                   None if piece is None else piece[starts])


# A part: per entity that entered in a piece of time (or a run of them), in key order, keys unique:
# (key, furthest, last_entry, times, code) as in `Outcome` (`key`: the entity's 64-bit hash, `code`: an attribute
# of the counted attempt's entry, or None in every part).
Part = tuple


def merge_parts(parts: list[Part]) -> Part:
    """One part for consecutive pieces of time from theirs (`parts` in time order): an entity's furthest step
    is the furthest of its pieces'; its counted attempt is that of the first piece reaching it (the earliest
    attempt reaching it there, so everywhere); its latest entry the latest of all."""
    return _merge_sorted(parts)[0]


def merge(parts: list[Part], steps: int, window_us: int, now_us: int):
    """The entities' outcomes over a range from its parts (in time order; see `merge_parts`), and whether each
    is in progress: not completed, its latest entry's window open at `now_us`. Returns (furthest, in_progress,
    times, code), entities in no particular order. The largest part is not copied in key order: the others
    are merged (`merge_parts`) and then matched to it by binary search, so a range of a few fresh pieces
    around one large cached part costs about as much as the fresh pieces."""
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0, dtype=bool), np.zeros((steps, 0), dtype=np.int64), None
    big = max(range(len(parts)), key=lambda i: len(parts[i][0]))
    ranks = [i for i in range(len(parts)) if i != big]
    if not ranks or not any(len(parts[i][0]) for i in ranks):
        _, furthest, last_entry, times, code = parts[big]
    else:
        (s_key, s_furthest, s_last, s_times, s_code), s_rank = _merge_sorted([parts[i] for i in ranks], ranks)
        b_key, b_furthest, b_last, b_times, b_code = parts[big]
        at = np.minimum(np.searchsorted(b_key, s_key), max(len(b_key) - 1, 0))
        hit = (b_key[at] == s_key) if len(b_key) else np.zeros(len(s_key), dtype=bool)
        bi, si, only = at[hit], np.flatnonzero(hit), np.flatnonzero(~hit)
        # Where both hold an entity, the other parts' outcome counts if it is further, or as far and earlier.
        wins = (s_furthest[si] > b_furthest[bi]) | ((s_furthest[si] == b_furthest[bi]) & (s_rank[si] < big))
        furthest = np.concatenate([b_furthest, s_furthest[only]])
        furthest[bi] = np.maximum(b_furthest[bi], s_furthest[si])
        last_entry = np.concatenate([b_last, s_last[only]])
        last_entry[bi] = np.maximum(b_last[bi], s_last[si])
        times = np.concatenate([b_times, s_times[:, only]], axis=1)
        times[:, bi[wins]] = s_times[:, si[wins]]
        code = None
        if b_code is not None:
            code = np.concatenate([b_code, s_code[only]])
            code[bi[wins]] = s_code[si[wins]]
    in_progress = (furthest < steps) & (last_entry + window_us > now_us)
    return furthest, in_progress, times, code


def _merge_sorted(parts: list[Part], ranks: list[int] | None = None) -> tuple[Part, np.ndarray]:
    """`merge_parts`, and for each entity the rank (`ranks`: one per part, ascending; default 0, 1, ...) of
    the part its counted attempt comes from."""
    ranks = list(range(len(parts))) if ranks is None else ranks
    kept = [(p, r) for p, r in zip(parts, ranks) if len(p[0])] or list(zip(parts, ranks))[:1]
    if not kept:
        raise ValueError("no parts to merge")
    if len(kept) == 1:
        part, rank = kept[0]
        return part, np.full(len(part[0]), rank, dtype=np.int64)
    parts = [p for p, _ in kept]
    rank = np.concatenate([np.full(len(p[0]), r, dtype=np.int64) for p, r in kept])
    key = np.concatenate([p[0] for p in parts])
    order = np.argsort(key, kind="stable")  # parts are each in key order: a merge of sorted runs
    key, furthest, last_entry, chosen = _reduce_entities(
        key[order], np.concatenate([p[1] for p in parts])[order], np.concatenate([p[2] for p in parts])[order])
    chosen = order[chosen]
    times = np.concatenate([p[3] for p in parts], axis=1)[:, chosen]
    code = np.concatenate([p[4] for p in parts])[chosen] if parts[0][4] is not None else None
    return (key, furthest, last_entry, times, code), rank[chosen]


def merge_rows(rows: Part, keep: np.ndarray) -> Part:
    """`merge_parts` of the pieces of one walk (`walk(..., pieces)`): `rows` as a part but one row per
    entity and piece, in key order then piece order (an `Outcome`'s rows); only the rows where `keep`."""
    key, furthest, last_entry, times, code = rows
    kept = np.flatnonzero(keep)
    key, furthest, last_entry, chosen = _reduce_entities(key[kept], furthest[kept], last_entry[kept])
    chosen = kept[chosen]
    return key, furthest, last_entry, times[:, chosen], None if code is None else code[chosen]


def split_rows(rows: Part, piece: np.ndarray, count: int) -> list[Part]:
    """The rows of one walk (see `merge_rows`) as one part per piece 0..count-1. Only the keys are copied
    out at once; a part's other arrays are gathered from `rows` when first asked for (most parts are only
    ever asked for their keys' count: a cold start merges the walk's rows directly)."""
    order = np.argsort(piece.astype(np.int16) if count < 2 ** 15 else piece, kind="stable")  # radix sort
    cuts = np.searchsorted(piece[order], np.arange(count + 1))
    return [_LazyPart(rows, order[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


class _LazyPart(tuple):
    """A part (key, furthest, last_entry, times, code) whose arrays but the key are gathered on first use."""

    def __new__(cls, rows: Part, index: np.ndarray):
        part = super().__new__(cls, (rows[0][index],))
        part._rows, part._index, part._rest = rows, index, None
        return part

    def __len__(self):
        return 5

    def approximate_bytes(self) -> int:
        """Its arrays, or its share of the walk's while they are not gathered (data/results.py weighs what
        it keeps)."""
        rows, rest, key = self._rows, self._rest, tuple.__getitem__(self, 0)
        if rows is None:
            return key.nbytes + sum(a.nbytes for a in rest if a is not None)
        share = sum(a.nbytes for a in rows if a is not None) * len(self._index) // max(1, len(rows[0]))
        return key.nbytes + self._index.nbytes + share

    def __iter__(self):
        return iter([self[i] for i in range(5)])

    def __getitem__(self, i):
        if i == 0:
            return tuple.__getitem__(self, 0)
        rest = self._rest
        if rest is None:  # two threads gathering at once is harmless: the same arrays
            rows = self._rows
            if rows is None:  # another thread has just gathered them
                rest = self._rest
            else:
                _, furthest, last_entry, times, code = rows
                index = self._index
                rest = (furthest[index], last_entry[index], times[:, index], None if code is None else code[index])
                self._rest, self._rows = rest, None  # the walk's rows are let go
        return rest[i - 1]


def _reduce_entities(key, furthest, last_entry):
    """Rows in key order, an entity's rows in time order: per entity its key, furthest step, latest entry,
    and the row of its counted attempt (the first reaching the furthest step)."""
    first = _first_of_runs(key)
    if first.all():  # one row per entity
        return key, furthest, last_entry, np.arange(len(key))
    starts = np.flatnonzero(first)
    latest = len(key) - 1
    best = np.maximum.reduceat((furthest.astype(np.int64) << 40) | (latest - np.arange(len(key))), starts)
    return key[starts], best >> 40, np.maximum.reduceat(last_entry, starts), latest - (best & ((1 << 40) - 1))


def _first_after(values: np.ndarray, start: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """For each i, the first index from start[i] on whose value is above bound[i] (one is known to exist;
    values ascend from each start)."""
    index = start.copy()
    waiting = np.flatnonzero(values[index] <= bound)
    while len(waiting):
        index[waiting] += 1
        waiting = waiting[values[index[waiting]] <= bound[waiting]]
    return index


def _first_of_runs(values: np.ndarray) -> np.ndarray:
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return first


def _lowest_bit_table(steps: int) -> np.ndarray:
    values = np.arange(1 << steps)
    lowest = np.zeros(1 << steps, dtype=np.int64)
    for bit in reversed(range(steps)):
        lowest[(values >> bit) & 1 == 1] = bit
    return lowest


# -- the tables the view shows -------------------------------------------------------------------

STEP_COLUMNS = ("step", "reached", "from_previous", "from_start", "dropped", "in_progress")


def step_table(furthest: np.ndarray, in_progress: np.ndarray, steps: int) -> pd.DataFrame:
    """Per step (1-based): entities reaching it (`reached`), conversion from the previous step and from the
    start, entities that stopped there with their window closed (`dropped`) and those that stopped there but
    may still go on (`in_progress`). Nobody drops at the last step: it is the goal."""
    groups = np.zeros(len(furthest), dtype=np.int64)
    return step_tables(groups, 1, furthest, in_progress, steps).drop(columns="group")


def step_tables(groups: np.ndarray, group_count: int, furthest: np.ndarray, in_progress: np.ndarray,
                steps: int) -> pd.DataFrame:
    """`step_table` for each group 0..group_count-1 (`groups`: each entity's), one after the other, with the
    group's number in column `group`. A group without entities has zero counts and undefined ratios."""
    cells = groups * (steps + 1) + furthest
    size = group_count * (steps + 1)
    stopped = np.bincount(cells, minlength=size).reshape(group_count, steps + 1)[:, 1:]
    waiting = np.bincount(cells[in_progress], minlength=size).reshape(group_count, steps + 1)[:, 1:]
    reached = stopped[:, ::-1].cumsum(axis=1)[:, ::-1]
    previous = np.concatenate([reached[:, :1], reached[:, :-1]], axis=1)
    dropped = stopped - waiting
    dropped[:, -1] = 0
    return pd.DataFrame({
        "group": np.repeat(np.arange(group_count), steps), "step": np.tile(np.arange(1, steps + 1), group_count),
        "reached": reached.ravel(), "from_previous": _ratio(reached, previous).ravel(),
        "from_start": _ratio(reached, np.repeat(reached[:, :1], steps, axis=1)).ravel(),
        "dropped": dropped.ravel(), "in_progress": waiting.ravel()})


def durations(times: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(from step, to step, seconds) for each pair of consecutive steps and for the first to the last
    step, over the entities whose counted attempt reached the later step."""
    steps = times.shape[0]
    pairs = [(k, k + 1) for k in range(1, steps)] + ([(1, steps)] if steps > 2 else [])
    out = []
    for a, b in pairs:
        reached = times[b - 1] != NOT_REACHED
        out.append((a, b, (times[b - 1][reached] - times[a - 1][reached]) / 1e6))
    return out


def duration_summary(pairs: list[tuple[int, int, np.ndarray]]) -> pd.DataFrame:
    """Per step pair of `durations`: entities converting (`converted`), median and 90th percentile of the
    time between the steps, in seconds (linear interpolation between order statistics, numpy's default)."""
    rows = [{"from_step": a, "to_step": b, "converted": len(s),
             "median_seconds": float(np.percentile(s, 50)) if len(s) else np.nan,
             "p90_seconds": float(np.percentile(s, 90)) if len(s) else np.nan}
            for a, b, s in pairs]
    return pd.DataFrame(rows, columns=["from_step", "to_step", "converted", "median_seconds", "p90_seconds"])


def duration_histogram(pairs: list[tuple[int, int, np.ndarray]], window_seconds: float) -> pd.DataFrame:
    """Per step pair of `durations` and bin [bin_start_seconds, bin_end_seconds): entities (`converted`) whose time
    between the steps falls in it; bins from DURATION_EDGES, cut at the window (no time reaches it)."""
    edges = np.array([e for e in DURATION_EDGES if e < window_seconds] + [window_seconds], dtype=float)
    rows = []
    for a, b, seconds in pairs:
        counts = np.histogram(seconds, bins=edges)[0] if len(seconds) else np.zeros(len(edges) - 1, int)
        rows += [{"from_step": a, "to_step": b, "bin_start_seconds": lo, "bin_end_seconds": hi, "converted": int(n)}
                 for lo, hi, n in zip(edges[:-1], edges[1:], counts)]
    return pd.DataFrame(rows, columns=["from_step", "to_step", "bin_start_seconds", "bin_end_seconds", "converted"])


def bucket_starts(us: np.ndarray, width_us: int, offset_us: int) -> np.ndarray:
    """The start (UTC microseconds) of the bucket of each time: buckets `width_us` long, aligned on
    midnight UTC shifted by the display zone's offset `offset_us`."""
    return (us + offset_us) // width_us * width_us - offset_us


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = numerator.astype(float)
    denominator = denominator.astype(float)
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out
