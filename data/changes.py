"""What each commit touched, so a result computed over a closed stretch of time stays valid until a commit
reaches back into it.

Every commit through the writer records the oldest instant whose figures it may have changed: for
events, the earliest `first_ts` of the sessions they touched, before or after the merge (a session's
flags, counts and attributes count at its start; its events at their own time, which is later); for
spend, its earliest hour. A result that depends only on data before `until` and was computed at
sequence number `seq` is still exact when no commit after `seq` touched anything before `until`.
"""
from __future__ import annotations

import bisect
import threading
from datetime import datetime

EVERYTHING = datetime.min  # a commit that may have touched any time


class ChangeLog:
    """Answers "did any commit after seq touch anything before until?" in O(log n).

    It keeps the commits whose oldest instant is older than that of every later commit (a monotonic
    queue): the oldest instant touched after `seq` is then that of the first kept commit after `seq`.
    """

    def __init__(self, keep: int = 100_000):
        self._lock = threading.Lock()
        self._seqs: list[int] = []
        self._oldest: list[datetime] = []
        self._keep = keep
        self._forgotten_through = 0  # commits up to this one may have been dropped
        self._seq = 0

    @property
    def seq(self) -> int:
        """Read before computing a result: the commits after it are the ones that may invalidate it."""
        return self._seq

    def record(self, oldest: datetime | None) -> None:
        """A commit happened; it touched nothing before `oldest` (None: nothing time-sliced at all)."""
        if oldest is None:
            return
        with self._lock:
            self._seq += 1
            while self._oldest and self._oldest[-1] >= oldest:
                self._seqs.pop()
                self._oldest.pop()
            self._seqs.append(self._seq)
            self._oldest.append(oldest)
            if len(self._seqs) > self._keep:
                cut = len(self._seqs) // 2
                self._forgotten_through = self._seqs[cut - 1]
                del self._seqs[:cut], self._oldest[:cut]

    def unchanged_since(self, seq: int, until: datetime) -> bool:
        """True when no commit after `seq` touched anything before `until`."""
        with self._lock:
            if seq >= self._seq:
                return True
            if seq < self._forgotten_through:
                return False
            first_after = bisect.bisect_right(self._seqs, seq)
            return first_after == len(self._seqs) or self._oldest[first_after] >= until
