"""The alert evaluator and the webhook sender: background workers of the server.

`AlertEvaluator.evaluate_once(now)` reads the enabled rules and their states, computes each rule's values
(`queries.alerts`, which calls `queries.kpis.kpis`), decides breach or not (`analytics.alerting.condition`),
steps the Grafana-style state machine (`analytics.alerting.step`) and, in one write through the process's
writer, stores every rule's state, records each transition to Firing or back to Normal in `alert_events`
(a firing also adds an `annotations` row of kind `alert`, closed when the alert resolves), then hands those
events to the `WebhookSender`. `start()` runs it every `interval_seconds` on a daemon thread, whether or not
anyone is watching. A rule that is disabled or deleted while firing is resolved on the next evaluation.

The webhook sender has its own thread and a queue ordered by due time, so the evaluator never waits on the
network: each event is POSTed as JSON to every enabled URL of the `webhooks` table and of
`$PULSE_ALERT_WEBHOOKS` (comma-separated); a failed attempt (no answer, or a status other than 2xx) is
retried after 1, 2, 4 and 8 s (5 attempts; `backoff` sets the delays), and every attempt is logged in
`webhook_deliveries`.

Wiring (app.py): `start_alerting(app)` after `create_app`; on a demo warehouse,
`app.server.extensions["pulse.writer"].call(seed_demo_rules)` first (it adds the demo rules only when
there are none).
"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from analytics.alerting import AlertState, Rule, Verdict, condition, step
from data.warehouse import Warehouse
from queries import alerts as q
from queries.alert_rules import validate_rule
from queries.filters import FilterError, Filters

log = logging.getLogger("pulse.alerts")

WEBHOOKS_ENV = "PULSE_ALERT_WEBHOOKS"
PUBLIC_URL_ENV = "PULSE_PUBLIC_URL"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8050"
DEFAULT_BACKOFF = (1.0, 2.0, 4.0, 8.0)


# ---------------------------------------------------------------------------------------- validation

def rule_from_row(row: dict) -> Rule:
    data = {k: row[k].item() if hasattr(row[k], "item") else row[k] for k in ("id", *q.RULE_FIELDS)}
    data["filters"] = data["filters"] or ""
    return Rule.model_validate(data)


# ----------------------------------------------------------------------------------------- demo rules

DEMO_RULES = (
    # The demo's checkout outage: purchases all but stop for three hours.
    {"name": "Conversion rate collapse", "kpi": "conversion_rate", "kind": "threshold", "window_minutes": 60,
     "operator": "<", "value": 0.005, "pending_minutes": 30},
    # Traffic (or tracking) lost: sessions of the last 30 min 40 % below the same time of week.
    {"name": "Sessions 40% below the last 4 weeks", "kpi": "sessions", "kind": "baseline", "window_minutes": 30,
     "weeks": 4, "method": "percent", "direction": "below", "value": 0.4, "pending_minutes": 10},
    # Paid spend running ahead of the day's planned budget.
    {"name": "Spend running ahead of plan", "kpi": "spend", "kind": "pacing", "tolerance": 0.25,
     "pending_minutes": 60},
)


def seed_demo_rules(conn) -> list[int]:
    """Add the three demo rules to a warehouse that has never had a rule (so rules a user deleted do not come
    back at the next start); returns the new ids, [] when nothing was added. Runs inside a writer
    transaction: `writer.call(seed_demo_rules)`."""
    if q.has_rules(conn) or q.rules_were_created(conn):
        return []
    return [q.insert_rule(conn, validate_rule(dict(data)).model_dump()) for data in DEMO_RULES]


# ------------------------------------------------------------------------------------------ webhooks

def configured_webhook_urls(env: dict | None = None) -> list[str]:
    raw = (env if env is not None else os.environ).get(WEBHOOKS_ENV, "")
    return [u.strip() for u in raw.split(",") if u.strip()]


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    event_id: int = field(compare=False)
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False, default=1)


class WebhookSender:
    """POSTs alert events as JSON on its own thread, with retries and exponential backoff; every attempt
    is recorded in `webhook_deliveries` through the writer."""

    def __init__(self, writer, backoff: Iterable[float] = DEFAULT_BACKOFF, timeout: float = 5.0):
        self.writer = writer
        self.backoff = tuple(float(b) for b in backoff)
        self.timeout = timeout
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def attempts(self) -> int:
        return len(self.backoff) + 1

    def start(self) -> "WebhookSender":
        with self._cond:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="pulse-webhooks", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def send(self, event_id: int, payload: dict, urls: Iterable[str]) -> None:
        """Queue one event for every URL; returns at once."""
        body = json.dumps(payload, default=_json_default).encode()
        self.start()
        with self._cond:
            for url in dict.fromkeys(urls):
                heapq.heappush(self._heap, _Delivery(time.monotonic(), next(self._seq), event_id, url, body))
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is queued or in flight (for tests and shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._busy, timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._busy

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    if self._heap and self._heap[0].due <= time.monotonic():
                        delivery = heapq.heappop(self._heap)
                        self._busy += 1
                        break
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
            try:
                self._attempt(delivery)
            except Exception:  # noqa: BLE001 - the sender thread must survive anything
                log.exception("webhook delivery to %s failed unexpectedly", delivery.url)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, delivery: _Delivery) -> None:
        status, error = post_json(delivery.url, delivery.body, self.timeout)
        ok = status is not None and 200 <= status < 300
        try:
            self.writer.call(lambda conn: q.insert_delivery(conn, delivery.event_id, delivery.url, delivery.attempt,
                                                            status, ok, error))
        except Exception:  # noqa: BLE001 - a log row lost must not stop the retries
            log.exception("could not record a webhook delivery")
        if ok:
            return
        if delivery.attempt <= len(self.backoff):
            delay = self.backoff[delivery.attempt - 1]
            log.warning("webhook %s attempt %d failed (%s); retrying in %.1f s", delivery.url, delivery.attempt,
                        error or status, delay)
            with self._cond:
                heapq.heappush(self._heap, _Delivery(time.monotonic() + delay, next(self._seq), delivery.event_id,
                                                     delivery.url, delivery.body, delivery.attempt + 1))
                self._cond.notify_all()
        else:
            log.error("webhook %s: giving up on event %d after %d attempts", delivery.url, delivery.event_id,
                      delivery.attempt)


def post_json(url: str, body: bytes, timeout: float) -> tuple[int | None, str | None]:
    """POST `body` as JSON: (HTTP status or None when there was no answer, error text or None)."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "Pulse-Alerting/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, str(getattr(error, "reason", error))[:500]


