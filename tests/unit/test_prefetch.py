"""The prefetcher (pages/_prefetch.py): a refresh tick gets the instant of a frame computed just before it,
with real timers and threads; falls back to its own instant whenever no usable frame exists; and the parts
asking for a frame that was not prefetched compute it once between them."""
from __future__ import annotations

import threading
import time

import flask

from pages import _prefetch
from pages._prefetch import Prefetcher


class Recorder:
    """A compute function that records the instants it was asked for and returns one value per call."""

    def __init__(self, seconds: float = 0.0, fail: bool = False):
        self.instants: list[int] = []
        self.seconds = seconds
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, view, instant_ms):
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("warehouse gone")
        with self.lock:
            self.instants.append(instant_ms)
            return {"view": view, "instant": instant_ms, "call": len(self.instants)}


def now_ms() -> int:
    return int(time.time() * 1000)


def test_the_next_tick_shows_the_frame_computed_just_before_it():
    compute = Recorder(seconds=0.05)
    prefetcher = Prefetcher(compute)
    first = now_ms()
    assert prefetcher.tick("v", 1.0, first) == first          # nothing prefetched yet: the tick's own instant
    time.sleep(1.0)                                            # the browser's next tick, one interval later
    second = now_ms()
    shown = prefetcher.tick("v", 1.0, second)
    assert compute.instants == [shown]                         # one frame, scheduled by the first tick
    assert 0 < second - shown <= (_prefetch.MIN_LEAD + _prefetch.SLACK) * 1000
    assert prefetcher.at("v", shown) == {"view": "v", "instant": shown, "call": 1}
    assert compute.instants == [shown]                         # shown as prefetched, not computed again
    assert prefetcher.at("v", shown + 1)["call"] == 2          # another instant is not this frame


def test_a_frame_still_computing_is_waited_for_not_recomputed():
    compute = Recorder(seconds=0.4)
    prefetcher = Prefetcher(compute)
    prefetcher.tick("v", 0.7, now_ms())                        # lead 0.35 s: the frame starts at 0.35 s
    time.sleep(0.5)                                            # the frame is being computed now
    shown = prefetcher.tick("v", 0.7, now_ms())
    began = time.perf_counter()
    assert prefetcher.at("v", shown)["instant"] == shown
    assert time.perf_counter() - began < 0.4                   # waited for the rest only
    assert compute.instants == [shown]


def test_a_stale_or_failed_frame_is_not_shown():
    compute = Recorder()
    prefetcher = Prefetcher(compute)
    prefetcher.tick("v", 0.6, now_ms())
    time.sleep(0.5 + _prefetch.MIN_LEAD + _prefetch.SLACK)     # the viewer went away for a while
    late = now_ms()
    assert prefetcher.tick("v", 0.6, late) == late             # too old to pass for now
    broken = Recorder(fail=True)
    failing = Prefetcher(broken)
    failing.tick("w", 0.6, now_ms())
    time.sleep(0.6)
    asked = now_ms()
    assert failing.tick("w", 0.6, asked) == asked              # the failed frame is not shown
    broken.fail = False                                        # the warehouse is back
    assert failing.at("w", asked) == {"view": "w", "instant": asked, "call": 1}


def test_viewers_in_step_share_one_frame_and_views_do_not_mix():
    compute = Recorder()
    prefetcher = Prefetcher(compute)
    t = now_ms()
    for _ in range(5):                                         # five viewers of the same view, in step
        prefetcher.tick("same", 1.0, t)
    prefetcher.tick("other", 1.0, t)
    time.sleep(1.0)
    views = sorted(prefetcher.at(v, prefetcher.tick(v, 1.0, now_ms()))["view"] for v in ("same", "other"))
    assert views == ["other", "same"]
    assert len(compute.instants) == 2                          # one frame per view, not per viewer


def test_the_parts_of_a_refresh_nothing_was_prefetched_for_compute_its_frame_once():
    compute = Recorder(seconds=0.2)
    prefetcher = Prefetcher(compute)
    instant = now_ms()
    answers: list = []
    parts = [threading.Thread(target=lambda: answers.append(prefetcher.at("v", instant))) for _ in range(3)]
    for part in parts:
        part.start()
    for part in parts:
        part.join()
    assert answers == [{"view": "v", "instant": instant, "call": 1}] * 3
    assert compute.instants == [instant]
    assert prefetcher.tick("v", 1.0, instant + 100) == instant  # and the next tick may show it


