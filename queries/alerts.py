"""SQL of alerting: rule storage, evaluation state, history, webhooks, and the values a rule needs.

Reads take the `Warehouse` and return DataFrames (or plain numbers). Writes take a **driver connection**
and are meant to run inside the process's one writer: `writer.call(lambda conn: insert_rule(conn, rule))`.
Rules travel here as plain dicts (`Rule.model_dump()`): this layer does not know the rule model.

The values of a rule come from `queries.kpis.kpis`, the one definition of every KPI:

- `kpi_value`: the KPI over [now − window, now);
- `previous_weeks`: the same window shifted back 1..N whole weeks (the same time of week), leaving out
  weeks that start before the warehouse's first session (no data is not a zero);
- `spend_pacing`: spend since the start of the day in the app's time zone, against the day's plan:
  plan to date = Σ over channels in scope of `budgets.planned` for the month / days in the month ×
  elapsed fraction of the day. The plan is weighted **flat** over the day (each minute the same share),
  so in the hours when a shop's traffic and bidding peak, spend runs ahead of this plan and behind it at
  night; a pending period and a tolerance absorb that. A day of 23 or 25 hours (DST) counts its own length.
"""
from __future__ import annotations

import calendar
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.kpis import kpis

RULE_FIELDS = ("name", "kpi", "kind", "filters", "window_minutes", "operator", "value", "weeks", "method",
               "direction", "tolerance", "pending_minutes", "enabled")
RULE_COLUMNS = ("id", *RULE_FIELDS, "created", "updated")
STATE_COLUMNS = ("rule_id", "rule_name", "state", "since", "last_evaluated", "observed", "expected", "message",
                 "event_id", "annotation_id")
EVENT_COLUMNS = ("id", "rule_id", "rule_name", "kpi", "status", "ts", "started_at", "ended_at", "observed",
                 "expected", "message", "rule")

_RULES_SQL = "SELECT " + ", ".join(RULE_COLUMNS) + " FROM alert_rules"


# -------------------------------------------------------------------------------------- rules: read

def rules(wh: Warehouse, enabled_only: bool = False) -> pd.DataFrame:
    sql = _RULES_SQL + (" WHERE enabled" if enabled_only else "") + " ORDER BY id"
    return wh.read(sql)


def rule(wh: Warehouse, rule_id: int) -> pd.DataFrame:
    """The rule with that id: one row, or none."""
    return wh.read(_RULES_SQL + " WHERE id = :id", {"id": int(rule_id)})


def rule_count(wh: Warehouse) -> int:
    return int(wh.scalar("SELECT count(*) FROM alert_rules"))


# ------------------------------------------------------------------------------------- rules: write

def insert_rule(conn, rule: dict, now: datetime | None = None) -> int:
    """Store a new rule (its `id`, if any, is ignored); returns the id assigned."""
    now = now or _utcnow()
    values = [_rule_value(rule, f) for f in RULE_FIELDS]
    row = conn.execute(
        "INSERT INTO alert_rules (" + ", ".join(RULE_FIELDS) + ", created, updated) VALUES ("
        + ", ".join("?" for _ in RULE_FIELDS) + ", ?, ?) RETURNING id", values + [now, now]).fetchone()
    return int(row[0])


def update_rule(conn, rule_id: int, rule: dict, now: datetime | None = None) -> bool:
    """Replace a rule's fields; False when there is no such rule. The rule keeps its evaluation state (a
    firing alert stays firing until the edited condition clears), and its stored name follows."""
    now = now or _utcnow()
    found = conn.execute("SELECT count(*) FROM alert_rules WHERE id = ?", [int(rule_id)]).fetchone()[0]
    if not found:
        return False
    assignments = ", ".join(f"{f} = ?" for f in RULE_FIELDS)
    conn.execute("UPDATE alert_rules SET " + assignments + ", updated = ? WHERE id = ?",
                 [_rule_value(rule, f) for f in RULE_FIELDS] + [now, int(rule_id)])
    conn.execute("UPDATE alert_states SET rule_name = ? WHERE rule_id = ?", [rule["name"], int(rule_id)])
    return True


def delete_rule(conn, rule_id: int) -> bool:
    """Delete a rule; False when there is no such rule. Its state row stays until the evaluator has
    resolved a firing alert of it (history and webhooks then say the rule is gone)."""
    found = conn.execute("SELECT count(*) FROM alert_rules WHERE id = ?", [int(rule_id)]).fetchone()[0]
    if found:
        conn.execute("DELETE FROM alert_rules WHERE id = ?", [int(rule_id)])
    return bool(found)


def has_rules(conn) -> bool:
    return bool(conn.execute("SELECT count(*) FROM alert_rules").fetchone()[0])


def rules_were_created(conn) -> bool:
    """Has this warehouse ever stored a rule (even if all were deleted since)? From the id sequence on
    DuckDB; elsewhere, whether any alert event was ever recorded."""
    try:
        row = conn.execute("SELECT last_value FROM duckdb_sequences() WHERE sequence_name = 'alert_rules_id_seq'"
                           ).fetchone()
        return row is not None and row[0] is not None
    except Exception:  # noqa: BLE001 - not DuckDB
        return bool(conn.execute("SELECT count(*) FROM alert_events").fetchone()[0])


