"""The business's monthly targets, shown against the actuals on the wall (docs/metrics.md, "Wall").

    GET /targets?month=YYYY-MM   the month's targets (default: this month)
    PUT /targets                 set one {month: "YYYY-MM", kpi, target}; kpi is revenue or orders (the
                                 month's total), conversion_rate (a fraction) or roas

A bad value is a 400 naming the field and the value.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, jsonify, request

from api import blueprint, jsonable
from data import access
from data.warehouse import current
from queries import plan as q


@blueprint.get("/targets")
def targets():
    month = request.args.get("month") or datetime.now(timezone.utc).strftime("%Y-%m")
    first = q.parse_month(month)
    return jsonify({"month": first.strftime("%Y-%m"), "targets": q.targets_of(current(), first)})


@blueprint.put("/targets")
def set_target():
    access.require("admin", "setting targets")
    body = jsonable.body_with("month", "kpi", "target")
    month, kpi, value = q.check_target(body["month"], body["kpi"], body["target"])
    current_app.extensions["pulse.writer"].call(lambda conn: q.write_target(conn, month, kpi, value))
    access.audit("target.set", kpi, {"month": month.strftime("%Y-%m"), "target": value})
    return jsonify({"status": "ok", "month": month.strftime("%Y-%m"), "kpi": kpi, "target": value})
