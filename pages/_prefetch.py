"""A live view computes its next refresh just before it is due, so the refresh tick finds it ready.

A refresh of the monitoring view costs a few hundred milliseconds of queries (the moving ends of the range
and of its comparison period, which no cache can hold). Computed when the tick arrives, the tiles wait for
it; computed ahead, the tick answers with the instant of a frame that is ready (or nearly), a fraction of
a second old, and the view's parts only format it.

Each tick schedules the view's next frame at tick + refresh interval - lead, the lead being twice what the
last frame took (at least 0.3 s). A frame is a snapshot of what the warehouse held when it was computed,
labelled with its instant, which the page shows as "Data as of". A tick uses the newest frame no older than
its lead plus a second and a half, or than the refresh interval (at most SHARE_AGE) when other viewers of the
view tick out of step with it; otherwise (first tick, a late frame) the frame of the tick's own instant is
computed when its parts ask for it, once for all of them. Frames are kept per view (page, filters, time
zone), so viewers of the same view share them: however many watch a view, the server computes about one
frame of it per refresh interval, as a single viewer costs.

A first load or a filter change has no tick to plan by, but it has the page render: the layout picks the
instant its parts will ask for and starts that frame (`start`) once its answer is sent, and the browser
spends a few hundred milliseconds drawing the layout before it sends them.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from typing import Any, Callable, Hashable

import flask

from pages import _state
from queries.filters import FilterError

log = logging.getLogger(__name__)

MIN_LEAD = 0.3        # seconds before the tick that a frame starts, at least
SLACK = 1.5           # seconds a frame may have aged beyond its lead and still be shown
SHARE_AGE = 5.0       # seconds old a frame made for another viewer's tick may be, at most (refresh permitting)
MAX_VIEWS = 200       # views remembered; those whose newest frame is oldest are forgotten first
RECENT_FRAMES = 400   # frames remembered by instant, across views; the oldest go first


class Prefetcher:
    def __init__(self, compute: Callable[[Hashable, int], Any],
                 prepare: Callable[[Hashable, int, Any], None] | None = None):
        self._compute = compute                                   # compute(view, instant_ms) -> frame
        # prepare(view, instant_ms, frame): work on a frame once it is shown to its waiters (the parts'
        # answers), in the thread that computed it; a part asking meanwhile makes its own (once_per_frame)
        self._prepare = prepare
        self._lock = threading.Lock()
        self._frames: dict[Hashable, tuple[int, Future]] = {}    # view -> newest frame (instant, result)
        # The last few frames of every view by instant: the parts of a refresh ask for their tick's instant,
        # and with many viewers a newer frame has often replaced it as the newest by the time they do.
        self._recent: OrderedDict[tuple[Hashable, int], Future] = OrderedDict()
        self._scheduled: dict[Hashable, list[float]] = {}        # view -> due times (monotonic) of timers
        self._cost: dict[Hashable, float] = {}                   # view -> seconds the last frame took
        self._unstarted: set[tuple[Hashable, int]] = set()       # render-started frames waiting for the answer

    def tick(self, view: Hashable, refresh_s: float, now_ms: int) -> int:
        """The instant a refresh tick at `now_ms` shows: a usable frame's, else `now_ms`. Schedules the
        view's next frame."""
        with self._lock:
            lead = self._lead(view, refresh_s)
            usable = self._usable(view, now_ms, _shared_age(lead, refresh_s))
            self._schedule(view, max(0.0, refresh_s - lead), _shared_age(lead, refresh_s) - lead)
        return usable if usable is not None else now_ms

    def _usable(self, view: Hashable, now_ms: int, max_age_s: float) -> int | None:
        """The instant of the view's newest frame if it may be shown at `now_ms`: no older than `max_age_s`,
        or still being computed. Waiting for a frame in progress rather than starting another is what keeps
        a busy server from falling behind: each frame started because the last was late makes the next
        later still."""
        frame = self._frames.get(view)
        if frame is None or _failed(frame[1]) or now_ms < frame[0]:
            return None
        return frame[0] if now_ms - frame[0] <= max_age_s * 1000 or not frame[1].done() else None

    def at(self, view: Hashable, instant_ms: int, timeout: float = 60.0) -> Any:
        """The frame of `view` at `instant_ms`, computed once for every caller: the prefetched or started
        one when it is for that instant, else computed now by the first caller while the others wait. The
        parts of one refresh (tiles, charts, tables) arrive as separate requests with the same instant;
        sharing one frame spares each the others' work (the same pieces, the same series)."""
        frame, owner = self._claim(view, instant_ms)
        if owner or self._take(view, instant_ms):  # a render's frame not started yet: compute it here
            self._fill(view, *frame)
        return frame[1].result(timeout=timeout)

    def start(self, view: Hashable, now_ms: int, refresh_s: float | None = None) -> int:
        """The instant a page render at `now_ms` shows: that of the view's newest frame if it is at most SLACK
        seconds old or still being computed (other viewers' loads, a refresh), else `now_ms`, whose frame
        starts computing in the background once the render's answer has gone out. A page's layout knows the instant its parts will ask for,
        and the browser takes a few hundred milliseconds to draw the layout and send them: a first load or
        a filter change finds its frame computed, or nearly. With a refresh interval, the frame for the
        first tick is scheduled too, as a tick would."""
        with self._lock:
            instant = self._usable(view, now_ms, SLACK)
            if refresh_s:
                lead = self._lead(view, refresh_s)
                self._schedule(view, max(0.0, refresh_s - lead), _shared_age(lead, refresh_s) - lead)
        if instant is not None:
            return instant
        frame, owner = self._claim(view, now_ms)
        if owner:
            with self._lock:
                self._unstarted.add((view, now_ms))
            # Started once the render's answer is sent: computed alongside the render, it slowed the render
            # (both want the interpreter), and the browser still takes a few hundred ms to draw the page.
            _after_response(lambda: threading.Thread(target=self._fill_if_unstarted, args=(view, *frame), daemon=True,
                                                     name="pulse-frame-start").start())
        return now_ms

    def _take(self, view: Hashable, instant_ms: int) -> bool:
        """Whether the caller is to compute the render-started frame (view, instant_ms): the first to ask."""
        with self._lock:
            if (view, instant_ms) in self._unstarted:
                self._unstarted.discard((view, instant_ms))
                return True
            return False

    def _fill_if_unstarted(self, view: Hashable, instant_ms: int, result: Future) -> None:
        if self._take(view, instant_ms):  # else a part asked first and computes it
            self._fill(view, instant_ms, result)

    def _claim(self, view: Hashable, instant_ms: int) -> tuple[tuple[int, Future], bool]:
        """The frame of `view` at `instant_ms` and whether the caller is to compute it: a usable one already
        there (computed, or being computed), else a new one, which becomes the view's newest if it is."""
        with self._lock:
            known = self._recent.get((view, instant_ms))
            if known is not None and not _failed(known):
                return (instant_ms, known), False
            frame = (instant_ms, Future())
            self._remember(view, frame)
            if view not in self._frames or self._frames[view][0] <= instant_ms:
                self._keep(view, frame)  # the newest instant asked for: a tick may show it too
            return frame, True

    def _remember(self, view: Hashable, frame: tuple[int, Future]) -> None:
        self._recent[(view, frame[0])] = frame[1]
        self._recent.move_to_end((view, frame[0]))
        while len(self._recent) > RECENT_FRAMES:
            self._recent.popitem(last=False)

    def _keep(self, view: Hashable, frame: tuple[int, Future]) -> None:
        """Make `frame` the view's newest; only the views used last are remembered (every distinct URL is a
        view, and a frame holds its series)."""
        self._frames.pop(view, None)
        self._frames[view] = frame
        while len(self._frames) > MAX_VIEWS:
            oldest = next(iter(self._frames))
            for table in (self._scheduled, self._frames, self._cost):
                table.pop(oldest, None)

    def _fill(self, view: Hashable, instant_ms: int, result: Future) -> None:
        began = time.perf_counter()
        try:
            frame = self._compute(view, instant_ms)
            result.set_result(frame)
        except Exception as error:  # noqa: BLE001 - every waiter gets the error; a later call tries again
            log.warning("computing %r at %s failed: %s", view, instant_ms, error)
            result.set_exception(error)
            frame = None
        with self._lock:
            if view in self._frames:  # not a view forgotten meanwhile
                self._cost[view] = time.perf_counter() - began
        if frame is not None and self._prepare is not None:
            try:
                self._prepare(view, instant_ms, frame)
            except Exception as error:  # noqa: BLE001 - a part asking makes its answer and meets the error
                log.warning("preparing %r at %s failed: %s", view, instant_ms, error)

    def _lead(self, view: Hashable, refresh_s: float) -> float:
        return min(max(MIN_LEAD, 2 * self._cost.get(view, MIN_LEAD)), refresh_s / 2)

    def _schedule(self, view: Hashable, delay: float, window: float) -> None:
        """One timer per tick, unless one is already due up to `window` seconds before it (other viewers of
        the view)."""
        due = time.monotonic() + delay
        pending = [d for d in self._scheduled.get(view, []) if d > time.monotonic()]
        # A frame made up to `window` seconds before this tick's due time serves it (`tick`): viewers of one
        # view refreshing out of step share frames instead of each scheduling their own (50 viewers of five
        # views had the server computing a frame every tenth of a second, and falling behind).
        if any(due - window <= d <= due for d in pending):
            self._scheduled[view] = pending
            return
        self._scheduled[view] = pending + [due]
        timer = threading.Timer(delay, self._run, args=(view,))
        timer.daemon = True
        timer.start()

    def _run(self, view: Hashable) -> None:
        instant = int(time.time() * 1000)
        result: Future = Future()
        with self._lock:
            self._keep(view, (instant, result))
            self._remember(view, (instant, result))
        self._fill(view, instant, result)


