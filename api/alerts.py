"""Alerting API: rules (CRUD), active alerts, history, webhooks. JSON in and out under /api/v1/alerts.

    GET    /alerts/rules                 every rule
    POST   /alerts/rules                 create (201 with the rule; 422 with {field, value, problem} per problem)
    GET    /alerts/rules/<id>            one rule (404 when unknown)
    PUT    /alerts/rules/<id>            update: the fields sent replace the stored ones (PATCH the same)
    DELETE /alerts/rules/<id>            delete (a firing alert of it resolves at the next evaluation)
    GET    /alerts/active                firing and pending alerts (the banner shows `firing`)
    GET    /alerts/history?limit=100     firing / resolved events, newest first (&rule_id= for one rule)
    GET    /alerts/webhooks              webhook URLs (the table's and $PULSE_ALERT_WEBHOOKS')
    POST   /alerts/webhooks              add {"url": ..., "enabled": true}
    DELETE /alerts/webhooks/<id>         remove one
    GET    /alerts/deliveries?event_id=  webhook delivery attempts

Writes go through the process's writer. Besides the guard of every route (api/auth.py), every handler
passes through `_require(action)`: reading needs a viewer, changing an admin; changes are audited.
"""
from __future__ import annotations

import json

from flask import current_app, jsonify, request

from analytics.alerting import RuleError
from data import access
from api import blueprint, jsonable
from api.alerting import configured_webhook_urls
from queries.alert_rules import validate_rule, webhook_url_problem
from data.warehouse import current
from queries import alerts as q

MAX_HISTORY = 1000


def _require(action: str) -> None:
    """`read` (viewer) or `write` (admin) on alerts; raises data.access.Forbidden (a 403) otherwise."""
    access.require("admin" if action == "write" else "viewer", f"{'changing' if action == 'write' else 'reading'} alerts")


def _writer():
    return current_app.extensions["pulse.writer"]


def _problems(status: int, problems: list[dict]):
    first = problems[0] if problems else {}
    response = jsonify({"status": "error", "error": "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
                        "field": first.get("field"), "problems": problems})
    response.status_code = status
    return response


def _not_found(what: str, ident):
    return _problems(404, [{"field": "id", "value": ident, "problem": f"no {what} with this id"}])


def _body() -> tuple[dict | None, object]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return None, _problems(422 if request.data else 400,
                               [{"field": "(body)", "value": None, "problem": "expected a JSON object"}])
    return data, None


# --------------------------------------------------------------------------------------------- rules

@blueprint.get("/alerts/rules")
def list_rules():
    _require("read")
    return jsonify({"rules": [_rule_json(r) for r in q.rules(current()).to_dict("records")]})


@blueprint.get("/alerts/rules/<int:rule_id>")
def get_rule(rule_id: int):
    _require("read")
    found = q.rule(current(), rule_id)
    if found.empty:
        return _not_found("rule", rule_id)
    return jsonify(_rule_json(found.iloc[0].to_dict()))


@blueprint.post("/alerts/rules")
def create_rule():
    _require("write")
    data, error = _body()
    if error is not None:
        return error
    data.pop("id", None)
    try:
        rule = validate_rule(data)
    except RuleError as problem:
        return _problems(422, problem.problems)
    rule_id = _writer().call(lambda conn: q.insert_rule(conn, rule.model_dump()))
    access.audit("rule.create", rule_id, {"name": rule.name})
    response = jsonify(_rule_json(q.rule(current(), rule_id).iloc[0].to_dict()))
    response.status_code = 201
    response.headers["Location"] = f"{blueprint.url_prefix}/alerts/rules/{rule_id}"
    return response


@blueprint.route("/alerts/rules/<int:rule_id>", methods=["PUT", "PATCH"])
def update_rule(rule_id: int):
    _require("write")
    data, error = _body()
    if error is not None:
        return error
    found = q.rule(current(), rule_id)
    if found.empty:
        return _not_found("rule", rule_id)
    if "id" in data and data["id"] != rule_id:
        return _problems(422, [{"field": "id", "value": data["id"], "problem": f"does not match the URL's id {rule_id}"}])
    stored = _rule_json(found.iloc[0].to_dict())
    merged = {k: stored[k] for k in q.RULE_FIELDS} | {k: v for k, v in data.items() if k != "id"}
    try:
        rule = validate_rule(merged)
    except RuleError as problem:
        return _problems(422, problem.problems)
    if not _writer().call(lambda conn: q.update_rule(conn, rule_id, rule.model_dump())):
        return _not_found("rule", rule_id)
    access.audit("rule.update", rule_id, {"name": rule.name})
    return jsonify(_rule_json(q.rule(current(), rule_id).iloc[0].to_dict()))


