"""Alerting: rule conditions and the pending state machine (pure), the demo's checkout outage caught on the
generated warehouse, webhooks delivered to a real local HTTP receiver with retries, and the JSON API.

Expected values are worked by hand or computed independently (tests/reference.py over the raw tables,
scipy's median_abs_deviation), never copied from the code under test."""
from __future__ import annotations

import json
import math
import shutil
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from scipy.stats import median_abs_deviation

from analytics.alerting import AlertState, RuleError, condition, parse_rule, replay, robust_z, step
from api.alerting import AlertEvaluator, seed_demo_rules
from queries.alert_rules import validate_rule
from app import create_app
from data.warehouse import Warehouse
from data.writer import make_writer
from queries import alerts as q
from queries.filters import Filters
from tests import reference as ref

T0 = datetime(2026, 11, 11, 12, 0)


def rule(**fields):
    base = {"name": "r", "kpi": "conversion_rate", "kind": "threshold", "window_minutes": 60, "operator": "<",
            "value": 0.015, "pending_minutes": 5}
    return parse_rule(base | fields)


# ------------------------------------------------------------------------------------- conditions

def test_threshold_breaches_and_says_so():
    r = rule()
    verdict = condition(r, 0.0042)
    assert verdict.breached and verdict.observed == 0.0042 and verdict.expected == 0.015
    assert verdict.message == "Conversion rate 0.42% over the last 60 min is below 1.50%"
    assert not condition(r, 0.02).breached
    assert not condition(r, 0.015).breached and condition(rule(operator="<="), 0.015).breached
    assert condition(rule(kpi="sessions", operator=">", value=100), 101).breached
    nothing = condition(r, float("nan"))  # no sessions: the ratio is undefined, which is not a breach
    assert not nothing.breached and nothing.no_data and "no data" in nothing.message


def test_percent_baseline_against_the_mean_of_the_previous_weeks():
    r = rule(kind="baseline", kpi="sessions", window_minutes=30, method="percent", direction="below", value=0.4)
    weeks = [100, 120, 80, 100]  # mean 100
    low = condition(r, 55, weeks)  # 45 % below
    assert low.breached and low.expected == 100 and low.score == pytest.approx(-0.45)
    assert "45% below the same time over the previous 4 weeks (100)" in low.message
    assert not condition(r, 65, weeks).breached           # 35 % below
    assert not condition(r, 200, weeks).breached          # above, but the rule looks below
    assert condition(rule(kind="baseline", kpi="sessions", value=0.4, direction="either"), 150, weeks).breached
    gaps = condition(r, 55, [100, float("nan"), None, 100])  # weeks without data are left out
    assert gaps.breached and gaps.expected == 100 and "previous 2 weeks" in gaps.message
    assert condition(r, 55, []).no_data


def test_robust_zscore_uses_median_and_scaled_mad():
    weeks = [10, 12, 11, 13, 9]  # median 11; |deviations| 1, 1, 0, 2, 2: MAD 1, scaled 1.4826
    z, median = robust_z(6, weeks)
    assert median == 11 and z == pytest.approx(-5 / 1.4826)
    assert z == pytest.approx((6 - 11) / median_abs_deviation(weeks, scale="normal"), rel=1e-4)
    r = rule(kind="baseline", kpi="orders", method="zscore", direction="below", value=3, weeks=5)
    verdict = condition(r, 6, weeks)
    assert verdict.breached and verdict.expected == 11 and verdict.score == pytest.approx(-3.3725, abs=1e-4)
    assert "robust z-score -3.4" in verdict.message
    assert not condition(r, 8, weeks).breached  # z = -3 / 1.4826 = -2.02
    assert not condition(r, 16, weeks).breached and condition(r.model_copy(update={"direction": "above"}), 16, weeks).breached
    # MAD 0 (three equal weeks of four): mean absolute deviation x 1.2533 instead: |dev| 0,0,0,4 -> 1 -> 1.2533
    z, median = robust_z(12, [10, 10, 10, 14])
    assert median == 10 and z == pytest.approx(2 / 1.2533)
    assert robust_z(10, [10, 10, 10])[0] == 0 and robust_z(11, [10, 10, 10])[0] == math.inf
    assert condition(r, 6, [10, 11]).no_data  # a z-score needs 3 weeks