def test_a_frame_started_by_the_page_render_is_the_one_its_parts_get():
    compute = Recorder(seconds=0.4)
    prefetcher = Prefetcher(compute)
    instant = now_ms()
    prefetcher.start("v", instant)                             # the layout, before the browser draws it
    prefetcher.start("v", instant)                             # a second render of the same instant: no new work
    time.sleep(0.25)                                           # the browser draws the page
    began = time.perf_counter()
    assert prefetcher.at("v", instant) == {"view": "v", "instant": instant, "call": 1}
    assert time.perf_counter() - began < 0.3                   # waited only for the rest of it
    assert compute.instants == [instant]


def test_the_render_s_frame_starts_once_its_answer_is_sent():
    """In a request, the frame a render starts is computed only after its answer has gone out (computed
    alongside, it slowed the render down), and a part asking before that computes it itself."""
    compute = Recorder(seconds=0.05)
    prefetcher = Prefetcher(compute)
    app = flask.Flask(__name__)
    during = {}

    @app.route("/render")
    def render():
        during["instant"] = prefetcher.start("v", now_ms())
        time.sleep(0.2)                                        # the rest of the layout
        during["computed"] = list(compute.instants)
        return "layout"

    assert app.test_client().get("/render").data == b"layout"
    assert during["computed"] == []                            # nothing computed while the layout was made
    assert prefetcher.at("v", during["instant"])["call"] == 1  # computed after it, once
    with app.test_request_context():                           # an answer not sent yet: the part computes it
        instant = prefetcher.start("w", now_ms())
        assert prefetcher.at("w", instant, timeout=1) == {"view": "w", "instant": instant, "call": 2}
    assert compute.instants == [during["instant"], instant]


def test_only_the_frames_used_last_are_remembered():
    compute = Recorder()
    prefetcher = Prefetcher(compute)
    instant = now_ms()
    prefetcher.at("first", instant)
    others = max(_prefetch.MAX_VIEWS, _prefetch.RECENT_FRAMES)
    for n in range(others):                                    # as many other URLs opened since
        prefetcher.at(f"other {n}", instant)
    assert prefetcher.at("first", instant)["call"] == others + 2  # forgotten: computed again
    assert prefetcher.at(f"other {others - 1}", instant)["call"] == others + 1  # kept
    assert len(prefetcher._frames) <= _prefetch.MAX_VIEWS and len(prefetcher._recent) <= _prefetch.RECENT_FRAMES


def test_the_page_render_also_prepares_the_first_tick():
    compute = Recorder()
    prefetcher = Prefetcher(compute)
    rendered = now_ms()
    prefetcher.start("v", rendered, 1.0)                       # the layout of a view refreshing every second
    time.sleep(1.0)                                            # the browser's first tick
    tick = now_ms()
    shown = prefetcher.tick("v", 1.0, tick)
    assert shown != tick and rendered < shown < tick           # a frame made for it, before it
    assert compute.instants == [rendered, shown]


def test_viewers_out_of_step_share_frames_made_a_little_before_their_ticks():
    """Ten viewers of one view ticking 0.1 s apart: one frame serves the ticks up to SLACK after it, so the
    server makes a frame per SLACK seconds of ticks, not one per viewer."""
    compute = Recorder()
    prefetcher = Prefetcher(compute)
    for _ in range(10):
        prefetcher.tick("v", 2.0, now_ms())
        time.sleep(0.1)
    time.sleep(1.0)                                            # each viewer's next tick, one interval later
    shown = []
    for _ in range(10):
        shown.append(prefetcher.tick("v", 2.0, now_ms()))
        time.sleep(0.1)
    assert len(set(shown)) == 1 and len(compute.instants) == 1  # one frame, made before the first of them