@blueprint.delete("/alerts/rules/<int:rule_id>")
def delete_rule(rule_id: int):
    return _deleted("rule", rule_id, q.delete_rule)


def _deleted(kind: str, item_id: int, delete):
    """Delete one item through the writer: 404 naming it if there was none."""
    _require("write")
    if not _writer().call(lambda conn: delete(conn, item_id)):
        return _not_found(kind, item_id)
    access.audit(f"{kind}.delete", item_id)
    return jsonify({"status": "deleted", "id": item_id})


# ----------------------------------------------------------------------------------- active, history

@blueprint.get("/alerts/active")
def active_alerts():
    _require("read")
    rows = [jsonable.row(r) for r in q.active(current()).to_dict("records")]
    return jsonify({"firing": [r for r in rows if r["state"] == "firing"],
                    "pending": [r for r in rows if r["state"] == "pending"]})


@blueprint.get("/alerts/history")
def alert_history():
    _require("read")
    limit = _int_arg("limit", 100, 1, MAX_HISTORY)
    if not isinstance(limit, int):
        return limit
    rule_id = _int_arg("rule_id", None, 1, 2**62)
    if rule_id is not None and not isinstance(rule_id, int):
        return rule_id
    events = []
    for row in q.history(current(), limit=limit, rule_id=rule_id).to_dict("records"):
        row = jsonable.row(row)
        row["rule"] = json.loads(row["rule"]) if row.get("rule") else None
        events.append(row)
    return jsonify({"events": events, "limit": limit})


def _int_arg(name: str, default, low: int, high: int):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return _problems(400, [{"field": name, "value": raw, "problem": "must be an integer"}])
    if not low <= value <= high:
        return _problems(400, [{"field": name, "value": raw, "problem": f"must be between {low} and {high}"}])
    return value


# ------------------------------------------------------------------------------------------ webhooks

@blueprint.get("/alerts/webhooks")
def list_webhooks():
    _require("read")
    stored = [dict(jsonable.row(r), source="table") for r in q.webhooks(current()).to_dict("records")]
    from_env = [{"id": None, "url": url, "enabled": True, "created": None, "source": "env"}
                for url in configured_webhook_urls()]
    return jsonify({"webhooks": stored + from_env})


@blueprint.post("/alerts/webhooks")
def add_webhook():
    _require("write")
    data, error = _body()
    if error is not None:
        return error
    problems = []
    url = data.get("url")
    problem = webhook_url_problem(url)
    if problem:
        problems.append({"field": "url", "value": url, "problem": problem})
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append({"field": "enabled", "value": enabled, "problem": "must be true or false"})
    unknown = sorted(set(data) - {"url", "enabled"})
    problems += [{"field": k, "value": data[k], "problem": "unknown field"} for k in unknown]
    if problems:
        return _problems(422, problems)
    webhook_id = _writer().call(lambda conn: q.insert_webhook(conn, url.strip(), enabled))
    access.audit("webhook.create", webhook_id, {"url": url.strip()[:200]})
    row = q.webhooks(current()).set_index("id").loc[webhook_id]
    response = jsonify(jsonable.row({"id": webhook_id, "url": row.url, "enabled": row.enabled, "created": row.created,
                               "source": "table"}))
    response.status_code = 201
    return response


@blueprint.delete("/alerts/webhooks/<int:webhook_id>")
def delete_webhook(webhook_id: int):
    return _deleted("webhook", webhook_id, q.delete_webhook)


@blueprint.get("/alerts/deliveries")
def list_deliveries():
    _require("read")
    event_id = _int_arg("event_id", None, 1, 2**62)
    if event_id is not None and not isinstance(event_id, int):
        return event_id
    return jsonify({"deliveries": [jsonable.row(r) for r in q.deliveries(current(), event_id=event_id).to_dict("records")]})


# ------------------------------------------------------------------------------------------- helpers

def _rule_json(row: dict) -> dict:
    return jsonable.row({k: row[k] for k in q.RULE_COLUMNS})