def _rule_value(rule: dict, field: str):
    value = rule[field]
    return "" if field == "filters" and value is None else value


# --------------------------------------------------------------------------------- state and history

def states(wh: Warehouse) -> pd.DataFrame:
    return wh.read("SELECT " + ", ".join(STATE_COLUMNS) + " FROM alert_states ORDER BY rule_id")


def active(wh: Warehouse, include_pending: bool = True) -> pd.DataFrame:
    """Alerts firing (and, optionally, pending) now, of rules that still exist and are enabled, with the
    rule's kpi, kind and filters; firing first, then by how long they have been in that state."""
    wanted = ["firing", "pending"] if include_pending else ["firing"]
    return wh.read("""
        SELECT s.rule_id, s.rule_name, r.kpi, r.kind, r.filters, s.state, s.since, s.last_evaluated,
               s.observed, s.expected, s.message, s.event_id
        FROM alert_states s JOIN alert_rules r ON r.id = s.rule_id
        WHERE r.enabled AND s.state IN :states
        ORDER BY CASE s.state WHEN 'firing' THEN 0 ELSE 1 END, s.since, s.rule_id""", {"states": wanted})


# The alerts page lists the newest events of the history, as many as this (its export has the same rows).
HISTORY_SHOWN = 50


def rule_table(wh: Warehouse) -> pd.DataFrame:
    """The rules as the alerts page lists them: each with its condition in words and its state now."""
    table = rules(wh)
    state_of = states(wh).set_index("rule_id")["state"].to_dict()
    if len(table):
        table["condition"] = [condition(r) for r in table.to_dict("records")]
        table["state"] = [state_of.get(i, "normal") for i in table["id"]]
    return table


def condition(rule: dict) -> str:
    """A rule's condition in words."""
    if rule["kind"] == "threshold":
        return f"{rule['operator']} {rule['value']:g} over {rule['window_minutes']} min"
    if rule["kind"] == "baseline":
        return f"{rule['value']:g} {rule['method']} {rule['direction']} the last {rule['weeks']} weeks"
    return f"spend > plan by {rule['tolerance']:.0%}"


def history(wh: Warehouse, limit: int = 100, rule_id: int | None = None) -> pd.DataFrame:
    """Firing and resolved events, newest first."""
    where, params = ("WHERE rule_id = :rule_id", {"rule_id": int(rule_id)}) if rule_id is not None else ("", {})
    params["limit"] = int(limit)
    return wh.read("SELECT " + ", ".join(EVENT_COLUMNS) + " FROM alert_events " + where
                   + " ORDER BY ts DESC, id DESC LIMIT :limit", params)


def save_states(conn, rows: list[dict]) -> None:
    """Insert or replace the evaluation state of each rule (keys: STATE_COLUMNS)."""
    if not rows:
        return
    columns = ", ".join(STATE_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in STATE_COLUMNS if c != "rule_id")
    conn.executemany(
        "INSERT INTO alert_states (" + columns + ") VALUES (" + ", ".join("?" for _ in STATE_COLUMNS) + ") "
        "ON CONFLICT (rule_id) DO UPDATE SET " + updates,
        [[row.get(c) for c in STATE_COLUMNS] for row in rows])


def delete_states(conn, rule_ids: list[int]) -> None:
    for rule_id in rule_ids:
        conn.execute("DELETE FROM alert_states WHERE rule_id = ?", [int(rule_id)])


def insert_event(conn, event: dict) -> int:
    """Record a firing or resolved event (keys: EVENT_COLUMNS but `id`; `rule` a dict, stored as JSON)."""
    columns = [c for c in EVENT_COLUMNS if c != "id"]
    values = [json.dumps(event["rule"], sort_keys=True, default=str) if c == "rule" else event.get(c)
              for c in columns]
    row = conn.execute("INSERT INTO alert_events (" + ", ".join(columns) + ") VALUES ("
                       + ", ".join("?" for _ in columns) + ") RETURNING id", values).fetchone()
    return int(row[0])


def insert_alert_annotation(conn, ts: datetime, text: str, channel: str | None = None,
                            region: str | None = None) -> int:
    """An `annotations` row of kind `alert`, source `alert`, open-ended until the alert resolves."""
    row = conn.execute(
        "INSERT INTO annotations (ts, ts_end, kind, text, region, channel, source) "
        "VALUES (?, NULL, 'alert', ?, ?, ?, 'alert') RETURNING id", [ts, text, region, channel]).fetchone()
    return int(row[0])


def end_alert_annotation(conn, annotation_id: int, ts_end: datetime) -> None:
    conn.execute("UPDATE annotations SET ts_end = ? WHERE id = ? AND kind = 'alert'", [ts_end, int(annotation_id)])


# ------------------------------------------------------------------------------------------ webhooks

def webhooks(wh: Warehouse, enabled_only: bool = False) -> pd.DataFrame:
    return wh.read("SELECT id, url, enabled, created FROM webhooks" + (" WHERE enabled" if enabled_only else "")
                   + " ORDER BY id")