def test_pacing_compares_spend_with_the_plan_to_date():
    r = rule(kind="pacing", kpi="spend", tolerance=0.1)
    ahead = condition(r, 560.0, 500.0)
    assert ahead.breached and ahead.expected == 500 and ahead.score == pytest.approx(0.12)
    assert ahead.message == "Spend today 560.00 is 12% ahead of plan (500.00 by now); alert beyond 10% ahead"
    assert not condition(r, 540.0, 500.0).breached
    assert not condition(r, 300.0, 500.0).breached
    assert condition(r, 10.0, float("nan")).no_data  # no budget


def test_spend_pacing_values_from_the_warehouse(warehouse, raw):
    budgets = warehouse.read("SELECT month, channel, planned FROM budgets")
    november = budgets[pd.to_datetime(budgets.month) == pd.Timestamp("2026-11-01")]
    now = datetime(2026, 11, 11, 12, 0)
    for tz, day_start in (("UTC", datetime(2026, 11, 11)), ("America/New_York", datetime(2026, 11, 11, 5))):
        row = q.spend_pacing(warehouse, Filters(), now, tz).iloc[0]
        elapsed = (now - day_start) / timedelta(days=1)
        rows = ref.spend(raw["ad_spend"], day_start, now)
        assert row.elapsed == pytest.approx(elapsed)
        assert row.spend == pytest.approx(float((rows.cost * rows.share).sum()))
        assert row.plan_to_date == pytest.approx(november.planned.sum() / 30 * elapsed)
    search = q.spend_pacing(warehouse, Filters(channel=("paid_search",)), now).iloc[0]
    assert search.month_planned == pytest.approx(november[november.channel == "paid_search"].planned.sum())


# ------------------------------------------------------------------------------------ state machine

def minutes(*offsets):
    return [T0 + timedelta(minutes=m) for m in offsets]


