"""The live demo stream: the demo model, run in real time, sending its events and spend to Pulse's own
ingest API over HTTP, so everything a shop's site would exercise (keys, validation, the writer, rollups)
is exercised by the demo too.

It continues the generated history: the same model, anchored at the same instant (experiments and
campaigns line up), the same seed (a returning user keeps their experiment variant), user numbers that
continue the history's. Each tick simulates the sessions that start since the last tick and their whole
paths; events in the future are held back and sent when their time comes. Spend of the current hour is
restated every minute as the hour fills up, as ad platforms report it.

The rate: by default the model is sped up to about `rate` events per second (20), which is far above the
demo history's own rate (about 0.25 events/s at scale 1); `rate=None` keeps the history's rate, so
comparisons with earlier periods stay like-for-like.
"""
from __future__ import annotations

import heapq
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from data import demo_model as dm
from data.schema import EVENT_TYPES

log = logging.getLogger("pulse.live")

DEFAULT_RATE = 20.0           # events per second, as the demo ships
LOOKAHEAD = timedelta(hours=3)  # sessions rarely last longer; later events of a session are dropped
SPEND_EVERY = 60.0            # seconds between spend restatements


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class LiveDemo:
    def __init__(self, history: dict, users_before: int, rate: float | None = DEFAULT_RATE, start: datetime | None = None):
        """`history`: the generator's ground truth topic `generator` (seed, scale, end, ...)."""
        self.seed = int(history["seed"])
        anchor = datetime.fromisoformat(history["end"].replace("Z", "+00:00")).replace(tzinfo=None)
        base = dm.default_model().scaled(float(history["scale"])).anchored(anchor)
        self.speedup = 1.0 if not rate else rate / natural_rate(base)
        self.model = base.scaled(self.speedup) if self.speedup != 1.0 else base
        self.experiments = dm.default_experiments(base)
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(time.time())]))
        self.run_id = np.base_repr(int(time.time() * 1000), 36).lower()
        self.next_user = users_before
        self.cursor = start or _utcnow()
        self.counters = {"event": 0, "session": 0, "order": 0}
        self.pending: list[tuple] = []              # heap of (ts, seq, row)
        self.paid_clicks: dict[tuple[int, int], int] = {}  # (hour_us, campaign code) -> paid sessions
        self.last_spend = 0.0

    # -- one step ------------------------------------------------------------------------------
    def due_events(self, now: datetime) -> list[dict]:
        """Simulate [cursor, now) and return every event due by `now`, oldest first."""
        if now > self.cursor:
            self._simulate(self.cursor, now)
            self.cursor = now
        due = []
        while self.pending and self.pending[0][0] <= now:
            due.append(heapq.heappop(self.pending)[2])
        return due

    def _simulate(self, start: datetime, end: datetime) -> None:
        running = [e for e in self.experiments if e.start <= start and (e.end is None or e.end > start)]
        sim = dm.simulate(self.model, start, end, self.rng, paid_sessions=self._expected_paid(start, end),
                          users_before=self.next_user, experiments=running, seed=self.seed,
                          events_until=end + LOOKAHEAD)
        self.next_user += sim.new_users
        for row in sim.paid_by_hour.itertuples():
            key = (int(row.hour_us), int(row.campaign))
            self.paid_clicks[key] = self.paid_clicks.get(key, 0) + int(row.sessions)
        for row in self._rows(sim, running):
            heapq.heappush(self.pending, (datetime.fromisoformat(row["ts"]).replace(tzinfo=None),
                                          self.counters["event"], row))

    def _expected_paid(self, start: datetime, end: datetime) -> pd.DataFrame:
        first, last = dm.to_us(start) // dm.DAY_US, (dm.to_us(end) - 1) // dm.DAY_US
        return dm.expected_paid_sessions(self.model, self._daily_spend(first, last))

    def _daily_spend(self, first_day: int, last_day: int) -> pd.DataFrame:
        """Each day's spend, drawn from a generator seeded by the day: the same plan at every tick."""
        days = [dm.plan_daily_spend(self.model, d, 1, np.random.default_rng([self.seed, d]))
                for d in range(first_day, last_day + 1)]
        return pd.concat(days)

    def _rows(self, sim: dm.Simulation, experiments) -> list[dict]:
        s, ev = sim.sessions, sim.events
        sid = ev.session.to_numpy()
        session_numbers = self.counters["session"] + np.arange(len(s))
        self.counters["session"] += len(s)
        rows = []
        for e, session in zip(ev.itertuples(), sid):
            self.counters["event"] += 1
            srow = s.iloc[session]
            row = {
                "event_id": f"le{self.run_id}-{self.counters['event']}",
                "ts": dm.from_us(int(e.ts_us)).replace(tzinfo=timezone.utc).isoformat(),
                "type": EVENT_TYPES[int(e.type)],
                "user_id": f"u{int(srow.user):08d}",
                "session_id": f"ls{self.run_id}-{session_numbers[session]}",
                "channel": self.model.channel_names[int(srow.channel)],
                "campaign": self.model.campaign_names[int(srow.campaign)],
                "device": self.model.devices[int(srow.device)],
                "region": self.model.regions[int(srow.region)].code,
                "page": dm.pages(self.model)[int(e.page)],
            }
            if row["type"] == "purchase":
                self.counters["order"] += 1
                row.update(revenue=float(e.revenue), order_id=f"lo{self.run_id}-{self.counters['order']}")
            if int(srow.experiment) >= 0:
                experiment = experiments[int(srow.experiment)]
                row.update(experiment=experiment.name, variant=list(experiment.weights)[int(srow.variant)])
            rows.append(row)
        return rows

    # -- spend ---------------------------------------------------------------------------------
    def spend_rows(self, now: datetime) -> list[dict]:
        """The current hour's spend so far per paid campaign (and the last hour's final figures)."""
        now_us = dm.to_us(now)
        hour_us = now_us // dm.HOUR_US * dm.HOUR_US
        rows = []
        for h in (hour_us - dm.HOUR_US, hour_us):
            day = h // dm.DAY_US
            spend = self._daily_spend(day, day)
            day_hours = np.arange(day * dm.DAY_US, (day + 1) * dm.DAY_US, dm.HOUR_US, dtype=np.int64)
            hour_share = dm.hourly_weights(self.model, day_hours).sum(axis=1)[(h - day * dm.DAY_US) // dm.HOUR_US]
            elapsed = min(1.0, (now_us - h) / dm.HOUR_US)
            shares = dm.campaign_shares(self.model, np.array([day]))[0]
            for j, k in enumerate(self.model.campaigns, start=1):
                if k.channel not in self.model.curves or shares[j] <= 0:
                    continue
                clicks = round(self.paid_clicks.get((h, j), 0) / self.model.sessions_per_click)
                rows.append({"ts": dm.from_us(h).replace(tzinfo=timezone.utc).isoformat(), "channel": k.channel,
                             "campaign": k.name, "clicks": clicks,
                             "impressions": round(clicks / self.model.curves[k.channel].click_through_rate),
                             "cost": round(float(spend[k.channel].iloc[0] * shares[j] * hour_share * elapsed), 2)})
        return rows


def natural_rate(model: dm.DemoModel) -> float:
    """The model's events per second over a recent day, measured by simulating it."""
    end = datetime.fromtimestamp(model.anchor_day * 86400 + 86400, timezone.utc).replace(tzinfo=None)
    start = end - timedelta(days=1)
    spend = dm.plan_daily_spend(model, model.anchor_day, 1, np.random.default_rng(0))
    sim = dm.simulate(model, start, end, np.random.default_rng(0), paid_sessions=dm.expected_paid_sessions(model, spend),
                      users_before=model.existing_users)
    return len(sim.events) / 86400


class LiveStream(threading.Thread):
    """Runs a LiveDemo against a Pulse server: posts due events every `tick` seconds, spend every minute."""

    def __init__(self, demo: LiveDemo, base_url: str, key: str, tick: float = 1.0):
        super().__init__(name="pulse-live-demo", daemon=True)
        self.demo, self.base_url, self.key, self.tick = demo, base_url.rstrip("/"), key, tick
        self.stopped = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stopped.wait(self.tick):
            now = _utcnow()
            try:
                events = self.demo.due_events(now)
                for batch in (events[i:i + 5000] for i in range(0, len(events), 5000)):
                    self._post("/api/v1/events", batch)
                    self.sent += len(batch)
                if time.monotonic() - self.demo.last_spend >= SPEND_EVERY:
                    self._post("/api/v1/spend", self.demo.spend_rows(now))
                    self.demo.last_spend = time.monotonic()
            except Exception:  # noqa: BLE001 - the demo must outlive a hiccup; the next tick retries
                log.exception("live demo tick failed")

    def _post(self, path: str, rows: list[dict]) -> None:
        if not rows:
            return
        request = urllib.request.Request(self.base_url + path, data=json.dumps(rows).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {self.key}"})
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    return
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    raise RuntimeError(f"{path}: {error.code} {error.read()[:500]!r}") from None
            except OSError:
                pass
            time.sleep(0.5 * 2 ** attempt)  # the server may still be starting
        raise RuntimeError(f"{path}: no answer from {self.base_url}")


def history_state(warehouse) -> tuple[dict, int] | None:
    """What the stream continues from: the generator's parameters and the next user number, or None when
    the warehouse holds no generated demo history."""
    body = warehouse.scalar("SELECT body FROM ground_truth WHERE topic = 'generator'")
    if body is None:
        return None
    newest = warehouse.scalar("SELECT max(user_id) FROM events WHERE user_id LIKE 'u%'")
    next_user = int(newest[1:]) + 1 if newest and newest[1:].isdigit() else 0
    return json.loads(body), next_user