def insert_webhook(conn, url: str, enabled: bool = True, now: datetime | None = None) -> int:
    row = conn.execute("INSERT INTO webhooks (url, enabled, created) VALUES (?, ?, ?) RETURNING id",
                       [url, bool(enabled), now or _utcnow()]).fetchone()
    return int(row[0])


def delete_webhook(conn, webhook_id: int) -> bool:
    found = conn.execute("SELECT count(*) FROM webhooks WHERE id = ?", [int(webhook_id)]).fetchone()[0]
    if found:
        conn.execute("DELETE FROM webhooks WHERE id = ?", [int(webhook_id)])
    return bool(found)


def insert_delivery(conn, event_id: int, url: str, attempt: int, status: int | None, ok: bool,
                    error: str | None, ts: datetime | None = None) -> int:
    row = conn.execute(
        "INSERT INTO webhook_deliveries (event_id, url, attempt, status, ok, ts, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [int(event_id), url, int(attempt), status, bool(ok), ts or _utcnow(), error]).fetchone()
    return int(row[0])


def deliveries(wh: Warehouse, event_id: int | None = None, limit: int = 500) -> pd.DataFrame:
    where, params = ("WHERE event_id = :event_id", {"event_id": int(event_id)}) if event_id is not None else ("", {})
    params["limit"] = int(limit)
    return wh.read("SELECT id, event_id, url, attempt, status, ok, ts, error FROM webhook_deliveries " + where
                   + " ORDER BY id LIMIT :limit", params)


# ------------------------------------------------------------------------------ what a rule needs

def kpi_value(wh: Warehouse, filters: Filters, kpi: str, start: datetime, end: datetime) -> float:
    """One KPI over [start, end), from `queries.kpis.kpis` (NaN when undefined)."""
    row = kpis(wh, filters, start, end)
    if kpi not in row.columns:
        raise KeyError(f"unknown KPI {kpi!r}")
    return float(row[kpi].iloc[0])


def first_data(wh: Warehouse) -> datetime | None:
    """When the warehouse's data starts: the first session's start."""
    return wh.scalar("SELECT min(first_ts) FROM sessions")


def previous_weeks(wh: Warehouse, filters: Filters, kpi: str, start: datetime, end: datetime, weeks: int,
                   since: datetime | None = None) -> pd.DataFrame:
    """The KPI over [start, end) shifted back k = 1..weeks whole weeks: columns `weeks_back`, `start`,
    `end`, `value`. Weeks starting before `since` (default: the first session) are left out."""
    since = first_data(wh) if since is None else since
    rows = []
    for k in range(1, int(weeks) + 1):
        shift = timedelta(weeks=k)
        if since is None or start - shift < since:
            continue
        rows.append({"weeks_back": k, "start": start - shift, "end": end - shift,
                     "value": kpi_value(wh, filters, kpi, start - shift, end - shift)})
    return pd.DataFrame(rows, columns=["weeks_back", "start", "end", "value"])


def day_bounds(now: datetime, tz: str = "UTC") -> tuple[datetime, datetime, date]:
    """[start, end) of the day containing `now` (naive UTC) in time zone `tz`, as naive UTC, and the date."""
    zone = ZoneInfo(tz)
    local = now.replace(tzinfo=timezone.utc).astimezone(zone) if now.tzinfo is None else now.astimezone(zone)
    day = local.date()
    start = datetime.combine(day, datetime.min.time(), zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
    return _naive_utc(start), _naive_utc(end), day


def monthly_budget(wh: Warehouse, filters: Filters, month: date) -> float:
    """Σ `budgets.planned` of the month over the channels in scope (all channels with a budget when the
    filters name none); NaN when there is no budget row."""
    params: dict = {"month": month.replace(day=1)}
    where = "month = :month"
    if filters.channel:
        where += " AND channel IN :channels"
        params["channels"] = list(filters.channel)
    row = wh.read("SELECT count(*) AS n, sum(planned) AS planned FROM budgets WHERE " + where, params).iloc[0]
    return float(row.planned) if int(row.n) else float("nan")


def spend_pacing(wh: Warehouse, filters: Filters, now: datetime, tz: str = "UTC") -> pd.DataFrame:
    """One row: `day_start`, `day_end` (naive UTC), `elapsed` (fraction of the day), `spend` since the day
    started (from `kpis`), `month_planned`, `days_in_month`, `day_planned` and `plan_to_date` (flat)."""
    day_start, day_end, day = day_bounds(now, tz)
    elapsed = (now - day_start) / (day_end - day_start)
    spend = kpi_value(wh, filters, "spend", day_start, now) if now > day_start else 0.0
    month_planned = monthly_budget(wh, filters, day)
    days = calendar.monthrange(day.year, day.month)[1]
    day_planned = month_planned / days
    return pd.DataFrame([{"day_start": day_start, "day_end": day_end, "elapsed": elapsed, "spend": spend,
                          "month_planned": month_planned, "days_in_month": days, "day_planned": day_planned,
                          "plan_to_date": day_planned * elapsed}])


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