# ------------------------------------------------------------------------------------------ evaluator

@dataclass
class Evaluation:
    """What one evaluation of one rule found (returned by `evaluate_once`, for callers and tests)."""
    rule: Rule
    verdict: Verdict
    state: AlertState
    transition: str | None
    event_id: int | None = None
    error: str | None = None


class AlertEvaluator:
    def __init__(self, app=None, *, warehouse: Warehouse | None = None, writer=None, interval_seconds: float = 30,
                 clock: Callable[[], datetime] | None = None, tz: str | None = None,
                 webhook_urls: Iterable[str] | None = None, backoff: Iterable[float] = DEFAULT_BACKOFF,
                 webhook_timeout: float = 5.0, public_url: str | None = None):
        server = getattr(app, "server", app)  # a Dash app or its Flask server
        if server is not None:
            warehouse = warehouse or server.extensions["pulse.warehouse"]
            writer = writer or server.extensions["pulse.writer"]
            tz = tz or server.config.get("PULSE_TIMEZONE", "UTC")
            public_url = public_url or server.config.get("PULSE_PUBLIC_URL")
        if warehouse is None or writer is None:
            raise ValueError("AlertEvaluator needs an app, or a warehouse and a writer")
        self.warehouse = warehouse
        self.writer = writer
        self.interval = float(interval_seconds)
        self.clock = clock or (lambda: datetime.now(timezone.utc).replace(tzinfo=None))
        self.tz = tz or "UTC"
        self.extra_urls = list(webhook_urls) if webhook_urls is not None else None
        self.public_url = (public_url or os.environ.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL).rstrip("/")
        self.sender = WebhookSender(writer, backoff=backoff, timeout=webhook_timeout)
        self.last_run: datetime | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- schedule --------------------------------------------------------------------------------
    def start(self) -> "AlertEvaluator":
        if self._thread is None:
            self._stop.clear()
            self.sender.start()
            self._thread = threading.Thread(target=self._loop, name="pulse-alerts", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.sender.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.evaluate_once()
            except Exception as error:  # noqa: BLE001 - keep evaluating on the next tick
                self.last_error = str(error)
                log.exception("alert evaluation failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    # -- one evaluation --------------------------------------------------------------------------
    def evaluate_once(self, now: datetime | None = None) -> list[Evaluation]:
        """Evaluate every enabled rule at `now` (naive UTC; default: the clock), store states, record
        transitions and queue their webhooks. Returns what each rule found."""
        now = _naive_utc(now or self.clock())
        with self._lock:
            rules = [rule_from_row(r) for r in q.rules(self.warehouse).to_dict("records")]
            stored = {int(r["rule_id"]): r for r in q.states(self.warehouse).to_dict("records")}
            since = q.first_data(self.warehouse)
            results: list[Evaluation] = []
            for rule in rules:
                if not rule.enabled:
                    continue
                previous = stored.get(rule.id)
                state = AlertState(previous["state"], _ts(previous["since"])) if previous else AlertState()
                try:
                    verdict = self.verdict(rule, now, since)
                except Exception as error:  # noqa: BLE001 - one broken rule must not stop the others
                    log.exception("rule %s (%s) could not be evaluated", rule.id, rule.name)
                    results.append(Evaluation(rule, Verdict(False, None, None, f"evaluation error: {error}", True),
                                              state, None, error=str(error)))
                    continue
                new_state, transition = step(state, verdict.breached, now, rule.pending)
                results.append(Evaluation(rule, verdict, new_state, transition))
            live = {r.id: r for r in rules if r.enabled}
            orphans = [s for rid, s in stored.items() if rid not in live]
            events = self._write(now, results, stored, orphans, {r.id: r for r in rules})
            self.last_run = now
        for event_id, payload, urls in events:
            if urls:
                self.sender.send(event_id, payload, urls)
        return results

    def verdict(self, rule: Rule, now: datetime, since: datetime | None = None) -> Verdict:
        """The rule's condition at `now`, from the warehouse."""
        filters = Filters.from_query(rule.filters or "")
        if rule.kind == "pacing":
            pacing = q.spend_pacing(self.warehouse, filters, now, self.tz).iloc[0]
            return condition(rule, pacing.spend, pacing.plan_to_date)
        start = now - rule.window
        current = q.kpi_value(self.warehouse, filters, rule.kpi, start, now)
        if rule.kind == "threshold":
            return condition(rule, current)
        weeks = q.previous_weeks(self.warehouse, filters, rule.kpi, start, now, rule.weeks,
                                 since=since if since is not None else q.first_data(self.warehouse))
        return condition(rule, current, weeks.value.tolist())

    def _write(self, now, results, stored, orphans, all_rules) -> list[tuple[int, dict, list[str]]]:
        """One writer transaction: states, events, annotations. Returns (event id, payload, urls) to send."""
        urls = self.webhook_urls()
        pending_events: list[tuple[dict, dict, Evaluation | None, dict | None]] = []
        state_rows: list[dict] = []
        for ev in results:
            if ev.error is not None:  # keep the stored state; note the error
                previous = stored.get(ev.rule.id)
                state_rows.append(_state_row(ev.rule, ev.state, now, ev.verdict,
                                             previous.get("event_id") if previous else None,
                                             previous.get("annotation_id") if previous else None))
                continue
            previous = stored.get(ev.rule.id) or {}
            row = _state_row(ev.rule, ev.state, now, ev.verdict, previous.get("event_id"), previous.get("annotation_id"))
            state_rows.append(row)
            if ev.transition in ("firing", "resolved"):
                started = ev.state.since if ev.transition == "firing" else _ts(previous.get("since")) or now
                event = {"rule_id": ev.rule.id, "rule_name": ev.rule.name, "kpi": ev.rule.kpi,
                         "status": ev.transition, "ts": now, "started_at": started,
                         "ended_at": now if ev.transition == "resolved" else None,
                         "observed": _finite(ev.verdict.observed), "expected": _finite(ev.verdict.expected),
                         "message": ev.verdict.message, "rule": ev.rule.model_dump()}
                pending_events.append((event, row, ev, previous))
        for orphan in orphans:
            if orphan["state"] != "firing":
                continue
            rule = all_rules.get(int(orphan["rule_id"]))
            why = "was disabled" if rule is not None else "was deleted"
            event = {"rule_id": int(orphan["rule_id"]), "rule_name": orphan["rule_name"],
                     "kpi": rule.kpi if rule else "", "status": "resolved", "ts": now,
                     "started_at": _ts(orphan["since"]) or now, "ended_at": now, "observed": None, "expected": None,
                     "message": f"Alert {orphan['rule_name']!r} resolved: the rule {why}",
                     "rule": rule.model_dump() if rule else {"id": int(orphan["rule_id"]), "name": orphan["rule_name"]}}
            pending_events.append((event, None, None, orphan))

        def write(conn):
            ids = []
            for event, row, ev, previous in pending_events:
                event_id = q.insert_event(conn, event)
                ids.append(event_id)
                if event["status"] == "firing":
                    filters = Filters.from_query(ev.rule.filters or "")
                    annotation_id = q.insert_alert_annotation(
                        conn, event["started_at"], event["message"],
                        channel=_only(filters.channel), region=_only(filters.region))
                    row["event_id"], row["annotation_id"] = event_id, annotation_id
                else:
                    if previous and previous.get("annotation_id") is not None and not _nan(previous["annotation_id"]):
                        q.end_alert_annotation(conn, int(previous["annotation_id"]), now)
                    if row is not None:
                        row["event_id"], row["annotation_id"] = event_id, None
            q.save_states(conn, state_rows)
            q.delete_states(conn, [int(o["rule_id"]) for o in orphans])
            return ids

        ids = self.writer.call(write)
        out = []
        for event_id, (event, _, _, _) in zip(ids, pending_events):
            out.append((event_id, self.payload(event_id, event), urls))
            log.info("alert %s: %s", event["status"], event["message"])
        return out

    def payload(self, event_id: int, event: dict) -> dict:
        return {"status": event["status"], "event_id": event_id, "rule": event["rule"],
                "observed": event["observed"], "expected": event["expected"], "message": event["message"],
                "started_at": _iso(event["started_at"]), "ended_at": _iso(event["ended_at"]),
                "dashboard_url": self.dashboard_url(event)}

    def dashboard_url(self, event: dict) -> str:
        """The monitoring view around the alert, with the rule's filters: from two windows (at least an hour)
        before it started to when it ended, or to now while it fires."""
        rule = event["rule"]
        try:
            filters = Filters.from_query(rule.get("filters") or "")
        except FilterError:
            filters = Filters()
        lead = timedelta(minutes=max(60, 2 * int(rule.get("window_minutes") or 60)))
        start = _iso(event["started_at"] - lead)
        end = _iso(event["ended_at"]) if event.get("ended_at") else "now"
        return f"{self.public_url}/?" + filters.with_changes(start=start, end=end, compare="none").to_query()

    def webhook_urls(self) -> list[str]:
        urls = q.webhooks(self.warehouse, enabled_only=True).url.tolist()
        urls += configured_webhook_urls()
        urls += self.extra_urls or []
        return list(dict.fromkeys(urls))


def start_alerting(app, interval_seconds: float = 30, **options) -> AlertEvaluator:
    """Start the evaluator (and its webhook sender) for a Pulse app; kept in the server's extensions as
    `pulse.alerts`. Call once, after `create_app`."""
    server = getattr(app, "server", app)
    existing = server.extensions.get("pulse.alerts")
    if existing is not None:
        return existing
    evaluator = AlertEvaluator(app, interval_seconds=interval_seconds, **options)
    server.extensions["pulse.alerts"] = evaluator
    return evaluator.start()


# ------------------------------------------------------------------------------------------- helpers

def _state_row(rule: Rule, state: AlertState, now, verdict: Verdict, event_id, annotation_id) -> dict:
    return {"rule_id": rule.id, "rule_name": rule.name, "state": state.state, "since": state.since,
            "last_evaluated": now, "observed": _finite(verdict.observed), "expected": _finite(verdict.expected),
            "message": verdict.message, "event_id": None if _nan(event_id) else int(event_id),
            "annotation_id": None if _nan(annotation_id) else int(annotation_id)}


def _only(values: tuple[str, ...]) -> str | None:
    return values[0] if len(values) == 1 else None


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _ts(value) -> datetime | None:
    """A timestamp from a DataFrame cell (Timestamp, datetime, NaT or None) as a naive datetime."""
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
        return pd.Timestamp(value).to_pydatetime()
    except (TypeError, ValueError):
        return None


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _iso(moment) -> str | None:
    moment = _ts(moment) if not isinstance(moment, datetime) else moment
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


def _json_default(value):
    if isinstance(value, datetime):
        return _iso(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)