def test_one_bad_minute_does_not_fire_and_firing_resolves_when_clear():
    pending = 5
    breaches = [False, True, False, False] + [True] * 8 + [False, False]
    trace = replay(zip(minutes(*range(len(breaches))), breaches), pending)
    transitions = [(int((t - T0).total_seconds() // 60), tr) for t, _, tr in trace if tr]
    # minute 1: pending, cleared at 2 without firing; 4: pending again, fires after 5 minutes at 9;
    # still firing through 11, resolved at 12.
    assert transitions == [(1, "pending"), (2, "cleared"), (4, "pending"), (9, "firing"), (12, "resolved")]
    states = [s.state for _, s, _ in trace]
    assert states == ["normal", "pending", "normal", "normal", "pending", "pending", "pending", "pending",
                      "pending", "firing", "firing", "firing", "normal", "normal"]
    assert trace[9][1].since == T0 + timedelta(minutes=9)


def test_no_pending_period_fires_at_once_and_step_is_idempotent_while_firing():
    state, transition = step(AlertState(), True, T0, 0)
    assert (state.state, transition) == ("firing", "firing")
    again, transition = step(state, True, T0 + timedelta(minutes=1), timedelta(0))
    assert again == state and transition is None
    assert step(AlertState(), False, T0, 5) == (AlertState(), None)


# --------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize("change, field", [
    ({"window_minutes": 0}, "window_minutes"),
    ({"kind": "bogus"}, "kind"),
    ({"kpi": "happiness"}, "kpi"),
    ({"operator": "=="}, "operator"),
    ({"value": "lots"}, "value"),
    ({"name": ""}, "name"),
    ({"colour": "red"}, "colour"),
    ({"kind": "pacing", "kpi": "sessions"}, "kpi"),
    ({"kind": "baseline", "value": 0}, "value"),
    ({"filters": "from=now-1h"}, "filters"),
    ({"filters": "device=mobile", "kpi": "roas"}, "filters"),
    ({"kind": "pacing", "kpi": "spend", "filters": "region=DE"}, "filters"),
])
def test_bad_rules_name_the_field(change, field):
    data = {"name": "r", "kpi": "conversion_rate", "kind": "threshold", "value": 0.01} | change
    with pytest.raises(RuleError) as error:
        validate_rule(data)
    assert field in [p["field"] for p in error.value.problems], error.value.problems


# ------------------------------------------------------------------- the demo incident is caught

@pytest.fixture
def incident_warehouse(warehouse_path, tmp_path):
    """A copy of the session warehouse (the evaluator writes states, events and annotations)."""
    path = tmp_path / "pulse.duckdb"
    shutil.copy(warehouse_path, path)
    wh = Warehouse(f"duckdb:///{path}")
    writer = make_writer(wh)
    yield wh, writer
    writer.stop()
    wh.dispose()


def test_checkout_outage_fires_during_not_before_and_resolves_after(incident_warehouse, warehouse, raw):
    truth = json.loads(warehouse.read("SELECT body FROM ground_truth WHERE topic = 'incidents'").body[0])
    outage = next(i for i in truth if i["kind"] == "checkout_outage")
    start = datetime.fromisoformat(outage["start"].rstrip("Z"))
    end = datetime.fromisoformat(outage["end"].rstrip("Z"))
    wh, writer = incident_warehouse
    data = {"name": "Conversion rate collapse", "kpi": "conversion_rate", "kind": "threshold",
            "window_minutes": 60, "operator": "<", "value": 0.005, "pending_minutes": 30}
    rule_id = writer.call(lambda conn: q.insert_rule(conn, validate_rule(data).model_dump()))
    evaluator = AlertEvaluator(warehouse=wh, writer=writer, webhook_urls=[])

    transitions = []
    now = start - timedelta(hours=6)
    while now <= end + timedelta(hours=2):
        (result,) = evaluator.evaluate_once(now)
        if result.transition:
            transitions.append((now, result.transition, result.verdict))
        now += timedelta(minutes=10)
    fired = [(t, v) for t, tr, v in transitions if tr == "firing"]
    resolved = [(t, v) for t, tr, v in transitions if tr == "resolved"]
    assert len(fired) == 1 and len(resolved) == 1, transitions
    fired_at, verdict = fired[0]
    assert start + timedelta(minutes=30) <= fired_at < end         # pending 30 min, during the outage
    assert end < resolved[0][0] <= end + timedelta(hours=2)         # once purchases are back in the window
    # before it, quiet spells at this small scale may go pending but clear within the pending period
    assert {tr for t, tr, _ in transitions if t < start} <= {"pending", "cleared"}
    expected = ref.kpis(raw["events"], raw["ad_spend"], fired_at - timedelta(minutes=60), fired_at)
    assert verdict.observed == pytest.approx(expected["conversion_rate"]) and expected["conversion_rate"] < 0.005

    events = q.history(wh, rule_id=rule_id).sort_values("ts")
    assert events.status.tolist() == ["firing", "resolved"]
    assert events.ts.tolist() == [pd.Timestamp(fired_at), pd.Timestamp(resolved[0][0])]
    assert events.started_at.tolist() == [pd.Timestamp(fired_at)] * 2
    with wh.driver_connection() as conn:
        notes = conn.execute("SELECT ts, ts_end, text, source FROM annotations WHERE kind = 'alert'").fetchall()
    assert notes == [(fired_at, resolved[0][0], verdict.message, "alert")]
    assert q.states(wh).state.tolist() == ["normal"]


# ----------------------------------------------------------------------------------------- webhooks

class Receiver:
    """A local HTTP endpoint answering 500 to the first `failures` requests, then 200."""

    def __init__(self, failures: int):
        self.failures = failures
        self.requests: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner.lock:
                    status = 500 if len(owner.requests) < owner.failures else 200
                    owner.requests.append((status, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def empty_warehouse(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")
    writer = make_writer(wh)
    yield wh, writer
    writer.stop()
    wh.dispose()


def one_event(ts: datetime) -> pd.DataFrame:
    return pd.DataFrame([{"event_id": "e-1", "ts": ts, "type": "page_view", "user_id": "u-1", "session_id": "s-1",
                          "channel": "email", "campaign": "(none)", "device": "mobile", "region": "DE", "page": "/",
                          "revenue": None, "order_id": None, "experiment": None, "variant": None}])


def test_webhook_retries_with_backoff_until_accepted_and_logs_every_attempt(empty_warehouse):
    wh, writer = empty_warehouse
    receiver = Receiver(failures=2)
    refused = Receiver(failures=0)
    refused.close()  # nothing listens there any more: every attempt fails without an answer
    data = {"name": "No traffic", "kpi": "sessions", "kind": "threshold", "window_minutes": 60,
            "operator": "<", "value": 1, "pending_minutes": 0, "filters": "channel=email"}
    writer.call(lambda conn: q.insert_rule(conn, validate_rule(data).model_dump()))
    evaluator = AlertEvaluator(warehouse=wh, writer=writer, webhook_urls=[receiver.url, refused.url],
                               backoff=(0.05, 0.1, 0.2, 0.4), public_url="http://pulse.test")
    try:
        began = time.monotonic()
        (firing,) = evaluator.evaluate_once(T0)
        assert firing.transition == "firing" and time.monotonic() - began < 1.5  # sending does not block
        writer.write("events", one_event(T0 + timedelta(minutes=1)))
        (resolved,) = evaluator.evaluate_once(T0 + timedelta(minutes=2))
        assert resolved.transition == "resolved"
        assert evaluator.sender.wait_idle(20)
    finally:
        evaluator.sender.stop()
        receiver.close()

    statuses = [s for s, _ in receiver.requests]
    assert statuses == [500, 500, 200, 200]  # firing: 2 failures then accepted; resolved: accepted at once
    accepted = [body for status, body in receiver.requests if status == 200]
    by_status = {body["status"]: body for body in accepted}
    assert set(by_status) == {"firing", "resolved"}
    fired = by_status["firing"]
    assert fired["observed"] == 0 and fired["expected"] == 1
    assert fired["message"] == "Sessions 0 over the last 60 min is below 1"
    assert fired["started_at"] == "2026-11-11T12:00:00Z" and fired["ended_at"] is None
    assert fired["rule"]["name"] == "No traffic" and fired["rule"]["filters"] == "channel=email"
    assert fired["dashboard_url"].startswith("http://pulse.test/?from=2026-11-11T10:00:00Z&to=now")
    assert "channel=email" in fired["dashboard_url"]
    done = by_status["resolved"]
    assert done["observed"] == 1 and done["started_at"] == "2026-11-11T12:00:00Z"
    assert done["ended_at"] == "2026-11-11T12:02:00Z"
    assert done["message"] == "Sessions 1 over the last 60 min is not below 1"

    log = q.deliveries(wh)
    firing_id, resolved_id = fired["event_id"], done["event_id"]
    to_receiver = log[(log.url == receiver.url) & (log.event_id == firing_id)]
    assert to_receiver.attempt.tolist() == [1, 2, 3]
    assert to_receiver.status.tolist() == [500, 500, 200] and to_receiver.ok.tolist() == [False, False, True]
    assert to_receiver.error.iloc[0].startswith("HTTP 500") and to_receiver.error.isna().iloc[2]
    gaps = to_receiver.ts.diff().dt.total_seconds().iloc[1:].tolist()
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # backoff doubles
    gave_up = log[(log.url == refused.url) & (log.event_id == firing_id)]
    assert gave_up.attempt.tolist() == [1, 2, 3, 4, 5] and not gave_up.ok.any() and gave_up.status.isna().all()
    assert log[(log.url == receiver.url) & (log.event_id == resolved_id)].ok.tolist() == [True]


# ---------------------------------------------------------------------------------------------- API

@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_ALERT_WEBHOOKS", "http://hooks.example/a, http://hooks.example/b")
    wh = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")
    app = create_app(wh, data_dir=tmp_path)
    yield app, app.server.test_client(), wh
    app.server.extensions["pulse.writer"].stop()
    wh.dispose()


def test_rules_crud_round_trip(client):
    app, http, wh = client
    assert http.get("/api/v1/alerts/rules").get_json() == {"rules": []}
    body = {"name": "Email conversion", "kpi": "conversion_rate", "kind": "threshold", "filters": "channel=email",
            "window_minutes": 60, "operator": "<", "value": 0.015, "pending_minutes": 10}
    created = http.post("/api/v1/alerts/rules", json=body)
    assert created.status_code == 201, created.get_json()
    rule_json = created.get_json()
    rule_id = rule_json["id"]
    assert {k: rule_json[k] for k in body} == body and rule_json["enabled"] is True and rule_json["weeks"] == 4
    assert created.headers["Location"].endswith(f"/alerts/rules/{rule_id}")
    assert http.get(f"/api/v1/alerts/rules/{rule_id}").get_json() == rule_json
    assert [r["id"] for r in http.get("/api/v1/alerts/rules").get_json()["rules"]] == [rule_id]

    changed = http.put(f"/api/v1/alerts/rules/{rule_id}", json={"value": 0.01, "enabled": False})
    assert changed.status_code == 200
    assert changed.get_json()["value"] == 0.01 and changed.get_json()["enabled"] is False
    assert changed.get_json()["name"] == "Email conversion"
    assert q.rule(wh, rule_id).value.iloc[0] == 0.01

    bad = http.put(f"/api/v1/alerts/rules/{rule_id}", json={"window_minutes": -5})
    assert bad.status_code == 422 and bad.get_json()["field"] == "window_minutes"
    assert q.rule(wh, rule_id).window_minutes.iloc[0] == 60  # unchanged
    bad = http.post("/api/v1/alerts/rules", json=body | {"kpi": "happiness", "operator": "=="})
    assert bad.status_code == 422 and {p["field"] for p in bad.get_json()["problems"]} == {"kpi", "operator"}
    bad = http.post("/api/v1/alerts/rules", json=body | {"kpi": "happiness"})
    assert bad.status_code == 422 and bad.get_json()["problems"][0]["field"] == "kpi"
    assert bad.get_json()["problems"][0]["value"] == "happiness"
    bad = http.post("/api/v1/alerts/rules", json=body | {"filters": "channel=email&to=now"})
    assert bad.status_code == 422 and bad.get_json()["field"] == "filters"
    assert http.post("/api/v1/alerts/rules", data="not json", content_type="application/json").status_code == 422
    assert q.rule_count(wh) == 1

    for method in (http.get, http.put, http.delete):
        missing = method("/api/v1/alerts/rules/999", json={"value": 1})
        assert missing.status_code == 404 and missing.get_json()["field"] == "id"
    assert http.delete(f"/api/v1/alerts/rules/{rule_id}").status_code == 200
    assert http.get(f"/api/v1/alerts/rules/{rule_id}").status_code == 404
    assert http.get("/api/v1/alerts/rules").get_json() == {"rules": []}


def test_active_history_and_webhooks_endpoints(client, monkeypatch):
    app, http, wh = client
    hooks = http.get("/api/v1/alerts/webhooks").get_json()["webhooks"]
    assert [(h["url"], h["source"]) for h in hooks] == [("http://hooks.example/a", "env"),
                                                        ("http://hooks.example/b", "env")]
    assert http.post("/api/v1/alerts/webhooks", json={"url": "ftp://x"}).get_json()["field"] == "url"
    added = http.post("/api/v1/alerts/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert added.status_code == 201 and added.get_json()["enabled"] is True
    assert [h["url"] for h in http.get("/api/v1/alerts/webhooks").get_json()["webhooks"]][0] == "http://127.0.0.1:9/hook"
    assert http.delete(f"/api/v1/alerts/webhooks/{added.get_json()['id']}").status_code == 200
    assert http.delete("/api/v1/alerts/webhooks/12345").status_code == 404

    writer = app.server.extensions["pulse.writer"]
    assert len(writer.call(seed_demo_rules)) == 3 and writer.call(seed_demo_rules) == []
    for rule_json in http.get("/api/v1/alerts/rules").get_json()["rules"]:
        http.delete(f"/api/v1/alerts/rules/{rule_json['id']}")
    assert writer.call(seed_demo_rules) == []  # deleted demo rules stay deleted
    body = {"name": "No traffic", "kpi": "sessions", "kind": "threshold", "operator": "<", "value": 1,
            "pending_minutes": 0}
    rule_id = http.post("/api/v1/alerts/rules", json=body).get_json()["id"]
    monkeypatch.delenv("PULSE_ALERT_WEBHOOKS")  # nothing to send to in this test
    evaluator = AlertEvaluator(app)
    evaluator.evaluate_once(T0)
    active = http.get("/api/v1/alerts/active").get_json()
    assert [a["rule_id"] for a in active["firing"]] == [rule_id]
    assert active["firing"][0]["since"] == "2026-11-11T12:00:00Z"
    assert active["firing"][0]["message"] == "Sessions 0 over the last 60 min is below 1"
    history = http.get("/api/v1/alerts/history?limit=5").get_json()["events"]
    assert [(e["rule_id"], e["status"]) for e in history] == [(rule_id, "firing")]
    assert history[0]["rule"]["name"] == "No traffic"
    assert http.get("/api/v1/alerts/history?limit=abc").status_code == 400

    # disabling a firing rule resolves it at the next evaluation
    http.put(f"/api/v1/alerts/rules/{rule_id}", json={"enabled": False})
    evaluator.evaluate_once(T0 + timedelta(minutes=1))
    assert http.get("/api/v1/alerts/active").get_json()["firing"] == []
    history = http.get("/api/v1/alerts/history").get_json()["events"]
    assert [e["status"] for e in history] == ["resolved", "firing"] and "disabled" in history[0]["message"]


def test_start_alerting_evaluates_on_a_schedule_in_the_background(client, monkeypatch):
    from api.alerting import start_alerting

    app, http, wh = client
    monkeypatch.delenv("PULSE_ALERT_WEBHOOKS")
    http.post("/api/v1/alerts/rules", json={"name": "No traffic", "kpi": "sessions", "operator": "<", "value": 1,
                                            "pending_minutes": 0})
    ticks = iter(T0 + timedelta(minutes=m) for m in range(10_000))
    evaluator = start_alerting(app, interval_seconds=0.05, clock=lambda: next(ticks))
    try:
        assert app.server.extensions["pulse.alerts"] is evaluator and start_alerting(app) is evaluator
        deadline = time.monotonic() + 10
        while (evaluator.last_run is None or evaluator.last_run < T0 + timedelta(minutes=2)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert evaluator.last_run >= T0 + timedelta(minutes=2)  # several evaluations, nobody watching
    finally:
        evaluator.stop()
    firing = http.get("/api/v1/alerts/active").get_json()["firing"]
    assert [a["since"] for a in firing] == ["2026-11-11T12:00:00Z"]  # fired once, at the first tick
    assert [e["status"] for e in http.get("/api/v1/alerts/history").get_json()["events"]] == ["firing"]