def test_viewers_spread_over_the_whole_interval_cost_one_frame_per_interval(monkeypatch):
    """Five viewers of one view ticking 0.2 s apart, across the whole 1 s refresh interval: each tick shows
    the frame made for the interval (up to one interval old), never one of its own, so the server makes
    one frame per interval however the viewers are spread. SLACK is shortened so that the interval, not
    SLACK, is what lets the last viewers share."""
    monkeypatch.setattr(_prefetch, "SLACK", 0.2)
    compute = Recorder()
    prefetcher = Prefetcher(compute)
    shown, began = [], time.monotonic()
    for round_ in range(3):
        for viewer in range(5):
            time.sleep(max(0.0, began + round_ + viewer * 0.2 - time.monotonic()))
            shown.append(prefetcher.tick("v", 1.0, now_ms()))
    later = shown[5:]                                           # once the first interval's frame exists
    assert set(later) <= set(compute.instants)                 # every tick shows a frame made for the view
    assert len(compute.instants) <= 3                          # one per interval (timers at 0.7, 1.7, 2.7 s)
    assert max(b - a for a, b in zip(sorted(later), sorted(later)[1:])) < 1000 + 150  # about an interval apart


def test_a_part_of_a_frame_is_made_once_for_every_viewer():
    made = []
    frame = {"tiles": 1}
    answers = [_prefetch.once_per_frame(frame, "tiles", lambda: made.append(1) or ["tile"]) for _ in range(5)]
    assert answers == [["tile"]] * 5 and made == [1]
    assert _prefetch.once_per_frame(frame, "trends", lambda: "chart") == "chart"


def test_a_part_asked_for_while_it_is_being_made_waits_for_it():
    """The frame's thread makes the parts' answers while a viewer's request asks for one: made once."""
    made, frame = [], {"tiles": 1}

    def make():
        made.append(1)
        time.sleep(0.2)
        return ["tile"]
    first = threading.Thread(target=lambda: _prefetch.once_per_frame(frame, "tiles", make))
    first.start()
    time.sleep(0.05)
    assert _prefetch.once_per_frame(frame, "tiles", make) == ["tile"]
    first.join()
    assert made == [1]


def test_the_parts_of_a_tick_get_its_frame_after_a_newer_one_has_started():
    compute = Recorder(seconds=0.05)
    prefetcher = Prefetcher(compute)
    first = now_ms()
    prefetcher.at("v", first)                                  # a tick's frame
    prefetcher.at("v", first + 700)                            # another viewer's, newer
    assert prefetcher.at("v", first)["call"] == 1              # the first tick's parts: not computed again
    assert compute.instants == [first, first + 700]


def test_a_first_load_finds_its_parts_answers_already_made(writable):
    """The monitoring page's render starts its frame, and the frame's thread also makes the three parts'
    answers; the parts' requests then answer with those, each made once."""
    from bench.monitoring import callback_payload, page_instant, page_payload
    from pages import monitoring
    from queries.filters import Filters

    _, client = writable
    dependencies = {d["output"]: d for d in client.get("/_dash-dependencies").get_json()}
    page = next(d for key, d in dependencies.items() if "_pages_content" in key)
    query = "from=now-24h&to=now&compare=previous&first_load_test=1"
    instant = page_instant(client.post("/_dash-update-component", json=page_payload(page, query)).get_json())
    with client.application.app_context():
        view = _prefetch.view_of(Filters.from_query(query))
    frame = monitoring.PREFETCH.at(view, instant, timeout=60)  # the render's frame, not a new one
    deadline = time.monotonic() + 30
    while len(frame.get("answers", {})) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)                                       # made just after the frame's data
    made = {name: answer.result(timeout=30) for name, answer in frame["answers"].items()}
    assert set(made) == {"tiles", "trends", "tables"}
    tiles = next(d for key, d in dependencies.items() if "kpi-row" in key)
    answer = client.post("/_dash-update-component", json=callback_payload(tiles, query, instant)).get_json()
    cards = answer["response"]["kpi-row"]["children"]
    assert len(cards) == len(made["tiles"][1]) == 13                # the 13 KPI tiles of docs/metrics.md
    assert frame["answers"]["tiles"].result() is made["tiles"]       # answered with it, not made again