def once_per_frame(frame: dict, part: str, make: Callable[[], Any]) -> Any:
    """What `make()` answers for a part of a frame, made once for every viewer shown that frame (the first
    to ask makes it, the others wait for it): a part's answer depends only on the view and its instant,
    which the frame is for."""
    with _ANSWERS_LOCK:
        answers = frame.setdefault("answers", {})
        answer = answers.get(part)
        owner = answer is None
        if owner:
            answer = answers[part] = Future()
    if owner:
        try:
            answer.set_result(make())
        except Exception as error:  # noqa: BLE001 - the waiters get it; the answer is made again next time
            answer.set_exception(error)
            with _ANSWERS_LOCK:
                answers.pop(part, None)
    return answer.result()


_ANSWERS_LOCK = threading.Lock()


def _after_response(run: Callable[[], None]) -> None:
    """`run()` once the current request's answer has been sent (WSGI close), or at once outside a request."""
    if not flask.has_request_context():
        run()
        return

    @flask.after_this_request
    def _when_sent(response):
        response.call_on_close(run)
        return response


def _shared_age(lead: float, refresh_s: float) -> float:
    """How old a frame a tick shows may be: its lead and SLACK (the frame made for this very tick, a little
    late), or up to one refresh interval (at most SHARE_AGE): what a viewer ticking out of step with the one
    the frame was made for would have seen had it ticked then. Viewers of one view then cost one frame per
    interval, not one each; the data on screen stays at most an interval (plus the frame's lead) old."""
    return max(lead + SLACK, min(refresh_s, SHARE_AGE))


