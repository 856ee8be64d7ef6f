"""A cache of query results over closed stretches of time, kept exact by the change log.

Queries split a range into pieces (time buckets); a piece whose data ends before the newest commits is
computed once and reused by every viewer and every refresh until a commit reaches back into it
(late events, a re-keyed session, corrected spend). The piece that contains "now" is always recomputed.
Entries live in flask-caching's in-process SimpleCache, least recently used out first.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Callable

import numpy as np
import pandas as pd
from cachelib.serializers import BaseSerializer
from flask_caching.backends import SimpleCache

from data.changes import ChangeLog


class _Shared(BaseSerializer):
    """Values kept as they are, not pickled: a refresh reads dozens of pieces, and unpickling them cost
    more than computing the live ones. Callers therefore never modify a value they got (pandas' concat,
    filters and arithmetic all make new frames)."""

    def dumps(self, value):
        return value

    def loads(self, value):
        return value


def group_budget_bytes() -> int:
    """What the grouped entries may hold: `PULSE_CACHE_MB` megabytes (default 1024)."""
    value = os.environ.get("PULSE_CACHE_MB", "1024")
    try:
        megabytes = float(value)
    except ValueError:
        raise ValueError(f"PULSE_CACHE_MB={value!r}: expected a number of megabytes") from None
    if megabytes <= 0:
        raise ValueError(f"PULSE_CACHE_MB={value!r}: must be more than 0")
    return int(megabytes * 2 ** 20)


def approximate_bytes(value: Any) -> int:
    """What keeping `value` costs, roughly: the bytes of its arrays. A value that is a view into a larger
    one says what its share is (`approximate_bytes()`)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return int(np.sum(value.memory_usage(deep=False)))
    share = getattr(value, "approximate_bytes", None)
    if callable(share):
        return int(share())
    if isinstance(value, (tuple, list)):
        return sum(map(approximate_bytes, value))
    if isinstance(value, dict):
        return sum(map(approximate_bytes, value.values()))
    return 64


class ResultCache:
    def __init__(self, changes: ChangeLog, entries: int = 20_000, recent: int = 32, groups: int = 6,
                 group_bytes: int | None = None):
        self.changes = changes
        # Entries that belong to a group (a funnel setting's days: 100-200 MB at 10M events, ten times that at
        # 100M) are kept for the `groups` groups used last, and only as many of those as fit in `group_bytes`;
        # the entry count alone would let a few settings fill the memory.
        self._groups: OrderedDict[str, set[str]] = OrderedDict()
        self._max_groups = groups
        self._max_group_bytes = group_budget_bytes() if group_bytes is None else group_bytes
        self._sizes: dict[str, tuple[str, int]] = {}  # grouped key -> (its group, its approximate bytes)
        self._group_bytes: dict[str, int] = {}
        self._store = SimpleCache(threshold=entries, default_timeout=0)
        self._store.serializer = _Shared()
        # Results over a range ending at an instant: large and soon stale, so only the last few are kept.
        self._recent = SimpleCache(threshold=recent, default_timeout=0)
        self._recent.serializer = _Shared()
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str, until: datetime, recent: bool = False) -> Any | None:
        """The value stored under `key` if no commit since it was computed touched data before `until`.
        `recent`: among the few results kept apart (`put(..., recent=True)`)."""
        entry = (self._recent if recent else self._store).get(key)
        if entry is not None and self.changes.unchanged_since(entry[0], until):
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def put(self, key: str, value: Any, seq: int, recent: bool = False, group: str | None = None) -> None:
        """Store `value`, computed from data read after the change log stood at `seq`; `recent`: among the
        last few results over ranges ending at an instant (the same refresh asks for them again); `group`:
        kept while the group is among the last used (`touch`)."""
        (self._recent if recent else self._store).set(key, (seq, value))
        if group is not None:
            with self._lock:
                self._forget_size(key)
                self._groups.setdefault(group, set()).add(key)
                size = approximate_bytes(value)
                self._sizes[key] = (group, size)
                self._group_bytes[group] = self._group_bytes.get(group, 0) + size
            self.touch(group)

    def touch(self, group: str) -> None:
        """The group is in use: it is the last to go. The least recently used go now while there are more
        groups than the limit or they hold more than the byte budget (but never the group in use)."""
        evicted = []
        with self._lock:
            if group in self._groups:
                self._groups.move_to_end(group)
            while len(self._groups) > 1 and (len(self._groups) > self._max_groups
                                             or sum(self._group_bytes.values()) > self._max_group_bytes):
                name, keys = self._groups.popitem(last=False)
                self._group_bytes.pop(name, None)
                for key in keys:
                    self._sizes.pop(key, None)
                evicted.append(keys)
        for keys in evicted:
            for key in keys:
                self._store.delete(key)

    def grouped_bytes(self) -> int:
        """Roughly what the grouped entries hold now."""
        with self._lock:
            return sum(self._group_bytes.values())

    def drop(self, key: str) -> None:
        """Forget the value stored under `key` (one that will not be asked for again), freeing its memory
        before the least-recently-used rule would."""
        with self._lock:
            self._forget_size(key)
        self._store.delete(key)

    def _forget_size(self, key: str) -> None:
        group, size = self._sizes.pop(key, (None, 0))
        if group is not None:
            self._group_bytes[group] -= size
            self._groups.get(group, set()).discard(key)

    def through(self, key: str, until: datetime, compute: Callable[[], Any]) -> Any:
        value = self.get(key, until)
        if value is None:
            seq = self.changes.seq
            value = self.shared(key, compute)
            self.put(key, value, seq)
        return value

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()`, or, when another thread is already computing `key`, its result. The parts of one
        refresh (tiles, charts) and viewers refreshing together ask for the same pieces at once."""
        with self._lock:
            flight = self._in_flight.get(key)
            owner = flight is None
            if owner:
                flight = self._in_flight[key] = Future()
        if not owner:
            return flight.result()
        try:
            flight.set_result(compute())
        except BaseException as error:  # the waiters get the same error
            flight.set_exception(error)
        finally:
            with self._lock:
                del self._in_flight[key]
        return flight.result()