def _failed(result: Future) -> bool:
    return result.done() and result.exception() is not None


# ---- what the live views (monitoring, wall) share: their clock, refresh parameter, view key and tick ----

def now_ms() -> int:
    return int(time.time() * 1000)


def refresh_seconds(filters, choices: tuple[str, ...], default: str) -> int | None:
    """The URL's `refresh` in seconds (None: off), one of `choices`; a FilterError names it otherwise."""
    value = filters.extra.get("refresh", default)
    if value not in choices:
        raise FilterError("refresh", value, f"must be one of {', '.join(choices)} (seconds, or off)")
    return None if value == "off" else int(value)


def view_of(filters) -> tuple:
    """A view's key for its frames: its filters as a query string (the same for the layout, which reads
    the URL as a dict, and for the parts, which read it as a string), the display time zone and the
    warehouse. The frame function reads the filters back with `Filters.from_query`."""
    return (filters.to_query(), _state.timezone(), _state.warehouse())


def refresh_tick(prefetcher: Prefetcher, search: str | None, parse: Callable[[str], Any],
                 refresh_of: Callable[[Any], int | None]) -> int:
    """A refresh tick's instant for the view at `search`: a prefetched frame's when one is ready, else now.
    `parse(search)` is the view's filters, `refresh_of(filters)` its refresh interval (None: off); a bad
    parameter leaves the instant at now (the page itself names it)."""
    now = now_ms()
    try:
        filters = parse(search or "")
        refresh = refresh_of(filters)
    except FilterError:
        return now
    return now if refresh is None else prefetcher.tick(view_of(filters), refresh, now)
